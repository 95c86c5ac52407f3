"""The executor interface, the per-worker-process cache, and what every process that runs
tasks for a parent needs (dying with it, code shipped by value)."""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")
K = TypeVar("K")
V = TypeVar("V")

_cache: dict[Any, Any] = {}
_cache_lock = threading.Lock()


def worker_cached(key: Any, factory: Callable[[], T]) -> T:
    """The object `factory()` made for `key` in this process, made on first use."""
    with _cache_lock:
        if key not in _cache:
            _cache[key] = factory()
        return _cache[key]


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """This process gets `sig` when its parent dies: a worker (a pool's, a launcher's ranks)
    must not outlive its parent, which killed with SIGKILL cannot end it (orphans would go on
    writing output). Linux's PR_SET_PDEATHSIG does it; elsewhere a pool's own pipe breaking
    ends its worker at the next task, and a job's process group still covers stop and kill.
    Callable as a pool initializer or as `subprocess.Popen(preexec_fn=...)`."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, sig)  # PR_SET_PDEATHSIG
        except OSError:  # pragma: no cover - no glibc
            pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def combine_by_key(pairs: Iterable[tuple[K, V]], reduce: Callable[[V, V], V],
                   into: dict[K, V] | None = None) -> dict[K, V]:
    """`pairs` folded into one value per key with `reduce` (in `into`, when given)."""
    out: dict[K, V] = {} if into is None else into
    for key, value in pairs:
        out[key] = reduce(out[key], value) if key in out else value
    return out


class CombineTask:
    """`fn(task)`'s (key, value) pairs combined by key inside the worker (the map-side combine
    of a reduce by key): what travels back is one pair per key."""

    def __init__(self, fn: Callable[[Any], Iterable[tuple[Any, Any]]], reduce: Callable[[Any, Any], Any]) -> None:
        self.fn, self.reduce = fn, reduce

    def __call__(self, task: Any) -> dict[Any, Any]:
        return combine_by_key(self.fn(task), self.reduce)


def ship_by_value(*types: type) -> None:
    """Pickle the modules of `types` by value (cloudpickle, and pyspark's copy of it when
    installed): for classes of a user's script or any module the workers cannot import by name."""
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


class Executor:
    """What an executor offers; `LocalExecutor` and `SparkExecutor` implement `map`."""

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
        raise NotImplementedError

    def reduce_by_key(
        self,
        fn: Callable[[T], Iterable[tuple[K, V]]],
        tasks: Sequence[T],
        reduce: Callable[[V, V], V],
    ) -> Iterator[tuple[K, V]]:
        """The (key, value) pairs `fn(task)` yields over all tasks, one per key, its values
        folded with `reduce` (associative and commutative: the order of folding is the
        executor's). A global reduction the steps express as data, never naming an engine.
        Here: each task's pairs are combined where it runs, then folded in this process (in
        task order); memory holds one entry per distinct key."""
        combined: dict[K, V] = {}
        for part in self.map(CombineTask(fn, reduce), tasks):
            combine_by_key(part.items(), reduce, into=combined)
        return iter(combined.items())
