"""The crawl over an executor (`springboard.executors`): one task function per input file
(read, `process_record`, the row steps, write the part) mapped by a local process pool
(`run_local`) or by Spark (`runners.spark.run_spark`, which EMR Serverless runs). Each task
writes its own Parquet part through `springboard.storage` (so an `s3://` output is written to
S3) and then a completion marker. Global steps (dedup) and the (key, value) reduce are the
executor's `reduce_by_key` over the staged parts; repartitioning then streams them in input
order, one writer open at a time.

A killed run resumes: rerun it into the same output and only the files without a marker are
done again (a part without its marker is rewritten). Workers exit when the main process dies."""

from __future__ import annotations

import logging
import os
import pickle
import sys
import time
from typing import Any, Callable, Iterable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from springboard import storage
from springboard.crawl.dedup import ORDER_COLUMN
from springboard.crawl.pipeline import CrawlJob, Pairs, Task, TaskResult, check_outcome, to_table
from springboard.crawl.record import Counters, Row
from springboard.crawl.runners.common import (
    STAGE_DIR, TASKS_DIR, mark_success, open_run, write_counters, write_marker,
)
from springboard.crawl.steps import Step
from springboard.errors import DataError
from springboard.executors import Executor, LocalExecutor, ship_by_value

log = logging.getLogger("springboard.crawl")

BATCH_ROWS = 1000
OnFile = Callable[[int, int, TaskResult, Counters], None]
PAIRS_SCHEMA = pa.schema([("key", pa.binary()), ("val", pa.binary())])


class _PartWriter:
    """Batches rows into one Parquet file at a storage location, opened on the first row; the
    schema is the job's, or the first batch's. At most `BATCH_ROWS` rows are held."""

    open_writers = 0  # writers open in this process (a test checks it stays at one)
    peak_open_writers = 0
    peak_batch_rows = 0

    def __init__(self, uri: str, schema: pa.Schema | None, keep_order: bool) -> None:
        self.uri, self.schema, self.keep_order = uri, schema, keep_order
        self.file: Any = None
        self.writer: pq.ParquetWriter | None = None
        self.batch: list[Row] = []
        self.rows = 0

    def add(self, row: Row) -> None:
        self.batch.append(row)
        if len(self.batch) >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.batch:
            return
        cls = type(self)
        cls.peak_batch_rows = max(cls.peak_batch_rows, len(self.batch))
        table = self.schema_table(self.batch)
        if self.writer is None:
            self.file = storage.open_file(self.uri, "wb")
            self.writer = pq.ParquetWriter(self.file, table.schema)
            cls.open_writers += 1
            cls.peak_open_writers = max(cls.peak_open_writers, cls.open_writers)
        self.writer.write_table(table.cast(self.writer.schema))
        self.rows += len(self.batch)
        self.batch = []

    def schema_table(self, rows: list[Row]) -> pa.Table:
        table = to_table(rows, self.schema)
        if not self.keep_order and ORDER_COLUMN in table.column_names:
            table = table.drop_columns([ORDER_COLUMN])
        return table

    def close(self) -> int:
        self.flush()
        if self.writer is not None:
            self.writer.close()
            self.file.close()
            type(self).open_writers -= 1
            self.writer = None
        return self.rows


class _PairWriter(_PartWriter):
    """A task's combined pairs, pickled (keys and values are any Python objects, as in
    cc-pyspark), for the reduce after all tasks."""

    def schema_table(self, rows: list[Row]) -> pa.Table:
        return pa.Table.from_pylist(
            [{"key": pickle.dumps(k), "val": pickle.dumps(v)} for k, v in rows], PAIRS_SCHEMA)


def _part_name(prefix: str, index: int) -> str:
    return f"{prefix}-{index:05d}.parquet"


def _run_task(job: CrawlJob, task: Task, output: str, staged: bool) -> TaskResult:
    result = TaskResult(task)
    start = time.monotonic()
    base = storage.join(output, STAGE_DIR) if staged else output
    writer: _PartWriter | None = None
    kind = "rows"
    for item in job.iter_task(task, result.counters, result.errors):
        if isinstance(item, Pairs):
            kind = "pairs"
            writer = _PairWriter(storage.join(output, STAGE_DIR, _part_name("pairs", task.index)),
                                 PAIRS_SCHEMA, keep_order=True)
            for pair in item:
                writer.add(pair)
            continue
        if writer is None:
            writer = _PartWriter(storage.join(base, _part_name("part", task.index)),
                                 job.output_arrow_schema(pairs=False), keep_order=staged)
        writer.add(item)
    if writer is not None:
        writer.close()
    result.counters[f"tasks.{kind}"] += 1
    write_marker(output, task.index, result.counters, result.errors)
    log.debug("%s done in %.2fs", task.label(), time.monotonic() - start)
    return result


def _progress(total: int, initial: int):
    if sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(total=total, initial=initial, unit="file", desc="crawl")
    return None


