"""The launcher, run by the job's worker process: it starts `accelerate launch`, which starts
one rank per process (`python -m springboard.train.distributed JOB`), and turns the ranks'
ending into the job's ending. The job store still knows one job and one worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from springboard.errors import JobStopped
from springboard.train.distributed.plan import (
    DEFAULT_TIMEOUT_S,
    TIMEOUT_ENV,
    DistributedTrainingError,
    LaunchPlan,
)

RANKS_DIR = "ranks"


def rank_dir(job_dir: Path) -> Path:
    return Path(job_dir) / RANKS_DIR


def launch(ctx: Any, plan: LaunchPlan) -> None:
    """Runs the job's ranks under `accelerate launch` and waits for them. Returns when they
    all finished (or stopped on request); raises when one failed or died."""
    ranks = rank_dir(ctx.job_dir)
    ranks.mkdir(parents=True, exist_ok=True)
    for old in ranks.iterdir():
        old.unlink()
    cmd = plan.command(ctx.name)
    env = dict(os.environ)
    env.setdefault(TIMEOUT_ENV, str(DEFAULT_TIMEOUT_S))
    env.setdefault("OMP_NUM_THREADS", "1")  # torchrun's choice too: one thread per rank
    ctx.log.info("%s: %s", plan.describe(), " ".join(cmd[1:]))
    sys.stderr.flush()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, env=env, preexec_fn=_die_with_parent)
    try:
        code = proc.wait()
    finally:
        if proc.poll() is None:  # the worker is being stopped: take the ranks down with it
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    if code == 0:
        return
    if ctx.should_stop():
        raise JobStopped("training stopped on request; resume continues from the checkpoint")
    errors = [f"rank {p.stem}: {p.read_text().strip()}" for p in sorted(ranks.glob("*.error"))]
    detail = "; ".join(errors) if errors else (
        "a training process died (killed or out of memory); see the job log"
    )
    raise DistributedTrainingError(
        f"distributed training failed (launcher exit code {code}): {detail}. "
        f"`springboard jobs resume {ctx.name}` continues from the last checkpoint"
    )


def _die_with_parent() -> None:
    """The launcher gets SIGTERM (so it can take its ranks down) if the worker dies, so ranks
    never outlive their job."""
    from springboard.executors import die_with_parent

    die_with_parent(signal.SIGTERM)


def rank_pids(job_dir: Path) -> dict[int, int]:
    """{rank: pid} of a running distributed job's ranks."""
    out = {}
    for p in rank_dir(job_dir).glob("*.pid"):
        out[int(p.stem)] = int(p.read_text())
    return out
