"""The Spark runner: the same job object, tasks and task function as the local runner, mapped
by `springboard.executors.SparkExecutor` (one Spark task per input file); global steps and the
(key, value) reduce are Spark's reduceByKey. `local[*]` by default; `--master` (or
`spark-submit` with `springboard/crawl/spark_main.py`, as EMR Serverless runs it) for a
cluster. Executors write the parts through `springboard.storage`, so they need its
filesystems (local, `s3://`) as the driver does."""

from __future__ import annotations

from typing import Any

from springboard.crawl.pipeline import CrawlJob, Task
from springboard.crawl.record import Counters
from springboard.crawl.runners.local import run_tasks
from springboard.executors import SparkExecutor


def get_session(master: str = "local[*]", app_name: str = "springboard-crawl"):
    """The active SparkSession (e.g. under spark-submit), else a new one on `master`: the one
    session helper of `springboard.executors`."""
    from springboard.executors.spark import get_session as session

    return session(master, app_name)


def run_spark(
    job: CrawlJob,
    tasks: list[Task],
    output: str,
    master: str = "local[*]",
    num_output_partitions: int | None = None,
    overwrite: bool = False,
    spark: Any = None,
) -> Counters:
    """Runs `job` over `tasks` on Spark; writes Parquet parts, `_counters.json` and `_SUCCESS`
    to `output` and returns the counters, as `run_local` does (an unfinished run of the same
    configuration resumes)."""
    executor = SparkExecutor(master, spark=spark or get_session(master))
    return run_tasks(job, tasks, output, executor, num_output_partitions, overwrite)
