"""Reading data channels: local paths or fsspec URIs (`file://`, `s3://`), gzip'd or not.

A *channel* is what SageMaker calls an input channel: a directory (JumpStart layout) or, here,
also a single file. Readers yield `(line, record)` pairs so every error can name its line.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from springboard import storage
from springboard.errors import DataError

log = logging.getLogger("springboard.data")

TABLE_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")
TEXT_SUFFIXES = (".csv", ".json", ".jsonl", ".txt")


def suffix(path: str) -> str:
    """The format suffix, looking through a trailing `.gz`: `a.jsonl.gz` -> `.jsonl`."""
    name = path.rstrip("/").rsplit("/", 1)[-1].lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return "." + name.rsplit(".", 1)[-1] if "." in name else ""


def read_bytes(path: str | Path) -> bytes:
    """The raw (still compressed) bytes of a file, for fingerprints."""
    fs, p = storage.filesystem(path)
    with fs.open(p, "rb") as f:
        return f.read()


def read_text(path: str | Path) -> str:
    data = read_bytes(path)
    if str(path).lower().endswith(".gz"):
        data = gzip.decompress(data)
    try:
        return data.decode("utf-8-sig")  # -sig: files saved by Excel start with a BOM
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise DataError(
            f"not UTF-8 text ({e.reason}: byte 0x{data[e.start]:02x} at column {column}, file byte {e.start})",
            file=path, line=line,
        ) from None


def text_lines(text: str) -> list[str]:
    """The lines of a text file. Only \\n (and \\r\\n) end a line: str.splitlines also breaks
    on U+2028, U+0085 and other characters that are valid inside a JSON string."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def resolve_channel(path: str | Path, suffixes: tuple[str, ...], what: str) -> str:
    """The one data file of a channel: `path` itself if it is a file, else the single file in the
    directory whose suffix is one of `suffixes`. `template.json` and hidden files (`.DS_Store`,
    `.ipynb_checkpoints`) never count; anything else that does not fit is an error listing it."""
    fs, p = storage.filesystem(path)
    if not fs.exists(p):
        raise DataError(f"{what} channel does not exist", file=path)
    if not fs.isdir(p):
        if suffix(p) not in suffixes:
            raise DataError(f"{what} file must be one of {', '.join(suffixes)} (optionally .gz)", file=path)
        return storage.display(fs, p)
    entries = sorted(
        e["name"].rstrip("/")
        for e in fs.ls(p, detail=True)
        if not e["name"].rstrip("/").rsplit("/", 1)[-1].startswith(".")
    )
    names = [e.rsplit("/", 1)[-1] for e in entries]
    candidates = [e for e, n in zip(entries, names) if n != "template.json"]
    matching = [e for e in candidates if suffix(e) in suffixes and fs.isfile(e)]
    others = [e for e in candidates if e not in matching]
    found = ", ".join(names) if names else "nothing"
    if len(matching) != 1 or others:
        need = f"exactly one {' / '.join(suffixes)} file"
        raise DataError(f"{what} channel must hold {need} (template.json aside); found: {found}", file=path)
    return storage.display(fs, matching[0])


def template_beside(data_file: str) -> str | None:
    """`template.json` in the same directory as a data file (the JumpStart channel layout)."""
    fs, p = storage.filesystem(data_file)
    candidate = p.rsplit("/", 1)[0] + "/template.json" if "/" in p else "template.json"
    return storage.display(fs, candidate) if fs.exists(candidate) else None


def iter_jsonl(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """JSON lines; blank lines are skipped but still counted so line numbers match an editor's."""
    for number, raw in enumerate(text_lines(read_text(path)), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as e:
            raise DataError(f"bad JSON: {e.msg} (column {e.colno})", file=path, line=number) from None
        if not isinstance(obj, dict):
            raise DataError(f"expected a JSON object, got {type(obj).__name__}", file=path, line=number)
        yield number, obj


def iter_json(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """A `.json` file: a JSON array of objects, one object, or JSON lines (as many tools write
    `.json`). For an array the 'line' is the 1-based element number."""
    text = read_text(path)
    stripped = text.lstrip()
    if not stripped.startswith("["):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError:
            yield from iter_jsonl(path)  # several objects: JSON lines under a .json name
            return
        if not isinstance(obj, dict):
            raise DataError("expected a JSON array of objects, an object or JSON lines", file=path)
        yield 1, obj
        return
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"bad JSON: {e.msg} (column {e.colno})", file=path, line=e.lineno) from None
    for number, obj in enumerate(rows, start=1):
        if not isinstance(obj, dict):
            raise DataError(f"array element {number}: expected an object, got {type(obj).__name__}", file=path)
        yield number, obj


def iter_csv(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """CSV rows as dicts of strings (no type guessing: '007' stays '007'); the line is the
    file line where the row starts, header being line 1."""
    reader = csv.DictReader(io.StringIO(read_text(path), newline=""))
    if not reader.fieldnames:
        return
    start = 2
    for row in reader:
        extra = row.pop(None, None)  # type: ignore[call-overload]
        if extra:
            raise DataError(f"{len(extra)} more values than header columns", file=path, line=start)
        yield start, row
        start = reader.line_num + 1


def iter_parquet(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    import pyarrow.parquet as pq

    data = read_bytes(path)
    if path.lower().endswith(".gz"):
        data = gzip.decompress(data)
    table = pq.read_table(io.BytesIO(data))
    for number, row in enumerate(table.to_pylist(), start=1):
        yield number, row


_READERS = {".jsonl": iter_jsonl, ".json": iter_json, ".csv": iter_csv, ".parquet": iter_parquet}


def iter_table(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows of a CSV / Parquet / JSON / JSONL file (`.gz` too), with their line (or row) number."""
    reader = _READERS.get(suffix(str(path)))
    if reader is None:
        raise DataError(f"unsupported table format; expected one of {', '.join(TABLE_SUFFIXES)}", file=path)
    return reader(str(path))


def read_table(path: str | Path) -> list[dict[str, Any]]:
    """All rows of a CSV / Parquet / JSON / JSONL file (gzip'd or not) as dicts."""
    return [row for _, row in iter_table(path)]


def column_of(rows: list[tuple[int, dict[str, Any]]], path: str, preferred: str = "text") -> str:
    """`preferred` when the first row has it, else the first column of the first row."""
    if not rows:
        raise DataError("no rows", file=path)
    first = rows[0][1]
    if preferred in first:
        return preferred
    if not first:
        raise DataError("the first row has no columns", file=path, line=rows[0][0])
    column = next(iter(first))
    log.info("%s: no %r column, using the first column %r", path, preferred, column)
    return column
