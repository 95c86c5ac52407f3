"""The seed's coalesce-to-one-file step: a crawl's Parquet output → exactly one training file
in a directory of its own, which is what the domain-adaptation trainer reads (a directory
holding one CSV/JSON/JSONL/TXT file; JSONL records use the `text` field).

Formats: `jsonl` writes `{"text": ...}` per document (document boundaries and newlines kept);
`txt` writes one document per line, so newlines inside a document become spaces (what Spark's
`write.text` of a single-line column gives)."""

from __future__ import annotations

import json
import shutil
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Literal

import pyarrow.dataset as ds

from springboard.errors import ConflictError, DataError, NotFoundError, ValidationError

log = logging.getLogger("springboard.crawl")

ExportFormat = Literal["txt", "jsonl"]


@dataclass
class ExportResult:
    path: Path
    documents: int
    skipped_empty: int
    bytes: int


def resolve_column(names: list[str], column: str, source: str) -> str:
    """The column named `column`, matched case-insensitively as Spark SQL does (an exact match
    wins; two columns differing only in case are ambiguous)."""
    if column in names:
        return column
    matches = [n for n in names if n.lower() == column.lower()]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise DataError(f"ambiguous column: {', '.join(matches)} all match", file=source,
                        field=column)
    raise DataError(f"no such column (columns: {', '.join(names)})", file=source, field=column)


def _texts(source: str, column: str) -> Iterator[str | None]:
    from springboard import storage

    if not storage.exists(source):
        raise NotFoundError(f"{source}: no such Parquet file or directory")
    if storage.isdir(source) and not storage.exists(storage.join(source, "_SUCCESS")):
        raise DataError("incomplete crawl output (no _SUCCESS): the run that writes it did not "
                        "finish; rerun `springboard crawl run` with the same arguments to "
                        "complete it", file=source)
    fs, path = storage.filesystem(source)
    dataset = ds.dataset(path, filesystem=fs, format="parquet", ignore_prefixes=["_", "."])
    name = resolve_column(dataset.schema.names, column, source)
    for batch in dataset.to_batches(columns=[name]):
        yield from batch.column(0).to_pylist()


def export(
    source: str,
    out: str | Path | None = None,
    out_dir: str | Path | None = None,
    fmt: ExportFormat = "jsonl",
    column: str = "text",
    overwrite: bool = False,
) -> ExportResult:
    """Writes `out` (its directory must hold no other file) or `out_dir/train.<fmt>`; empty
    texts are skipped. Returns where it wrote and how much."""
    if fmt not in ("txt", "jsonl"):
        raise ValidationError(f"--format: {fmt!r} is not txt or jsonl")
    if (out is None) == (out_dir is None):
        raise ValidationError("give exactly one of --out FILE or --out-dir DIR")
    target = Path(out) if out is not None else Path(out_dir) / f"train.{fmt}"
    made_dir = not target.parent.exists()
    target.parent.mkdir(parents=True, exist_ok=True)
    others = [p.name for p in target.parent.iterdir() if p != target]
    if others:
        raise ConflictError(
            f"{target.parent}: the training directory must hold only the exported file, "
            f"found {', '.join(sorted(others)[:5])}")
    if target.exists() and not overwrite:
        raise ConflictError(f"{target}: exists (use --overwrite)")
    docs = skipped = 0
    tmp = target.with_name(target.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            for text in _texts(str(source), column):
                if text is None or not str(text).strip():
                    skipped += 1
                    continue
                if fmt == "jsonl":
                    f.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
                else:
                    f.write(" ".join(str(text).split()) + "\n")
                docs += 1
        if docs == 0:
            raise DataError("no non-empty text to export", file=str(source), field=column)
        tmp.replace(target)
    except BaseException:
        # A failed export leaves nothing behind: no .tmp, and no directory it created.
        tmp.unlink(missing_ok=True)
        if made_dir:
            shutil.rmtree(target.parent, ignore_errors=True)
        raise
    size = target.stat().st_size
    log.info("exported %d documents (%d empty skipped) to %s", docs, skipped, target)
    return ExportResult(target, docs, skipped, size)
