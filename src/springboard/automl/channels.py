"""Autopilot's data channels -> the trainer's instruction JSONL.

A channel is an `S3Prefix`: a file, a directory (every non-hidden file under it), or a key
prefix (every file whose path starts with it), read through `springboard.storage` so `s3://` and `file://` work
like local paths. Rows are CSV with a header (`text/csv;header=present`) or Parquet, optionally
gzip'd as a whole (`CompressionType: Gzip`); each needs an `input` (prompt) and an `output`
(response) column. Both channels must have the same columns.

The split happens once, here, into `train.jsonl` and `validation.jsonl` in the job's directory,
so every candidate trains and is ranked on exactly the same records."""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import statistics
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from springboard import storage
from springboard.automl.plan import normalize_content_type
from springboard.automl.request import CSV, PARQUET, AutoMLJobChannel
from springboard.errors import DataError, ValidationError

log = logging.getLogger("springboard.automl")

COLUMNS = ("input", "output")


class Row(BaseModel):
    prompt: str
    completion: str
    file: str
    line: int


class LengthStats(BaseModel):
    min: int
    mean: float
    max: int


class ChannelSummary(BaseModel):
    channel_type: str
    uri: str
    content_type: str
    compression: str
    files: list[str]
    records: int
    columns: list[str]


class DataSummary(BaseModel):
    """What AnalyzingData found; shown in the insights report."""

    channels: list[ChannelSummary]
    train_records: int
    validation_records: int
    validation_source: str  # "channel" or "split 0.2"
    input_chars: LengthStats
    output_chars: LengthStats
    train_file: str
    validation_file: str


def list_files(uri: str) -> list[str]:
    """The files of an S3Prefix, sorted."""
    fs, root = storage.filesystem(uri)
    if fs.isfile(root):
        return [storage.display(fs, root)]
    if fs.isdir(root):
        found = fs.find(root)
    else:
        found = fs.glob(root + "*")
        found = [f for p in found for f in ([p] if fs.isfile(p) else fs.find(p))]
    files = sorted(f for f in found if not any(part.startswith(".") for part in f[len(root):].split("/")))
    if not files:
        raise DataError("no data files at this S3Uri (a file, a directory or a prefix)", file=uri)
    return [storage.display(fs, f) for f in files]


def _content_type(channel: AutoMLJobChannel, files: list[str]) -> str:
    given = normalize_content_type(channel.ContentType)
    if given:
        return given
    names = [f.lower().removesuffix(".gz") for f in files]
    return PARQUET if all(n.endswith(".parquet") for n in names) else CSV


def read_rows(path: str, content_type: str, gzipped: bool) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    """(columns, [(line, row)]) of one file; the line is the CSV line where the row starts
    (header = 1) or the Parquet row number."""
    fs, p = storage.filesystem(path)
    with fs.open(p, "rb") as f:
        data = f.read()
    is_gzip = data[:2] == b"\x1f\x8b"
    if gzipped and not is_gzip:
        raise DataError("CompressionType is Gzip but the file is not gzip data", file=path)
    if is_gzip and not gzipped:
        raise DataError("the file is gzip data: set the channel's CompressionType to Gzip", file=path)
    if gzipped:
        data = gzip.decompress(data)
    if content_type == PARQUET:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(io.BytesIO(data))
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"not a Parquet file ({exc}); check the channel's ContentType", file=path) from None
        return list(table.column_names), list(enumerate(table.to_pylist(), start=1))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text ({exc.reason} at byte {exc.start}); check ContentType", file=path) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = list(reader.fieldnames or [])
    rows: list[tuple[int, dict[str, Any]]] = []
    start = 2
    for row in reader:
        if row.pop(None, None):  # type: ignore[call-overload]
            raise DataError("more values than header columns", file=path, line=start)
        rows.append((start, row))
        start = reader.line_num + 1
    return columns, rows


