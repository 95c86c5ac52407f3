"""The Spark executor: one Spark task per item (one partition each), run as one Spark job.
`local[N]` by default; any `--master` URL, or the session `spark-submit` made. Python workers
are reused across partitions (Spark's default), so `worker_cached` objects load once per
worker. Items and results travel pickled (cloudpickle), so they stay small: tasks name their
input and write their output themselves."""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

from springboard.executors.base import Executor

log = logging.getLogger("springboard.executors")

T = TypeVar("T")
R = TypeVar("R")
K = TypeVar("K")
V = TypeVar("V")


def get_session(master: str = "local[*]", app_name: str = "springboard"):
    """The active SparkSession (e.g. under spark-submit), else a new one on `master`."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        from springboard.errors import ValidationError

        raise ValidationError("the Spark runner needs pyspark: pip install 'springboard[spark]'") from None
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    # workers must run the driver's interpreter, which has springboard installed
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    return (SparkSession.builder.master(master).appName(app_name)
            .config("spark.ui.enabled", "false")
            .config("spark.python.worker.reuse", "true")
            .config("spark.sql.shuffle.partitions", "8")
            .getOrCreate())


class SparkExecutor(Executor):
    def __init__(self, master: str = "local[*]", spark: Any = None, app_name: str = "springboard") -> None:
        self.master = master
        self._spark = spark
        self.app_name = app_name

    @property
    def spark(self):
        if self._spark is None:
            self._spark = get_session(self.master, self.app_name)
        return self._spark

    @property
    def workers(self) -> int:
        return int(self.spark.sparkContext.defaultParallelism)

    def map(
        self,
        fn: Callable[[T], R],
        tasks: Sequence[T],
        on_tick: Callable[[], None] | None = None,
        tick: float = 1.0,
        on_result: Callable[[int, T, R], None] | None = None,
    ) -> list[R]:
        """As LocalExecutor.map; `on_result` runs for every task once the Spark job has
        ended (in task order): Spark hands results back together."""
        tasks = list(tasks)
        if not tasks:
            return []
        sc = self.spark.sparkContext
        indexed = list(enumerate(tasks))

        def run_partition(items):
            for i, task in items:
                yield i, fn(task)

        rdd = sc.parallelize(indexed, len(indexed)).mapPartitions(run_partition)
        box: dict[str, Any] = {}

        def collect() -> None:
            try:
                box["results"] = rdd.collect()
            except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
                box["error"] = exc

        thread = threading.Thread(target=collect, name="spark-collect", daemon=True)
        thread.start()
        tick_error: BaseException | None = None
        while thread.is_alive():
            thread.join(tick)
            if on_tick is not None and tick_error is None and thread.is_alive():
                try:
                    on_tick()
                except BaseException as exc:  # noqa: BLE001
                    tick_error = exc
                    sc.cancelAllJobs()
        if tick_error is not None:
            raise tick_error
        if "error" in box:
            raise box["error"]
        results = [r for _, r in sorted(box["results"], key=lambda x: x[0])]
        if on_result is not None:
            for i, (task, result) in enumerate(zip(tasks, results)):
                on_result(i, task, result)
        return results

    def reduce_by_key(
        self,
        fn: Callable[[T], Iterable[tuple[K, V]]],
        tasks: Sequence[T],
        reduce: Callable[[V, V], V],
    ) -> Iterator[tuple[K, V]]:
        """Spark's reduceByKey over the pairs of one Spark task per item; the reduced pairs
        come back to this process a partition at a time."""
        tasks = list(tasks)
        if not tasks:
            return iter(())
        sc = self.spark.sparkContext
        rdd = sc.parallelize(tasks, len(tasks)).flatMap(fn).reduceByKey(reduce)
        return rdd.toLocalIterator()
