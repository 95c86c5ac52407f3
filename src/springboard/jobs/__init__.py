"""Jobs: every long-running thing (training, transform, automl, crawl) is a job, of a kind
registered here (jobs/kinds.py); `submit(config)` starts one, `watch(name)` follows it."""

from springboard.jobs.context import JobContext
from springboard.jobs.kinds import JobKind, default_name, kind_named, kind_of, register, registered, submit
from springboard.jobs.model import STATUSES, TERMINAL, Job, Metric, validate_name
from springboard.jobs.runner import follow_log, launch, refresh, resume, stop, wait_for
from springboard.jobs.store import JobStore
from springboard.jobs.watch import latest_metrics, watch

__all__ = [
    "Job",
    "JobContext",
    "JobKind",
    "JobStore",
    "Metric",
    "STATUSES",
    "TERMINAL",
    "default_name",
    "follow_log",
    "kind_named",
    "kind_of",
    "latest_metrics",
    "launch",
    "refresh",
    "register",
    "registered",
    "resume",
    "stop",
    "submit",
    "validate_name",
    "wait_for",
    "watch",
]
