"""What a job is, as every room sees it: its record (`Job`), its metric points, its status
transitions, and the SageMaker naming rule."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from springboard.errors import ValidationError

STATUSES = ("InProgress", "Completed", "Failed", "Stopping", "Stopped")
TERMINAL = ("Completed", "Failed", "Stopped")
NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


@dataclass(frozen=True)
class Metric:
    name: str
    value: float
    step: int | None
    epoch: float | None
    timestamp: float


@dataclass(frozen=True)
class Transition:
    status: str
    start_time: float
    end_time: float | None
    message: str


@dataclass
class Job:
    name: str
    kind: str
    entrypoint: str
    status: str
    secondary_status: str
    failure_reason: str | None
    config: dict[str, Any]
    job_dir: Path
    output_dir: str
    pid: int | None
    attempts: int
    creation_time: float
    start_time: float | None
    end_time: float | None
    last_modified_time: float
    pid_start: str | None = None
    final: bool = False
    max_runtime: float | None = None  # MaxRuntimeInSeconds, enforced by the runner
    transitions: list[Transition] = field(default_factory=list)

    @property
    def log_path(self) -> Path:
        return self.job_dir / "log.txt"

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    def describe(self) -> dict[str, Any]:
        """SageMaker-style description (epoch-second timestamps, as the AWS JSON protocol)."""
        return {
            "JobName": self.name,
            "JobKind": self.kind,
            "JobStatus": self.status,
            "SecondaryStatus": self.secondary_status,
            "FailureReason": self.failure_reason,
            "CreationTime": self.creation_time,
            "StartTime": self.start_time,
            "EndTime": self.end_time,
            "LastModifiedTime": self.last_modified_time,
            "OutputLocation": self.output_dir,
            "Attempts": self.attempts,
            "Config": self.config,
            "Warnings": list(self.config.get("warnings", [])),
            "SecondaryStatusTransitions": [
                {
                    "Status": t.status,
                    "StartTime": t.start_time,
                    "EndTime": t.end_time,
                    "StatusMessage": t.message,
                }
                for t in self.transitions
            ],
        }


def validate_name(name: str, what: str = "job") -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):  # fullmatch: "$" lets "name\n" through
        raise ValidationError(
            f"invalid {what} name {name!r}: 1-63 characters, letters, digits and hyphens, "
            "starting and ending with a letter or digit (pattern [a-zA-Z0-9](-*[a-zA-Z0-9])*)"
        )
    return name
