"""Starting, watching, stopping and resuming jobs. Every job runs in its own detached
process (`python -m springboard.jobs.worker NAME`), so the caller may return at once and the
job outlives it (jobs/worker.py: the body with its typed config, stopped past its
MaxRuntimeInSeconds). This room imports no other room."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sqlite3
import sys
import time
from typing import Any, Callable, Iterator

from springboard.errors import ConflictError, SpringboardError
from springboard.jobs.context import JobContext  # noqa: F401  (its old home: train/distributed's ranks import it here)
from springboard.jobs.model import Job
from springboard.jobs.store import JobStore

log = logging.getLogger("springboard.jobs")

# A job is recorded, then its worker started within milliseconds; one still without a worker
# after this long lost its submitter in between and never will have one.
LAUNCH_GRACE_S = 120.0


def start_job(
    kind: str,
    name: str,
    entrypoint: str,
    config: dict[str, Any],
    output_dir: str | None = None,
    wait: bool = False,
    store: JobStore | None = None,
    also: Callable[[sqlite3.Connection], None] | None = None,
    max_runtime: float | None = None,
) -> Job:
    """Records a new job and starts its worker process (`jobs.submit` is the typed way in).
    `also`: written in the same transaction as the job (JobStore.create)."""
    store = store or JobStore()
    store.create(name, kind, entrypoint, config, output_dir, also=also, max_runtime=max_runtime)
    launch(name, store)
    return wait_for(name, store=store) if wait else store.get(name)


def launch(name: str, store: JobStore | None = None) -> Job:
    """Starts the job's worker process. If it cannot be started the job is Failed (never
    left InProgress with no process) and the error is raised."""
    store = store or JobStore()
    job = store.get(name)
    try:
        job.job_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["SPRINGBOARD_HOME"] = str(store.path.parent)
        env.setdefault("PYTHONUNBUFFERED", "1")
        with open(job.log_path, "ab") as logf:
            proc = subprocess.Popen(
                [sys.executable, "-m", "springboard.jobs.worker", name],
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # survives the caller and its terminal
            )
    except OSError as exc:
        reason = f"could not start the job's process: {exc}"
        store.set_status(name, "Failed", "Failed", reason[:1024], failure_reason=reason)
        raise SpringboardError(f"job {name}: {reason}") from None
    store.update(name, pid=proc.pid, pid_start=process_start(proc.pid))
    return store.get(name)


def process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22): with the
    PID it names one process for good, since a reused PID gets a later start time. None where
    there is no /proc (or no such process)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()  # the name in (...) may hold spaces
    if len(fields) < 20 or fields[0] in ("Z", "X"):  # a zombie has exited
        return None
    return fields[19]


def _alive(pid: int | None, start: str | None = None) -> bool:
    """Whether the job's worker is running: the PID exists and, where its start time was
    recorded, it is the same process (not a later one given the same PID)."""
    if not pid:
        return False
    try:
        # Reap it if it is our child that already exited (else it lingers as a zombie).
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    if start is not None and os.path.isdir("/proc"):
        return process_start(pid) == start
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def refresh(name: str, store: JobStore | None = None) -> Job:
    """The job as it is now; a job whose worker died without reporting is marked Failed."""
    store = store or JobStore()
    job = store.get(name)
    if job.status in ("InProgress", "Stopping") and job.pid and not _alive(job.pid, job.pid_start):
        # Compare-and-set on (status, pid): if the worker just reported, or a resume started a
        # new worker meanwhile, nothing is overwritten.
        if job.status == "Stopping":
            store.end_if_running(name, job.pid, "Stopped", "Stopped", "Stopped")
        else:
            store.end_if_running(
                name,
                job.pid,
                "Failed",
                "Failed",
                "worker exited",
                failure_reason=f"the job's process (pid {job.pid}) exited unexpectedly; "
                f"`springboard jobs resume {name}` continues from the last checkpoint",
            )
        job = store.get(name)
    elif job.status == "InProgress" and job.pid is None:
        if store.fail_unlaunched(
            name, LAUNCH_GRACE_S,
            f"the job's worker never started (its submitter exited first); `springboard jobs resume {name}` starts it",
        ):
            job = store.get(name)
    return job


def wait_for(
    name: str,
    poll: float = 1.0,
    timeout: float | None = None,
    store: JobStore | None = None,
    on_poll: Callable[[Job], None] | None = None,
) -> Job:
    store = store or JobStore()
    deadline = time.monotonic() + timeout if timeout else None
    while True:
        job = refresh(name, store)
        if on_poll:
            on_poll(job)
        if job.done:
            return job
        if deadline and time.monotonic() > deadline:
            return job
        time.sleep(poll)


def stop(name: str, grace: float = 60.0, store: JobStore | None = None) -> Job:
    """Asks the job to stop at its next step; past `grace` seconds the worker is terminated
    (the job then resumes from its last checkpoint)."""
    store = store or JobStore()
    job = refresh(name, store)
    if job.done:
        return job
    store.request_stop(name)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        job = refresh(name, store)
        if job.done:
            return job
        time.sleep(0.2)
    if job.final:  # writing its output: it ends Completed on its own
        return wait_for(name, poll=0.2, store=store)
    if job.pid and _alive(job.pid, job.pid_start):
        os.killpg(job.pid, signal.SIGTERM)
    return wait_for(name, poll=0.2, timeout=10, store=store)


def resume(name: str, store: JobStore | None = None) -> Job:
    """Starts a Failed or Stopped job (or one whose worker was killed) again; the job's code
    picks up from its checkpoints."""
    store = store or JobStore()
    job = refresh(name, store)
    if job.status == "Completed":
        raise ConflictError(f"job {name!r} already completed")
    if job.status in ("InProgress", "Stopping") or not store.claim_restart(name):
        raise ConflictError(f"job {name!r} is already running (pid {store.get(name).pid})")
    return launch(name, store)


def follow_log(job: Job, store: JobStore | None = None, poll: float = 0.5) -> Iterator[str]:
    """Yields the log's lines, then new ones as they come, until the job ends."""
    store = store or JobStore()
    path = job.log_path
    pos = 0
    while True:
        # Checked before reading: once the job is seen done, this read gets its last lines.
        done = refresh(job.name, store).done
        if path.exists():
            with open(path, encoding="utf-8", errors="replace") as f:
                f.seek(pos)
                chunk = f.read()
                pos = f.tell()
            yield from chunk.splitlines()
        if done:
            return
        time.sleep(poll)
