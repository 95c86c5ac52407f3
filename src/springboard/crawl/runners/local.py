"""The local runner: a process pool over input files (one task per file), each worker writing
its own Parquet part; global steps (dedup) then run over all parts in input order."""

from __future__ import annotations

import logging
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Callable, Iterable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from springboard.crawl.dedup import ORDER_COLUMN
from springboard.crawl.job import CrawlJob, Task, TaskResult, to_table
from springboard.crawl.record import Counters, Row
from springboard.crawl.runners.common import prepare_output, write_counters
from springboard.crawl.steps import run_pipeline, step_counters

log = logging.getLogger("springboard.crawl")

BATCH_ROWS = 1000
OnFile = Callable[[int, int, TaskResult, Counters], None]


class _PartWriter:
    """Batches rows into one Parquet file; the schema is the job's, or the first batch's."""

    def __init__(self, path: Path, schema: pa.Schema | None, keep_order: bool) -> None:
        self.path, self.schema, self.keep_order = path, schema, keep_order
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
        table = to_table(self.batch, self.schema)
        if not self.keep_order and ORDER_COLUMN in table.column_names:
            table = table.drop_columns([ORDER_COLUMN])
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema)
        self.writer.write_table(table.cast(self.writer.schema))
        self.rows += len(self.batch)
        self.batch = []

    def close(self) -> int:
        self.flush()
        if self.writer is not None:
            self.writer.close()
        return self.rows


def _run_task(job: CrawlJob, task: Task, out_dir: str, keep_order: bool) -> TaskResult:
    result = TaskResult(task)
    start = time.monotonic()
    writer = _PartWriter(Path(out_dir) / f"part-{task.index:05d}.parquet", job.output_schema,
                         keep_order)
    for row in job.iter_task(task, result.counters):
        writer.add(row)
    writer.close()
    log.debug("%s done in %.2fs", task.label(), time.monotonic() - start)
    return result


def _progress(total: int):
    if sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(total=total, unit="file", desc="crawl")
    return None


def run_local(
    job: CrawlJob,
    tasks: list[Task],
    output: str,
    processes: int | None = None,
    num_output_partitions: int | None = None,
    overwrite: bool = False,
    on_file: OnFile | None = None,
) -> Counters:
    """Runs `job` over `tasks`, writing `output/part-NNNNN.parquet` (one per input file, or
    `num_output_partitions`), `_counters.json` and `_SUCCESS`; returns the counters."""
    prepare_output(output, overwrite)
    out = Path(output.removeprefix("file://"))
    has_global = bool(job.global_steps)
    stage = out / "_stage" if has_global else out
    stage.mkdir(parents=True, exist_ok=True)
    processes = max(1, min(processes or os.cpu_count() or 1, len(tasks)))
    totals = Counters()
    bar = _progress(len(tasks))

    def finished(done: int, result: TaskResult) -> None:
        totals.update(result.counters)
        c = result.counters
        if bar is not None:
            bar.update(1)
            bar.set_postfix(rows=totals.get("rows_kept", 0))
        else:
            log.info("[%d/%d] %s: %d records read, %d rows kept, %d errors", done, len(tasks),
                     result.task.label(), c.get("records_read", 0), c.get("rows_kept", 0),
                     sum(v for k, v in c.items() if k.startswith("errors.")))
        if on_file is not None:
            on_file(done, len(tasks), result, totals)

    try:
        if processes == 1:
            for done, task in enumerate(tasks, 1):
                finished(done, _run_task(job, task, str(stage), has_global))
        else:
            with ProcessPoolExecutor(processes) as pool:
                futures = [pool.submit(_run_task, job, t, str(stage), has_global) for t in tasks]
                try:
                    for done, fut in enumerate(as_completed(futures), 1):
                        finished(done, fut.result())
                except BaseException:
                    for fut in futures:
                        fut.cancel()
                    raise
    finally:
        if bar is not None:
            bar.close()

    if has_global:
        _run_global(job, tasks, stage, out, totals)
    if num_output_partitions:
        _repartition(out, num_output_partitions)
    totals["rows_written"] = sum(pq.ParquetFile(p).metadata.num_rows for p in _parts(out))
    write_counters(str(out), totals)
    (out / "_SUCCESS").touch()
    log.info("crawl done: %s", totals.summary())
    return totals


def _parts(directory: Path) -> list[Path]:
    return sorted(directory.glob("part-*.parquet"))


def _staged_rows(parts: Iterable[Path]) -> Iterator[Row]:
    for part in parts:
        for batch in pq.ParquetFile(part).iter_batches(BATCH_ROWS):
            yield from batch.to_pylist()


def _run_global(job: CrawlJob, tasks: list[Task], stage: Path, out: Path, totals: Counters) -> None:
    """Global steps see every row in input order; the output keeps one part per input file."""
    import shutil

    steps = job.global_steps
    for step in steps:
        step.stats.clear()
    writers: dict[int, _PartWriter] = {}
    schema = job.output_schema
    for row in run_pipeline(steps, _staged_rows(_parts(stage))):
        idx = row[ORDER_COLUMN] >> 32
        if idx not in writers:
            writers[idx] = _PartWriter(out / f"part-{idx:05d}.parquet", schema, keep_order=False)
        writers[idx].add(row)
    for w in writers.values():
        w.close()
    totals.update(step_counters(steps))
    shutil.rmtree(stage)


def _repartition(out: Path, n: int) -> None:
    """Rewrites the parts as `n` files of contiguous rows (the seed's coalesce)."""
    parts = _parts(out)
    if not parts:
        return
    table = pa.concat_tables([pq.read_table(p) for p in parts], promote_options="default")
    for p in parts:
        p.unlink()
    size = -(-table.num_rows // n) if table.num_rows else 0
    for i in range(n):
        pq.write_table(table.slice(i * size, size) if size else table.slice(0, 0),
                       out / f"part-{i:05d}.parquet")
