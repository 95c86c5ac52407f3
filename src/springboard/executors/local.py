"""The local executor: a process pool (spawned workers, so a parent that already imported torch
forks nothing it cannot); one worker runs the tasks in this process."""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from typing import Any, Callable, Sequence, TypeVar

from springboard.executors.base import Executor, die_with_parent

log = logging.getLogger("springboard.executors")

T = TypeVar("T")
R = TypeVar("R")


def _init_worker(log_level: int) -> None:
    die_with_parent()
    # A spawned worker starts with bare logging: send its records where the parent's go (a
    # job's stderr is its log file), at the parent's level.
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s %(name)s[{os.getpid()}]: %(message)s"))
        root.addHandler(handler)
    root.setLevel(log_level)


def _run_pickled(payload: bytes) -> Any:
    """Runs a cloudpickled (fn, task) in a worker: functions and classes of a user's script (or
    of a module registered with `ship_by_value`) travel by value, so spawned workers need not
    import them by name."""
    import cloudpickle

    fn, task = cloudpickle.loads(payload)
    return fn(task)


class LocalExecutor(Executor):
    def __init__(self, workers: int = 1, start_method: str = "spawn") -> None:
        """`start_method`: "spawn" (default: safe after torch was imported) or "fork"."""
        self.workers = max(1, int(workers))
        self.start_method = start_method

    def map(
        self,
        fn: Callable[[T], R],
        tasks: Sequence[T],
        on_tick: Callable[[], None] | None = None,
        tick: float = 1.0,
        on_result: Callable[[int, T, R], None] | None = None,
    ) -> list[R]:
        tasks = list(tasks)
        if self.workers == 1:
            results = []
            for i, task in enumerate(tasks):
                results.append(fn(task))
                if on_result is not None:
                    on_result(i, task, results[-1])
                if on_tick is not None:
                    on_tick()
            return results
        import cloudpickle

        ctx = multiprocessing.get_context(self.start_method)
        level = logging.getLogger().getEffectiveLevel()
        with ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(level,)) as pool:
            futures = [pool.submit(_run_pickled, cloudpickle.dumps((fn, task))) for task in tasks]
            index = {f: i for i, f in enumerate(futures)}
            pending = set(futures)
            error: BaseException | None = None
            while pending:
                done, pending = wait(pending, timeout=tick, return_when=FIRST_EXCEPTION)
                for fut in sorted(done, key=index.__getitem__):
                    if fut.exception() is not None:
                        error = error or fut.exception()
                    elif on_result is not None and error is None:
                        try:
                            on_result(index[fut], tasks[index[fut]], fut.result())
                        except BaseException as exc:  # noqa: BLE001 - raised once the pool is drained
                            error = exc
                if error is None and on_tick is not None:
                    try:
                        on_tick()
                    except BaseException as exc:  # noqa: BLE001 - raised once the pool is drained
                        error = exc
                if error is not None:
                    for fut in pending:
                        fut.cancel()
                    # tasks already running finish (they watch for a stop themselves)
                    wait(pending)
                    raise error
            return [f.result() for f in futures]