def describe_run(job: CrawlJob, tasks: list[Task], num_output_partitions: int | None) -> dict:
    import hashlib

    def refs(task: Task) -> str | None:
        if task.refs is None:
            return None
        h = hashlib.sha256()
        for r in task.refs:
            h.update(f"{r.warc_record_offset}:{r.warc_record_length};".encode())
        return h.hexdigest()

    return {"job": job.describe(), "num_output_partitions": num_output_partitions,
            "tasks": [[t.index, t.uri, refs(t)] for t in tasks]}


class CrawlTask:
    """The one task function the executors map: `run(job, task, output, staged)` for each
    task (picklable: the job and its steps travel to the workers)."""

    def __init__(self, job: CrawlJob, output: str, staged: bool,
                 run: Callable[[CrawlJob, Task, str, bool], TaskResult]) -> None:
        self.job, self.output, self.staged, self.run = job, output, staged, run

    def __call__(self, task: Task) -> TaskResult:
        return self.run(self.job, task, self.output, self.staged)


def run_local(
    job: CrawlJob,
    tasks: list[Task],
    output: str,
    processes: int | None = None,
    num_output_partitions: int | None = None,
    overwrite: bool = False,
    on_file: OnFile | None = None,
) -> Counters:
    """Runs `job` over `tasks` on a process pool of `processes` (default: the CPU count),
    writing `output/part-NNNNN.parquet` (one per input file, or `num_output_partitions`),
    `_counters.json` and `_SUCCESS`; returns the counters. An unfinished earlier run of the
    same configuration in `output` is resumed."""
    # forked, as this runner always has been: a user's script needs no __main__ guard
    executor = LocalExecutor(max(1, min(processes or os.cpu_count() or 1, len(tasks))),
                             start_method="fork")
    return run_tasks(job, tasks, output, executor, num_output_partitions, overwrite, on_file,
                     run=_run_task)


def run_tasks(
    job: CrawlJob,
    tasks: list[Task],
    output: str,
    executor: Executor,
    num_output_partitions: int | None = None,
    overwrite: bool = False,
    on_file: OnFile | None = None,
    run: Callable[[CrawlJob, Task, str, bool], TaskResult] | None = None,
) -> Counters:
    """`job` over `tasks` on `executor` into `output` (see `run_local`)."""
    resume = open_run(output, describe_run(job, tasks, num_output_partitions), overwrite)
    staged = bool(job.global_steps) or bool(num_output_partitions)
    todo = [t for t in tasks if t.index not in resume.done]
    totals, errors = Counters(), []
    for marker in resume.done.values():
        totals.update(marker["counters"])
        errors.extend(marker.get("errors", []))
    if resume.done:
        log.info("resuming %s: %d of %d files already done", output, len(resume.done), len(tasks))
    bar = _progress(len(tasks), len(resume.done))
    done = len(resume.done)

    def finished(_i: int, _task: Task, result: TaskResult) -> None:
        nonlocal done
        done += 1
        totals.update(result.counters)
        errors.extend(result.errors)
        c = result.counters
        if bar is not None:
            bar.update(1)
            bar.set_postfix(rows=totals.get("rows_kept", 0))
        else:
            log.info("[%d/%d] %s: %d records read, %d rows kept, %d errors", done, len(tasks),
                     result.task.label(), c.get("records_read", 0), c.get("rows_kept", 0),
                     sum(v for k, v in c.items() if k.startswith("errors.") and k.count(".") == 1))
        if on_file is not None:
            on_file(done, len(tasks), result, totals)

    # a job class from a user's script (or a test module) travels by value, like --py-files
    ship_by_value(type(job), *(type(s) for s in job.steps))
    try:
        if todo:
            executor.map(CrawlTask(job, output, staged, run or _run_task), todo,
                         on_result=finished)
    finally:
        if bar is not None:
            bar.close()

    check_outcome(totals, errors)
    pairs = totals.get("tasks.pairs", 0)
    if pairs and totals.get("rows_kept", 0):
        raise DataError(f"{type(job).__name__}: some files gave (key, value) pairs and others "
                        "dict rows; process_record must yield one or the other")
    stage = storage.join(output, STAGE_DIR)
    if pairs or staged:
        for old in _parts(output):  # an interrupted final phase starts over
            storage.delete(old)
    if pairs:
        _reduce_pairs(job, executor, stage, output, num_output_partitions or 1, totals)
    elif staged:
        _run_global(job, executor, stage, output, num_output_partitions, totals)
    totals["rows_written"] = sum(_num_rows(p) for p in _parts(output))
    for key in [k for k in totals if k.startswith("tasks.")]:
        del totals[key]
    write_counters(output, totals)
    mark_success(output)
    storage.delete(stage)
    storage.delete(storage.join(output, TASKS_DIR))
    log.info("crawl done: %s", totals.summary())
    return totals


def _parts(directory: str, prefix: str = "part") -> list[str]:
    if not storage.exists(directory):
        return []
    return sorted(f for f in storage.list_files(directory, recursive=False)
                  if f.rsplit("/", 1)[-1].startswith(prefix + "-") and f.endswith(".parquet"))


