"""The local executor: a process pool (spawned workers, so a parent that already imported torch
forks nothing it cannot); one worker runs the tasks in this process."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from typing import Callable, Sequence, TypeVar

log = logging.getLogger("springboard.executors")

T = TypeVar("T")
R = TypeVar("R")


def _die_with_parent() -> None:
    """A worker must not outlive its parent (a job's worker killed with SIGKILL would leave
    orphans still writing output). Linux's PR_SET_PDEATHSIG does it; elsewhere the pool's own
    pipe breaking ends the worker at its next task."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:  # pragma: no cover - no glibc
            pass
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def _init_worker(log_level: int) -> None:
    _die_with_parent()
    # A spawned worker starts with bare logging: send its records where the parent's go (a
    # job's stderr is its log file), at the parent's level.
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s %(name)s[{os.getpid()}]: %(message)s"))
        root.addHandler(handler)
    root.setLevel(log_level)


class LocalExecutor:
    def __init__(self, workers: int = 1) -> None:
        self.workers = max(1, int(workers))

    def map(
        self,
        fn: Callable[[T], R],
        tasks: Sequence[T],
        on_tick: Callable[[], None] | None = None,
        tick: float = 1.0,
    ) -> list[R]:
        tasks = list(tasks)
        if self.workers == 1:
            results = []
            for task in tasks:
                results.append(fn(task))
                if on_tick is not None:
                    on_tick()
            return results
        ctx = multiprocessing.get_context("spawn")
        level = logging.getLogger().getEffectiveLevel()
        with ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(level,)) as pool:
            futures = [pool.submit(fn, task) for task in tasks]
            pending = set(futures)
            error: BaseException | None = None
            while pending:
                done, pending = wait(pending, timeout=tick, return_when=FIRST_EXCEPTION)
                for fut in done:
                    if fut.exception() is not None and error is None:
                        error = fut.exception()
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
