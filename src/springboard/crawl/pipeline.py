"""The user-facing job class, cc-pyspark style: subclass `CrawlJob` and override
`process_record(self, record)` to yield rows; reading, fetching, the step pipeline, counters and
output are the framework's, and the same object runs under the local runner and Spark.

    class ReviewJob(CrawlJob):
        output_schema = pa.schema([("url", pa.string()), ("text", pa.string())])

        def process_record(self, record):
            if record.record_type == "response" and record.is_html:
                for review in parse_html(record.payload).document.query_selector_all(".review"):
                    yield {"url": record.url, "text": review.text}

A job may also yield cc-pyspark's `(key, value)` pairs (its word count: `yield word, (count,
1)`): they are reduced by key with `reduce_by_key_func` (default `a + b`) into a table of
`key` and `val`, as cc-pyspark's `reduceByKey` does. The record speaks warcio's API and the
class has cc-pyspark's helpers (`is_wet_text_record`, `get_http_headers`, ...), so a cc-pyspark
`process_record` runs as written.

Here a job's pipeline over one task (reading, `process_record`, the row steps); the runners
(`springboard.crawl.runners`) write what it gives; `springboard.crawl.job` runs a whole crawl as
a job of kind `crawl`."""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from typing import Any, Iterator

import pyarrow as pa

from springboard.crawl.dedup import ORDER_COLUMN
from springboard.crawl.fetch import RecordRef, RetryPolicy, fetch_records
from springboard.crawl.reader import iter_records
from springboard.crawl.record import Counters, Record, Row
from springboard.crawl.steps import Step, run_pipeline, step_counters
from springboard.errors import DataError, ValidationError

log = logging.getLogger("springboard.crawl")

KEY_VALUE_SCHEMA = pa.schema([("key", pa.string()), ("val", pa.int64())])
"""cc-pyspark's default output schema for (key, value) jobs."""

TEXT_SCHEMA = pa.schema([
    ("url", pa.string()),
    ("text", pa.string()),
    ("language", pa.string()),
    ("fetch_time", pa.string()),
    ("warc_filename", pa.string()),
    ("warc_record_offset", pa.int64()),
])


@dataclass
class Task:
    """One unit of work: a whole archive file, or some of its records by byte range."""

    index: int
    uri: str
    refs: list[RecordRef] | None = None

    def label(self) -> str:
        return self.uri if self.refs is None else f"{self.uri} ({len(self.refs)} records)"


@dataclass
class TaskResult:
    task: Task
    counters: Counters = field(default_factory=Counters)
    errors: list[str] = field(default_factory=list)  # the first few error messages


MAX_ERROR_SAMPLES = 3


class Pairs(list):
    """A task's (key, value) pairs, already combined by key within the task."""