def _num_rows(uri: str) -> int:
    with storage.open_file(uri) as f:
        return pq.ParquetFile(f).metadata.num_rows


def _iter_batches(uris: Iterable[str]) -> Iterator[pa.RecordBatch]:
    for uri in uris:
        with storage.open_file(uri) as f:
            yield from pq.ParquetFile(f).iter_batches(BATCH_ROWS)


def _staged_rows(parts: Iterable[str]) -> Iterator[Row]:
    for batch in _iter_batches(parts):
        yield from batch.to_pylist()


class _Sink:
    """Writes rows to output parts in order: a new part when the key changes, one open."""

    def __init__(self, output: str, schema: pa.Schema | None) -> None:
        self.output, self.schema = output, schema
        self.key: int | None = None
        self.writer: _PartWriter | None = None

    def add(self, key: int, row: Row) -> None:
        if key != self.key:
            self.close()
            self.key = key
            self.writer = _PartWriter(storage.join(self.output, _part_name("part", key)),
                                      self.schema, keep_order=False)
        self.writer.add(row)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


# -- global steps: a reduce by key over the staged parts -------------------------------------

def _first_and_later(a: tuple[int, tuple], b: tuple[int, tuple]) -> tuple[int, tuple]:
    """A key's (first row, later rows): the earliest row holding it, and every other one."""
    first, later = (a, b) if a[0] < b[0] else (b, a)
    return first[0], first[1] + later[1] + (later[0],)


class _StepKeys:
    """A staged part's (key, (row, ())) pairs for one global step, rows dropped already left
    out (a step sees the rows the steps before it kept)."""

    def __init__(self, step: Step, dropped: frozenset[int]) -> None:
        self.step, self.dropped = step, dropped

    def __call__(self, part: str) -> Iterator[tuple[Any, tuple[int, tuple]]]:
        for row in _staged_rows([part]):
            order = row[ORDER_COLUMN]
            if order not in self.dropped:
                for key in set(self.step.row_keys(row)):
                    yield key, (order, ())


class _WritePart:
    """One staged part's rows, less the dropped ones, as the output part of the same name."""

    def __init__(self, output: str, schema: pa.Schema | None, dropped: frozenset[int]) -> None:
        self.output, self.schema, self.dropped = output, schema, dropped

    def __call__(self, part: str) -> None:
        writer = _PartWriter(storage.join(self.output, part.rsplit("/", 1)[-1]), self.schema,
                             keep_order=False)
        for row in _staged_rows([part]):
            if row[ORDER_COLUMN] not in self.dropped:
                writer.add(row)
        writer.close()


def _run_global(job: CrawlJob, executor: Executor, stage: str, out: str, n: int | None,
                totals: Counters) -> None:
    """Global steps see every row in input order: a row is dropped when one of its keys stood
    on an earlier row (the executor's reduce by key finds each key's first row). The output
    keeps one part per input file, or `n` parts of contiguous rows (sized from the staged
    rows, so after dedup the last parts may be smaller or absent, as with Spark's
    coalesce)."""
    parts = _parts(stage)
    staged_rows = sum(_num_rows(p) for p in parts)
    dropped: set[int] = set()
    for step in job.global_steps:
        before = staged_rows - len(dropped)
        pairs = executor.reduce_by_key(_StepKeys(step, frozenset(dropped)), parts, _first_and_later)
        newly = {row for _, (_, later) in pairs for row in later}
        dropped |= newly
        if before - len(newly):
            totals[f"{step.name}.kept"] += before - len(newly)
        if newly:
            totals[f"{step.name}.dropped.duplicate"] += len(newly)
    schema = job.output_arrow_schema(pairs=False)
    if not n:
        executor.map(_WritePart(out, schema, frozenset(dropped)), parts)
        return
    per_part = -(-staged_rows // n)
    sink = _Sink(out, schema)
    kept = (row for row in _staged_rows(parts) if row[ORDER_COLUMN] not in dropped)
    for i, row in enumerate(kept):
        sink.add(i // per_part, row)
    sink.close()


# -- (key, value) jobs: cc-pyspark's reduceByKey ---------------------------------------------

def _staged_pairs(part: str) -> Iterator[tuple[Any, Any]]:
    for batch in _iter_batches([part]):
        for key, val in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist()):
            yield pickle.loads(key), pickle.loads(val)


def _reduce_pairs(job: CrawlJob, executor: Executor, stage: str, out: str, n: int,
                  totals: Counters) -> None:
    """cc-pyspark's `reduceByKey` over every task's combined pairs, written in key order.
    Memory holds one entry per distinct key."""
    combined = dict(executor.reduce_by_key(_staged_pairs, _parts(stage, "pairs"),
                                           job.reduce_by_key_func))
    try:
        keys = sorted(combined)
    except TypeError:
        keys = list(combined)
    totals["keys"] = len(keys)
    schema = job.output_arrow_schema(pairs=True)
    per_part = max(1, -(-len(keys) // n))
    sink = _Sink(out, schema)
    for i, key in enumerate(keys):
        sink.add(i // per_part, {"key": key, "val": combined.pop(key)})
    sink.close()
