"""Jobs: every long-running thing (training, transform, automl, crawl) is a job."""

from springboard.jobs.runner import (
    JobContext,
    follow_log,
    launch,
    refresh,
    resume,
    run_worker,
    stop,
    submit,
    wait_for,
)
from springboard.jobs.store import STATUSES, TERMINAL, Job, JobStore, Metric, validate_name

__all__ = [
    "Job",
    "JobContext",
    "JobStore",
    "Metric",
    "STATUSES",
    "TERMINAL",
    "follow_log",
    "launch",
    "refresh",
    "resume",
    "run_worker",
    "stop",
    "submit",
    "validate_name",
    "wait_for",
]
