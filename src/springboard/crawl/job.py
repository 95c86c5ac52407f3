"""The user-facing job class, cc-pyspark style: subclass `CrawlJob` and override
`process_record(self, record)` to yield rows; reading, fetching, the step pipeline, counters and
output are the framework's, and the same object runs under the local runner and Spark.

    class ReviewJob(CrawlJob):
        output_schema = pa.schema([("url", pa.string()), ("text", pa.string())])

        def process_record(self, record):
            if record.record_type == "response" and record.is_html:
                for review in parse_html(record.payload).document.query_selector_all(".review"):
                    yield {"url": record.url, "text": review.text}
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Iterator

import pyarrow as pa

from springboard.crawl.dedup import ORDER_COLUMN
from springboard.crawl.fetch import RecordRef, RetryPolicy, fetch_records
from springboard.crawl.reader import iter_records
from springboard.crawl.record import Counters, Record, Row
from springboard.crawl.steps import Step, run_pipeline, step_counters

log = logging.getLogger("springboard.crawl")

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

    # -- framework -------------------------------------------------------------------------
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

    def _rows(self, task: Task, counters: Counters) -> Iterator[Row]:
        try:
            for record in self.records(task, counters):
                try:
                    rows = list(self.process_record(record))
                except Exception as exc:  # noqa: BLE001 - one bad record must not end the job
                    counters["errors.process_record"] += 1
                    log.warning("%s offset %s: process_record failed: %s: %s",
                                task.uri, record.offset, type(exc).__name__, exc)
                    continue
                counters["records_processed"] += 1
                counters["rows_out"] += len(rows)
                yield from rows
        except Exception as exc:  # noqa: BLE001 - an unreadable file is counted, not fatal
            counters["errors.file"] += 1
            log.error("%s: %s: %s; rest of file skipped", task.uri, type(exc).__name__, exc)

    def iter_task(self, task: Task, counters: Counters) -> Iterator[Row]:
        """The rows of one task after the row-scope steps, each tagged with its place in the
        input order (`_sb_order`); `counters` gets the task's counts once it is exhausted."""
        for step in self.row_steps:
            step.stats.clear()
        n = 0
        for n, row in enumerate(run_pipeline(self.row_steps, self._rows(task, counters)), 1):
            row[ORDER_COLUMN] = (task.index << 32) | (n - 1)
            yield row
        counters.update(step_counters(self.row_steps))
        counters["rows_kept"] += n
        counters["files_done"] += 1

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


def to_table(rows: list[Row], schema: pa.Schema | None) -> pa.Table:
    """Rows → Arrow with the job's schema plus the order column."""
    if schema is None:
        return pa.Table.from_pylist(rows)
    full = schema.append(pa.field(ORDER_COLUMN, pa.int64()))
    return pa.Table.from_pylist([{k: r.get(k) for k in full.names} for r in rows], schema=full)


def run_job(ctx) -> None:
    """Entrypoint for `springboard.jobs.submit(kind="crawl", ...)`: the config is a
    `CrawlRunConfig`; counters become job metrics (one point per finished file)."""
    from springboard.crawl.config import CrawlRunConfig, execute

    config = CrawlRunConfig.model_validate(ctx.config)
    ctx.set_secondary_status("Crawling", f"{len(config.inputs) or 'record list'} input(s)")

    def on_file(done: int, total: int, result: TaskResult, totals: Counters) -> None:
        ctx.log_metrics(step=done, **totals.as_metrics())
        ctx.check_stop()

    counters = execute(config, on_file=on_file)
    ctx.log_metrics(step=int(counters.get("files_done", 0)), **counters.as_metrics())
    ctx.set_secondary_status("Completed", counters.summary())
