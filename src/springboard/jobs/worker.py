"""A job's own process, `python -m springboard.jobs.worker NAME` (started by runner.launch): runs
the job's body with its typed config, stops it past its MaxRuntimeInSeconds, and records how it
ended."""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
import threading
import time
from typing import Any

from springboard.errors import JobStopped, SpringboardError
from springboard.jobs.context import JobContext
from springboard.jobs.kinds import kind_named
from springboard.jobs.model import Job
from springboard.jobs.runner import process_start
from springboard.jobs.store import JobStore

log = logging.getLogger("springboard.jobs")

# A job past its MaxRuntimeInSeconds is asked to stop; one still running this much later is
# terminated (SIGTERM: it stops where it is, as `runner.stop` does after its grace).
MAX_RUNTIME_GRACE_S = 60.0


def run_worker(name: str, store: JobStore | None = None) -> Job:
    """The body of a worker process: runs the job's body with its typed config, stops it past
    its MaxRuntimeInSeconds, and records how it ended."""
    store = store or JobStore()
    job = store.get(name)
    store.update(
        name, pid=os.getpid(), pid_start=process_start(os.getpid()), attempts=job.attempts + 1,
        started=job.start_time or time.time(),
    )
    job = store.get(name)
    ctx = JobContext(store, job)
    _log_to_stderr()

    def on_term(*_: Any) -> None:
        # SIGTERM becomes a clean stop instead of a lost job, except while the output is
        # written: then the job finishes (see JobContext.enter_final).
        if not ctx.final:
            raise JobStopped(f"job {name} terminated")

    signal.signal(signal.SIGTERM, on_term)
    done = threading.Event()
    if job.max_runtime:
        threading.Thread(target=_enforce_max_runtime, args=(store, job, done), daemon=True).start()
    try:
        module_name, _, func_name = job.entrypoint.partition(":")
        func = getattr(importlib.import_module(module_name), func_name)  # registers the kind
        func(ctx, kind_named(job.kind).parse(job.config))
    except JobStopped:
        store.set_status(name, "Stopped", "Stopped", _stopped_message(store.get(name)))
    except Exception as exc:  # noqa: BLE001 - every failure must reach the store
        reason = str(exc) if isinstance(exc, SpringboardError) else f"{type(exc).__name__}: {exc}"
        log.exception("job %s failed", name)
        store.set_status(name, "Failed", "Failed", reason[:1024], failure_reason=reason)
    else:
        if store.get(name).status == "Stopping":
            store.set_status(name, "Stopped", "Stopped", _stopped_message(store.get(name)))
        else:
            store.set_status(name, "Completed", "Completed", "Job completed")
    finally:
        done.set()
    return store.get(name)


def _enforce_max_runtime(store: JobStore, job: Job, done: threading.Event) -> None:
    """StoppingCondition.MaxRuntimeInSeconds, for every kind (a thread of the worker): once the
    job has run that long since it first started, it is asked to stop (secondary status
    MaxRuntimeExceeded, as SageMaker); if it is still running MAX_RUNTIME_GRACE_S later, the
    worker is sent SIGTERM. A job already writing its output finishes (JobContext.enter_final)."""
    limit = float(job.max_runtime or 0)
    if done.wait(max(0.0, (job.start_time or time.time()) + limit - time.time())):
        return
    stopping = store.request_stop(job.name, "MaxRuntimeExceeded", f"the job ran longer than MaxRuntimeInSeconds={limit:g}")
    if stopping.status == "Stopping" and stopping.secondary_status == "MaxRuntimeExceeded":
        log.warning("job %s: MaxRuntimeInSeconds=%g exceeded, stopping", job.name, limit)
        if not done.wait(MAX_RUNTIME_GRACE_S):
            os.kill(os.getpid(), signal.SIGTERM)


def _stopped_message(job: Job) -> str:
    if job.max_runtime and "MaxRuntimeExceeded" in (t.status for t in job.transitions):
        return f"Stopped: MaxRuntimeInSeconds={job.max_runtime:g} exceeded"
    return "Stopped on request"


def _log_to_stderr() -> None:
    """The worker's stderr is the job's log file (see `launch`)."""
    root = logging.getLogger()
    if not any(isinstance(h, logging.StreamHandler) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(logging.INFO)


if __name__ == "__main__":
    ended = run_worker(sys.argv[1])
    sys.exit(0 if ended.status in ("Completed", "Stopped") else 1)