class CrawlJob:
    """Reads records, calls `process_record`, runs `steps` (a list of row-scope and global
    steps) and leaves writing to a runner.

    `record_types`: which records reach `process_record` (`response` for WARC and ARC,
    `conversion` for WET). `output_schema`: the Parquet schema of the rows (columns not in it
    are dropped, missing ones are null); `None` infers it from the rows."""

    record_types: tuple[str, ...] = ("response", "conversion")
    output_schema: pa.Schema | None = TEXT_SCHEMA

    def __init__(self, steps: list[Step] | None = None, retry: RetryPolicy = RetryPolicy()) -> None:
        self.steps: list[Step] = list(steps) if steps is not None else []
        self.retry = retry

    # -- the extension point -------------------------------------------------------------
    def process_record(self, record: Record) -> Iterator[Row]:
        """Default: successful HTML responses become rows with `html` (for an extraction step
        such as `HtmlToText`), WET conversion records rows with `text`."""
        base = {
            "url": record.url,
            "warc_filename": record.warc_filename,
            "warc_record_offset": record.offset,
            "fetch_time": record.headers.get("WARC-Date"),
            "language": record.identified_language,
        }
        if record.record_type == "conversion":
            yield {**base, "text": record.text()}
        elif record.record_type == "response":
            if record.http_status not in (None, 200) or not record.is_html:
                return
            yield {**base, "html": record.payload, "charset": record.http_charset}

    @staticmethod
    def reduce_by_key_func(a: Any, b: Any) -> Any:
        """Combines two values of one key when `process_record` yields (key, value) pairs."""
        return a + b

    # -- cc-pyspark's helpers (CCSparkJob), so its jobs run as written ----------------------
    name = "CrawlJob"

    @staticmethod
    def is_wet_text_record(record: Record) -> bool:
        return record.rec_type == "conversion" and record.content_type == "text/plain"

    @staticmethod
    def is_wat_json_record(record: Record) -> bool:
        return record.rec_type == "metadata" and record.content_type == "application/json"

    @staticmethod
    def is_response_record(record: Record) -> bool:
        return record.rec_type == "response"

    @staticmethod
    def is_html(record: Record) -> bool:
        html_types = ("text/html", "application/xhtml+xml")
        if record.rec_headers.get("WARC-Identified-Payload-Type") in html_types:
            return True
        ctype = record.http_headers.get_header("content-type", None)
        return bool(ctype) and any(t in ctype for t in html_types)

    @staticmethod
    def get_http_headers(record: Record) -> list[tuple[str, str]]:
        return record.http_headers.headers

    @staticmethod
    def get_warc_header(record: Record, header: str, default: str | None = None) -> str | None:
        return record.rec_headers.get_header(header, default)

    @staticmethod
    def get_payload_stream(record: Record):
        return record.content_stream()

    def get_logger(self, session: Any = None) -> logging.Logger:
        return logging.getLogger(f"springboard.crawl.{self.name}")

    # -- framework -------------------------------------------------------------------------
    def output_arrow_schema(self, pairs: bool) -> pa.Schema | None:
        """The Parquet schema: `output_schema` (a pyarrow schema, or a pyspark StructType as
        cc-pyspark jobs declare it); for (key, value) pairs cc-pyspark's default `key` string,
        `val` long unless the job declares its own key/val schema."""
        schema = self.output_schema
        if schema is not None and not isinstance(schema, pa.Schema):
            from pyspark.sql.pandas.types import to_arrow_schema

            schema = to_arrow_schema(schema)
        if not pairs:
            return schema
        if schema is None or schema.names == ["key", "val"]:
            return schema
        if self.output_schema is TEXT_SCHEMA:
            return KEY_VALUE_SCHEMA
        raise ValidationError(
            f"{type(self).__name__}: process_record yields (key, value) pairs but output_schema "
            f"has the columns {schema.names}; declare key and val (or leave the default)")

    @property
    def row_steps(self) -> list[Step]:
        return [s for s in self.steps if s.scope == "row"]

    @property
    def global_steps(self) -> list[Step]:
        return [s for s in self.steps if s.scope == "global"]

    def records(self, task: Task, counters: Counters) -> Iterator[Record]:
        if task.refs is None:
            yield from iter_records(task.uri, self.record_types, counters)
            return
        for _, record in fetch_records(task.refs, policy=self.retry, counters=counters):
            counters["records_read"] += 1
            if record.record_type in self.record_types:
                yield record

    def _rows(self, task: Task, counters: Counters, errors: list[str]) -> Iterator[Row | tuple]:
        try:
            for record in self.records(task, counters):
                try:
                    rows = list(self.process_record(record) or ())
                    for row in rows:
                        if not isinstance(row, dict) and not (isinstance(row, tuple) and len(row) == 2):
                            raise TypeError(f"process_record yielded {type(row).__name__} "
                                            f"{row!r:.80}; yield dicts or (key, value) pairs")
                except Exception as exc:  # noqa: BLE001 - one bad record must not end the job
                    counters["errors.process_record"] += 1
                    counters[f"errors.process_record.{type(exc).__name__}"] += 1
                    msg = (f"{task.uri} offset {record.offset}: process_record failed: "
                           f"{type(exc).__name__}: {exc}")
                    if len(errors) < MAX_ERROR_SAMPLES:
                        errors.append(msg)
                    log.warning("%s", msg)
                    continue
                counters["records_processed"] += 1
                counters["rows_out"] += len(rows)
                yield from rows
        except Exception as exc:  # noqa: BLE001 - an unreadable file is counted, not fatal
            counters["errors.file"] += 1
            msg = f"{task.uri}: {type(exc).__name__}: {exc}; rest of file skipped"
            if len(errors) < MAX_ERROR_SAMPLES:
                errors.append(msg)
            log.error("%s", msg)

    def iter_task(self, task: Task, counters: Counters,
                  errors: list[str] | None = None) -> Iterator[Row] | Pairs:
        """The rows of one task after the row-scope steps, each tagged with its place in the
        input order (`_sb_order`); `counters` gets the task's counts once it is exhausted.
        When `process_record` yields (key, value) pairs, the task's pairs combined by key
        (cc-pyspark's map-side combine) come out instead, as one `Pairs` item."""
        errors = errors if errors is not None else []
        for step in self.row_steps:
            step.stats.clear()
        source = self._rows(task, counters, errors)
        first = next(source, None)
        if isinstance(first, tuple):
            yield self._combine(first, source, counters)
            counters["files_done"] += 1
            return
        rows = _only_dicts(itertools.chain([first], source) if first is not None else source)
        n = 0
        for n, row in enumerate(run_pipeline(self.row_steps, rows), 1):
            row[ORDER_COLUMN] = (task.index << 32) | (n - 1)
            yield row
        counters.update(step_counters(self.row_steps))
        counters["rows_kept"] += n
        counters["files_done"] += 1

    def _combine(self, first: tuple, rest: Iterator, counters: Counters) -> Pairs:
        steps = [s for s in self.row_steps if type(s).__name__ != "HtmlToText"]
        if steps or self.global_steps:
            names = ", ".join(type(s).__name__ for s in [*steps, *self.global_steps])
            raise ValidationError(
                f"{type(self).__name__} yields (key, value) pairs, which are reduced by key; the "
                f"row steps {names} work on dict rows: run it without filters or dedup")
        combined: dict[Any, Any] = {}
        reduce = self.reduce_by_key_func
        for item in itertools.chain([first], rest):
            if not isinstance(item, tuple):
                raise DataError(f"{type(self).__name__}: process_record yielded a dict after "
                                "(key, value) pairs; a job yields one or the other")
            key, value = item
            combined[key] = reduce(combined[key], value) if key in combined else value
        counters["pairs_out"] += len(combined)
        return Pairs(combined.items())

    def run_task(self, task: Task) -> tuple[list[Row], Counters]:
        counters = Counters()
        rows = list(self.iter_task(task, counters))
        return rows, counters

    def describe(self) -> dict[str, Any]:
        return {
            "job": f"{type(self).__module__}:{type(self).__qualname__}",
            "record_types": list(self.record_types),
            "steps": [s.describe() for s in self.steps],
            "retry": vars(self.retry),
        }


