"""The executor interface and the per-worker-process cache."""

from __future__ import annotations

import threading
from typing import Any, Callable, Protocol, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_cache: dict[Any, Any] = {}
_cache_lock = threading.Lock()


def worker_cached(key: Any, factory: Callable[[], T]) -> T:
    """The object `factory()` made for `key` in this process, made on first use."""
    with _cache_lock:
        if key not in _cache:
            _cache[key] = factory()
        return _cache[key]


def ship_by_value(*types: type) -> None:
    """Pickle the modules of `types` by value (cloudpickle, and pyspark's copy of it when
    installed): for classes of a user's script or any module the workers cannot import by name."""
    import sys

    import cloudpickle

    picklers = [cloudpickle]
    try:
        from pyspark import cloudpickle as spark_cloudpickle

        picklers.append(spark_cloudpickle)
    except ImportError:
        pass
    for obj in types:
        mod = sys.modules.get(obj.__module__)
        if mod is None or obj.__module__.startswith(("springboard.", "builtins", "__main__")):
            continue  # __main__ is pickled by value already
        for pickler in picklers:
            pickler.register_pickle_by_value(mod)


class Executor(Protocol):
    workers: int

    def map(
        self,
        fn: Callable[[T], R],
        tasks: Sequence[T],
        on_tick: Callable[[], None] | None = None,
        tick: float = 1.0,
        on_result: Callable[[int, T, R], None] | None = None,
    ) -> list[R]:
        """`fn(task)` for every task, results in task order. `on_tick` runs in the calling
        process about every `tick` seconds while tasks run (progress, stop requests);
        `on_result(index, task, result)` runs there as each task's result arrives. An
        exception either raises cancels what has not started and is raised after the tasks in
        flight return. `fn` and the tasks are cloudpickled (see `ship_by_value`)."""
        ...
