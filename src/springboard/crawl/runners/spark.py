"""The Spark runner: the same job object and tasks, one Spark task per input file, output
Parquet written by Spark. `local[*]` by default; `--master` (or `spark-submit` with
`springboard/crawl/spark_main.py`) for a cluster.

Counters travel back in an accumulator. The rows are persisted and counted once before any
global step, so neither the work nor the counters happen twice when dedup reuses them."""

from __future__ import annotations

import logging
import sys
from typing import Any, Iterator

from springboard.crawl.dedup import ORDER_COLUMN
from springboard.crawl.job import MAX_ERROR_SAMPLES, CrawlJob, Pairs, Task, check_outcome
from springboard.crawl.record import Counters
from springboard.crawl.runners.common import prepare_output, write_counters
from springboard.crawl.steps import Step
from springboard.errors import DataError

log = logging.getLogger("springboard.crawl")


def get_session(master: str = "local[*]", app_name: str = "springboard-crawl"):
    """The active SparkSession (e.g. under spark-submit), else a new one on `master`: the one
    session helper of `springboard.executors`."""
    from springboard.executors.spark import get_session as session

    return session(master, app_name)


def _ship_by_value(job: CrawlJob) -> None:
    """A job class defined in a user's script (or a test module) is not importable on the
    executors; pickling its module by value sends the code along, like `--py-files`."""
    from pyspark import cloudpickle

    seen = set()
    for obj in [type(job), *(type(s) for s in job.steps)]:
        mod = sys.modules.get(obj.__module__)
        if mod is None or obj.__module__.startswith(("springboard.", "builtins")) or mod in seen:
            continue
        if obj.__module__ != "__main__":
            cloudpickle.register_pickle_by_value(mod)
        seen.add(mod)


def _spark_schema(job: CrawlJob, pairs: bool = False):
    from pyspark.sql.pandas.types import from_arrow_schema
    from pyspark.sql.types import LongType, StructField

    arrow = job.output_arrow_schema(pairs)
    if arrow is None:
        return None
    schema = from_arrow_schema(arrow)
    if not pairs:
        schema.add(StructField(ORDER_COLUMN, LongType(), False))
    return schema


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
    to `output` (any Hadoop/fsspec location Spark can write) and returns the counters."""
    from pyspark import AccumulatorParam
    from pyspark.sql import Row as SparkRow

    class CountersParam(AccumulatorParam):
        def zero(self, value: Counters) -> Counters:
            return Counters()

        def addInPlace(self, a: Counters, b: Counters) -> Counters:
            a.update(b)
            return a

    class SamplesParam(AccumulatorParam):
        def zero(self, value: list) -> list:
            return []

        def addInPlace(self, a: list, b: list) -> list:
            return (a + b)[:MAX_ERROR_SAMPLES]

    prepare_output(output, overwrite)
    spark = spark or get_session(master)
    sc = spark.sparkContext
    _ship_by_value(job)
    acc = sc.accumulator(Counters(), CountersParam())
    samples = sc.accumulator([], SamplesParam())
    row_job = job

    def run_partition(items: Iterator[Task]) -> Iterator[dict | tuple]:
        for task in items:
            counters, errors = Counters(), []
            for item in row_job.iter_task(task, counters, errors):
                if isinstance(item, Pairs):
                    yield from item
                else:
                    yield item
            acc.add(counters)
            samples.add(errors)

    from pyspark import StorageLevel

    rdd = (sc.parallelize(tasks, max(1, len(tasks))).mapPartitions(run_partition)
           .persist(StorageLevel.MEMORY_AND_DISK))
    kinds = rdd.map(lambda item: isinstance(item, tuple)).countByValue()
    check_outcome(Counters(acc.value), list(samples.value))
    if kinds.get(True) and kinds.get(False):
        raise DataError(f"{type(job).__name__}: process_record yielded both dict rows and "
                        "(key, value) pairs; a job yields one or the other")
    if kinds.get(True):
        return _write_pairs(job, rdd, spark, output, num_output_partitions, Counters(acc.value))
    schema = _spark_schema(job)
    if schema is not None:
        names = schema.fieldNames()
        df = spark.createDataFrame(rdd.map(lambda r: tuple(r.get(n) for n in names)), schema)
    else:
        df = spark.createDataFrame(rdd.map(lambda r: SparkRow(**r)), samplingRatio=1.0)
    df = df.persist(StorageLevel.MEMORY_AND_DISK)
    n_rows = df.count()
    rdd.unpersist()
    totals = Counters(acc.value)
    for step in job.global_steps:
        df, n_rows = _apply_global(step, df, n_rows, totals)
    out = df.drop(ORDER_COLUMN)
    if num_output_partitions:
        out = out.coalesce(num_output_partitions)
    out.write.mode("overwrite").parquet(output)
    df.unpersist()
    totals["rows_written"] = n_rows
    write_counters(output, totals)
    log.info("crawl done (spark %s): %s", sc.master, totals.summary())
    return totals


def _write_pairs(job: CrawlJob, rdd: Any, spark: Any, output: str, n: int | None,
                 totals: Counters) -> Counters:
    """cc-pyspark's `run_job`: reduceByKey, then a DataFrame of the job's key/val schema."""
    reduced = rdd.reduceByKey(job.reduce_by_key_func)
    df = spark.createDataFrame(reduced, schema=_spark_schema(job, pairs=True)).persist()
    totals["keys"] = totals["rows_written"] = df.count()
    rdd.unpersist()
    df.coalesce(n or 1).write.mode("overwrite").parquet(output)
    df.unpersist()
    write_counters(output, totals)
    log.info("crawl done (spark): %s", totals.summary())
    return totals


def _apply_global(step: Step, df: Any, before: int, totals: Counters) -> tuple[Any, int]:
    from pyspark import StorageLevel

    apply = getattr(step, "spark_apply", None)
    if apply is None:
        raise NotImplementedError(f"{type(step).__name__} has no Spark implementation")
    result = apply(df).persist(StorageLevel.MEMORY_AND_DISK)
    after = result.count()
    totals[f"{step.name}.kept"] += after
    if before - after:
        totals[f"{step.name}.dropped.duplicate"] += before - after
    return result, after
