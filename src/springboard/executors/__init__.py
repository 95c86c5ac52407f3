"""How data-parallel work runs, shared by the rooms that split work into tasks (transform, and
the crawl): the same picklable task function over a list of tasks, on a local process pool or
on Spark (EMR Serverless submits a script that runs it on Spark). Steps never know which one
runs them (datatrove's split).

    executor = get_executor("local", workers=2)          # or "spark", master="local[2]"
    results = executor.map(fn, tasks, on_tick=poll)      # poll() runs about once a second
    pairs = executor.reduce_by_key(fn, tasks, min)       # fn(task) yields (key, value) pairs

`worker_cached(key, factory)` keeps one expensive object (a loaded model) per worker process,
reused by every task that process runs: a pool worker runs many tasks, and Spark reuses its
Python workers across partitions (`spark.python.worker.reuse`, on by default)."""

from __future__ import annotations

from springboard.executors.base import Executor, die_with_parent, ship_by_value, worker_cached
from springboard.executors.local import LocalExecutor
from springboard.executors.spark import SparkExecutor, get_session

__all__ = [
    "Executor", "LocalExecutor", "SparkExecutor", "die_with_parent", "get_executor", "get_session", "ship_by_value",
    "worker_cached",
]


def get_executor(runner: str, workers: int = 1, master: str | None = None) -> Executor:
    if runner == "local":
        return LocalExecutor(workers)
    if runner == "spark":
        return SparkExecutor(master or f"local[{workers}]")
    from springboard.errors import ValidationError

    raise ValidationError(f"unknown runner {runner!r}: use 'local' or 'spark'")