def read_channel(channel: AutoMLJobChannel) -> tuple[ChannelSummary, list[Row]]:
    files = list_files(channel.uri)
    content_type = _content_type(channel, files)
    columns: list[str] | None = None
    rows: list[Row] = []
    for path in files:
        cols, records = read_rows(path, content_type, channel.gzip)
        missing = [c for c in COLUMNS if c not in cols]
        if missing:
            raise DataError(
                f"missing column(s) {', '.join(missing)}; Autopilot text generation data has an 'input' "
                f"(prompt) and an 'output' (response) column, found: {', '.join(cols) or 'none'}",
                file=path, line=1 if content_type == CSV else None,
            )
        if columns is not None and sorted(cols) != sorted(columns):
            raise DataError(f"columns {cols} differ from the channel's other files {columns}", file=path)
        columns = cols
        for line, record in records:
            values = []
            for col in COLUMNS:
                value = record.get(col)
                if not isinstance(value, str):
                    raise DataError(f"must be text, got {type(value).__name__}", file=path, line=line, field=col)
                values.append(value)
            if not values[1].strip():
                raise DataError("empty response", file=path, line=line, field="output")
            rows.append(Row(prompt=values[0], completion=values[1], file=path, line=line))
    if not rows:
        raise DataError("no records", file=channel.uri)
    summary = ChannelSummary(
        channel_type=channel.channel_type, uri=channel.uri, content_type=content_type,
        compression=channel.CompressionType or "None", files=files, records=len(rows), columns=columns or [],
    )
    return summary, rows


def prepare_channels(
    channels: list[AutoMLJobChannel], out_dir: Path, validation_fraction: float | None, seed: int = 0
) -> DataSummary:
    """Reads and checks the channels, splits when there is no validation channel, writes
    `train.jsonl` / `validation.jsonl` (prompt, completion, id) into `out_dir`."""
    from springboard.data import split_records

    read = {c.channel_type: read_channel(c) for c in channels}
    train_summary, train_rows = read["training"]
    if "validation" in read:
        val_summary, val_rows = read["validation"]
        if train_summary.content_type != val_summary.content_type:
            raise ValidationError(
                f"the training channel is {train_summary.content_type} but the validation channel is "
                f"{val_summary.content_type}: both channels must share the format"
            )
        if sorted(train_summary.columns) != sorted(val_summary.columns):
            raise ValidationError(
                f"the validation channel's columns {val_summary.columns} differ from the training channel's "
                f"{train_summary.columns}: both channels must share the schema"
            )
        source = "channel"
    else:
        if len(train_rows) < 2:
            raise DataError("at least 2 records are needed to split off a validation set", file=channels[0].uri)
        train_rows, val_rows = split_records(train_rows, validation_fraction or 0.2, seed)
        source = f"split {validation_fraction}"
    out_dir.mkdir(parents=True, exist_ok=True)
    train_file, val_file = out_dir / "train.jsonl", out_dir / "validation.jsonl"
    for path, rows, prefix in ((train_file, train_rows, "train"), (val_file, val_rows, "validation")):
        with open(path, "w", encoding="utf-8") as f:
            for i, row in enumerate(rows):
                record = {"id": f"{prefix}-{i}", "prompt": row.prompt, "completion": row.completion,
                          "source": f"{row.file}:{row.line}"}
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
    every = train_rows + val_rows
    summary = DataSummary(
        channels=[s for s, _ in read.values()],
        train_records=len(train_rows),
        validation_records=len(val_rows),
        validation_source=source,
        input_chars=_stats([len(r.prompt) for r in every]),
        output_chars=_stats([len(r.completion) for r in every]),
        train_file=str(train_file),
        validation_file=str(val_file),
    )
    log.info("data: %d training / %d validation records (%s)", len(train_rows), len(val_rows), source)
    return summary


def _stats(values: list[int]) -> LengthStats:
    return LengthStats(min=min(values), mean=round(statistics.fmean(values), 1), max=max(values))


def load_validation(path: str | Path, limit: int | None = None) -> list[dict[str, str]]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
                if limit is not None and len(rows) >= limit:
                    break
    return rows
