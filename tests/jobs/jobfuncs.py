"""Job entrypoints used by the job-runner tests (imported by the worker process)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from springboard.errors import DataError
from springboard.jobs import JobKind, register


class Settings(BaseModel):
    """The runner tests' config: any fields (each body reads its own)."""

    model_config = ConfigDict(extra="allow")


def count(ctx, config):
    """Counts to config['n'], one step at a time, checkpointing each step; on a resumed
    attempt it continues from the checkpoint. Kills itself at config['die_at'] on attempt 1."""
    ckpt = Path(ctx.job_dir) / "ckpt.json"
    start = json.loads(ckpt.read_text())["i"] if ckpt.exists() else 0
    ctx.set_secondary_status("Training", f"from step {start}")
    every = ctx.config.get("ckpt_every", 1)
    for i in range(start, config.n):
        ctx.check_stop()
        ctx.log_metrics(step=i, epoch=i / 10, train_loss=1.0 / (i + 1), attempt=ctx.attempt)
        if (i + 1) % every == 0:
            ckpt.write_text(json.dumps({"i": i + 1}))
        if ctx.config.get("die_at") == i and ctx.attempt == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(ctx.config.get("sleep", 0.0))
    Path(ctx.output_dir).mkdir(parents=True, exist_ok=True)
    (Path(ctx.output_dir) / "done.txt").write_text(str(start))
    (Path(ctx.output_dir) / "typed.txt").write_text(f"{type(config).__name__} {config.n}")


def fail(ctx, config):
    raise DataError("missing key", file="train.jsonl", line=3, field="completion")


def crash(ctx, config):
    raise RuntimeError("boom")


def chatty(ctx, config):
    """Logs a numbered line per step and one last line just before it ends."""
    for i in range(ctx.config["n"]):
        ctx.log.info("line %d", i)
        time.sleep(ctx.config.get("sleep", 0.0))
    ctx.log.info("last line")


def finalize(ctx, config):
    """Waits for the test's `go` file, then writes its output in the final phase, slowly,
    until the test's `release` file appears."""
    job_dir = Path(ctx.job_dir)
    ctx.set_secondary_status("Training")
    while not (job_dir / "go").exists():
        ctx.check_stop()
        time.sleep(0.05)
    ctx.enter_final("Uploading", "writing the output")
    out = Path(ctx.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "part-1").write_text("1")
    (job_dir / "writing").write_text("")
    while not (job_dir / "release").exists():
        time.sleep(0.05)
    (out / "part-2").write_text("2")


register(JobKind("test", Settings, count, name_base=lambda config: "test"))
