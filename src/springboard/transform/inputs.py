"""Reading transform inputs: files -> records (by `split_type` and `content_type`), records ->
requests (by `batch_strategy` and `max_payload`), and a record -> what the model sees (after
`input_filter`), as JumpStart's text2text container reads it."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from springboard.errors import NotFoundError, ValidationError
from springboard.transform.config import TransformConfig, record_params
from springboard.transform.jsonpath import JSONPath


@dataclass
class Record:
    index: int  # 0-based position among the file's records
    line: int  # 1-based line of the file where it starts (for error messages)
    raw: bytes  # the record's bytes, as SageMaker would send them
    value: Any = None  # parsed record (dict/list for JSON, list of fields for CSV, str for text)
    error: str | None = None  # why it could not be parsed


@dataclass
class ModelInput:
    """One record as the model sees it: the prompt(s) and the record's own parameters."""

    prompts: list[str]
    params: dict[str, Any] = field(default_factory=dict)
    record_id: Any = None
    has_id: bool = False
    many: bool = False  # `text_inputs` was a list: one result per prompt
    echo: Any = None  # the `text_inputs` as given, for `accept: application/json;verbose`


def input_files(input_path: str) -> list[tuple[Path, str]]:
    """(file, path relative to the input) for a file, or for every file under a directory,
    sorted, hidden files and our own outputs skipped."""
    root = Path(input_path)
    if root.is_file():
        return [(root, root.name)]
    if not root.is_dir():
        raise NotFoundError(f"transform input {input_path!r} does not exist")
    files = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or any(part.startswith(".") for part in rel.parts):
            continue
        if path.name.endswith((".out", ".out.partial")):
            continue
        files.append((path, rel.as_posix()))
    if not files:
        raise NotFoundError(f"transform input directory {input_path!r} holds no files")
    return files


def read_records(
    path: Path, config: TransformConfig, start: int = 0, offset: int = 0, line: int = 1, parse: bool = True
) -> Iterator[Record]:
    """The file's records in order, from record index `start`, which begins at byte `offset`
    on line `line` (a shard of the file). Blank lines are not records (a trailing newline, or
    blank separators, would otherwise make empty requests). `parse=False` skips decoding."""
    if config.split_type == "None":
        if config.content_type == "text/csv":
            raise ValidationError("content_type text/csv needs split_type 'Line'")
        data = path.read_bytes()
        yield _parse(Record(0, 1, data), config) if parse else Record(0, 1, data)
        return
    index = start
    with open(path, "rb") as f:
        f.seek(offset)
        for line_no, raw_line in enumerate(f, start=line):
            raw = raw_line.rstrip(b"\r\n")
            if not raw.strip():
                continue
            yield _parse(Record(index, line_no, raw), config) if parse else Record(index, line_no, raw)
            index += 1


def record_offsets(path: Path, config: TransformConfig) -> Iterator[tuple[int, int, int]]:
    """(byte offset, line number, size in bytes) of each record, in order: where a shard that
    starts at that record begins reading."""
    if config.split_type == "None":
        yield 0, 1, path.stat().st_size
        return
    offset = 0
    with open(path, "rb") as f:
        for line_no, raw_line in enumerate(f, start=1):
            if raw_line.strip():
                yield offset, line_no, len(raw_line.rstrip(b"\r\n"))
            offset += len(raw_line)


def _parse(record: Record, config: TransformConfig) -> Record:
    try:
        text = record.raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        record.error = f"not UTF-8 text: {exc}"
        return record
    if config.content_type in ("application/jsonlines", "application/json"):
        try:
            record.value = json.loads(text)
        except json.JSONDecodeError as exc:
            record.error = f"invalid JSON: {exc}"
    elif config.content_type == "text/csv":
        record.value = next(csv.reader([text]), [])
    else:
        record.value = text
    return record


def requests(records: Iterator[Record], config: TransformConfig) -> Iterator[list[Record]]:
    """Groups a file's records into requests: `SingleRecord` sends one, `MultiRecord` packs as
    many consecutive records as fit in `max_payload` MB (each with its newline)."""
    limit = config.max_payload_bytes
    group: list[Record] = []
    size = 0
    for record in records:
        rsize = len(record.raw) + 1
        if limit is not None and rsize > limit:
            record.error = record.error or (
                f"record is {rsize} bytes, over max_payload {config.max_payload} MB"
            )
        if config.batch_strategy == "SingleRecord":
            yield [record]
            continue
        if group and limit is not None and size + rsize > limit:
            yield group
            group, size = [], 0
        group.append(record)
        size += rsize
    if group:
        yield group


def model_input(record: Record, input_filter: JSONPath) -> ModelInput:
    """What the model is asked for this record; raises ValueError naming the problem."""
    try:
        value = input_filter.select(record.value)
    except KeyError as exc:
        raise ValueError(f"input_filter {input_filter.path!r} found no {exc.args[0]!r}") from None
    if isinstance(value, dict):
        if "text_inputs" not in value:
            hint = " (records are JumpStart text2text requests: put the prompt in 'text_inputs')"
            raise ValueError("record has no 'text_inputs'" + (hint if "inputs" in value else ""))
        text = value["text_inputs"]
        base = dict(params=record_params(value), record_id=value.get("id"), has_id="id" in value)
        if isinstance(text, str):
            return ModelInput(prompts=[text], echo=text, **base)
        if isinstance(text, list) and text and all(isinstance(t, str) for t in text):
            return ModelInput(prompts=list(text), many=True, echo=text, **base)
        raise ValueError("'text_inputs' must be a string or a non-empty list of strings")
    if isinstance(value, str):
        return ModelInput(prompts=[value], echo=value)
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str):
        return ModelInput(prompts=[value[0]], echo=value[0])
    if isinstance(value, list):
        raise ValueError(
            f"record has {len(value)} fields; choose the text with input_filter, e.g. '$[1]'"
        )
    raise ValueError(f"cannot make a prompt from a {type(value).__name__}")
