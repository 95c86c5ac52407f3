"""Body of one rank: `python -m springboard.train.distributed JOB`, started by `accelerate launch`.

It sits above the training job (`springboard.train.job.train`), which itself uses the plan,
launcher and runtime below it, so it is the only part of the package that imports the job."""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

import torch

from springboard.errors import JobStopped, SpringboardError
from springboard.jobs.runner import JobContext
from springboard.jobs.store import JobStore
from springboard.train.distributed.launcher import rank_dir
from springboard.train.distributed.runtime import Distributed, init_rank
from springboard.train.job import train

log = logging.getLogger("springboard.train")


def rank_context(store: Any, job: Any, dist: Distributed) -> Any:
    """The job's context seen from one rank: rank 0 reports to the job store as a single
    worker would; the other ranks read the same configuration and directories and leave the
    reporting (status, metrics, config, stop requests) to rank 0."""

    class RankContext(JobContext):
        def set_secondary_status(self, status: str, message: str = "") -> None:
            if dist.is_main:
                super().set_secondary_status(status, message)

        def log_metrics(self, *args: Any, **kwargs: Any) -> None:
            if dist.is_main:
                super().log_metrics(*args, **kwargs)

        def update_config(self, **values: Any) -> None:
            if dist.is_main:
                super().update_config(**values)
            else:
                self.config = {**self.config, **values}

        def should_stop(self) -> bool:
            return super().should_stop() if dist.is_main else False

    return RankContext(store, job)


def rank_main(name: str) -> int:
    """Body of one rank: `python -m springboard.train.distributed JOB` (under accelerate launch)."""
    dist = init_rank()
    _log_setup(dist)
    store = JobStore()
    job = store.get(name)
    ranks = rank_dir(job.job_dir)
    (ranks / f"{dist.rank}.pid").write_text(str(os.getpid()))
    ctx = rank_context(store, job, dist)
    try:
        train(ctx, dist)
    except JobStopped:
        log.info("rank %d: stopped", dist.rank)
        return 0
    except Exception as exc:  # noqa: BLE001 - the worker turns this into the job's failure reason
        reason = str(exc) if isinstance(exc, SpringboardError) else f"{type(exc).__name__}: {exc}"
        (ranks / f"{dist.rank}.error").write_text(reason[:2000])
        log.exception("rank %d failed", dist.rank)
        return 1
    if dist.is_main and dist.comm_steps:
        ms = 1000 * dist.comm_seconds / dist.comm_steps
        log.info("gradient all-reduce: %.2f ms per optimizer step over %d steps", ms, dist.comm_steps)
        (ranks / "comm.json").write_text(json.dumps(
            {"all_reduce_seconds": dist.comm_seconds, "steps": dist.comm_steps, "world_size": dist.world_size}
        ))
    return 0


def _log_setup(dist: Distributed) -> None:
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s rank{dist.rank} %(name)s: %(message)s"))
    root.handlers[:] = [handler]
    # One voice in the job log: the other ranks speak only of trouble.
    root.setLevel(logging.INFO if dist.is_main else logging.WARNING)


if __name__ == "__main__":
    code = rank_main(sys.argv[1])
    if torch.distributed.is_initialized() and code == 0:
        # Every rank reaches the end before any tears its gloo pairs down: a rank that destroyed the
        # group while rank 0 was still writing the artifact aborted now and then ("terminate called
        # without an active exception", SIGABRT) and failed a finished job. After a failure the
        # group is left alone (destroying it while a peer is in a collective can hang).
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    sys.exit(code)
