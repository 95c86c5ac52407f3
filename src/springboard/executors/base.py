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


class Executor(Protocol):
    workers: int

    def map(
        self,
        fn: Callable[[T], R],
        tasks: Sequence[T],
        on_tick: Callable[[], None] | None = None,
        tick: float = 1.0,
    ) -> list[R]:
        """`fn(task)` for every task, results in task order. `on_tick` runs in the calling
        process about every `tick` seconds while tasks run (progress, stop requests); an
        exception it raises cancels what has not started and is raised after the tasks in
        flight return."""
        ...
