"""What a job's body sees while it runs (`JobContext`): its directories, its stored record, and
the calls that report progress back to the store."""

from __future__ import annotations

import logging
import time
from typing import Any

from springboard.errors import JobStopped
from springboard.jobs.model import Job, Metric
from springboard.jobs.store import JobStore


class JobContext:
    """What a job's code sees: its configuration and directories, and the calls that report
    progress back to the store."""

    def __init__(self, store: JobStore, job: Job) -> None:
        self.store = store
        self.name = job.name
        self.kind = job.kind
        self.config = job.config
        self.job_dir = job.job_dir
        self.output_dir = job.output_dir
        self.attempt = job.attempts
        self.checkpoint_dir = job.job_dir / "checkpoints"
        self.log = logging.getLogger(f"springboard.jobs.{job.kind}")
        self._stop_checked = 0.0
        self._stopping = False
        self.final = False

    @property
    def resumed(self) -> bool:
        return self.attempt > 1

    def set_secondary_status(self, status: str, message: str = "") -> None:
        self.store.set_status(self.name, secondary=status, message=message)
        self.log.info("%s%s", status, f": {message}" if message else "")

    def log_metrics(
        self,
        step: int | None = None,
        epoch: float | None = None,
        values: dict[str, float] | None = None,
        **named: float,
    ) -> None:
        """Records metric points; `values` carries names that clash with the keywords
        (a metric called "epoch")."""
        now = time.time()
        points = {**(values or {}), **named}
        self.store.add_metrics(self.name, [Metric(k, float(v), step, epoch, now) for k, v in points.items()])

    def update_config(self, **values: Any) -> None:
        """Records facts found while running (e.g. resolved defaults) in the job's config."""
        self.config = {**self.config, **values}
        self.store.update(self.name, config=self.config)

    def warn(self, message: str) -> None:
        """A warning the user should see: in the job's log and in `describe` (Warnings)."""
        self.log.warning("%s", message)
        known = list(self.config.get("warnings", []))
        if message not in known:
            self.update_config(warnings=[*known, message])

    def enter_final(self, status: str, message: str = "") -> None:
        """The job's work is done and it starts writing its output: from here on a stop
        request is refused and SIGTERM ignored, so the job ends Completed with its whole
        output (never Stopped holding a finished artifact). Raises JobStopped if a stop came
        first."""
        if not self.store.enter_final(self.name, status, message):
            raise JobStopped(f"job {self.name} stopped on request before writing its output")
        self.final = True
        self.log.info("%s%s", status, f": {message}" if message else "")

    def should_stop(self) -> bool:
        """True once a stop was requested. Polls the store at most twice a second."""
        if not self._stopping and time.monotonic() - self._stop_checked > 0.5:
            self._stop_checked = time.monotonic()
            self._stopping = self.store.get(self.name).status == "Stopping"
        return self._stopping

    def check_stop(self) -> None:
        if self.should_stop():
            raise JobStopped(f"job {self.name} stopped on request")