def _only_dicts(rows: Iterator) -> Iterator[Row]:
    for row in rows:
        if isinstance(row, tuple):
            raise DataError("process_record yielded (key, value) pairs after dict rows; a job "
                            "yields one or the other")
        yield row


def check_outcome(totals: Counters, errors: list[str]) -> None:
    """A run whose every record failed is a failure, never an empty success."""
    read = totals.get("records_read", 0)
    failed = totals.get("errors.process_record", 0)
    if read and not totals.get("records_processed", 0) and failed:
        kinds = ", ".join(f"{k.rsplit('.', 1)[-1]}: {v}" for k, v in sorted(totals.items())
                          if k.startswith("errors.process_record."))
        raise DataError(f"process_record raised on every record it was given ({failed} of "
                        f"{read}; {kinds}); first: {errors[0] if errors else '(see the log)'}")
    unreadable = {k: v for k, v in totals.items() if k.startswith("errors.")
                  and not k.startswith("errors.process_record")}
    if not read and unreadable:
        raise DataError("no record could be read from the input ("
                        + ", ".join(f"{k}={v}" for k, v in sorted(unreadable.items())) + ")"
                        + (f"; first: {errors[0]}" if errors else ""))


def to_table(rows: list[Row], schema: pa.Schema | None) -> pa.Table:
    """Rows → Arrow with the job's schema plus the order column."""
    if schema is None:
        return pa.Table.from_pylist(rows)
    full = schema.append(pa.field(ORDER_COLUMN, pa.int64()))
    return pa.Table.from_pylist([{k: r.get(k) for k in full.names} for r in rows], schema=full)

