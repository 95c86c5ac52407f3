"""One exception family. The CLI prints these without a traceback and exits non-zero."""

from __future__ import annotations

from pathlib import Path


class SpringboardError(Exception):
    """Base of every error a user can act on."""


class ValidationError(SpringboardError):
    """Bad input: a file, payload, request or hyperparameter that does not fit the rules."""


class DataError(ValidationError):
    """Bad data, located by file, line (1-based) and field."""

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.file, self.line, self.field, self.reason = file, line, field, message
        where = ""
        if file is not None:
            where = str(file) + (f":{line}" if line is not None else "") + ": "
        elif line is not None:
            where = f"line {line}: "
        if field is not None:
            where += f"field '{field}': "
        super().__init__(where + message)


class HyperparameterError(ValidationError):
    """An unknown hyperparameter or a value out of its range."""


class NotFoundError(SpringboardError):
    """A model, job, endpoint or file that does not exist."""


class AccessDeniedError(SpringboardError):
    """A location a server request may not read or write (storage.confine): servers answer 403."""


class ConflictError(SpringboardError):
    """A name already taken, or an operation the current state does not allow."""


class LimitExceededError(SpringboardError):
    """A configured limit reached (e.g. the endpoints one server hosts): SageMaker's
    ResourceLimitExceeded."""


class ModelUnavailableError(SpringboardError):
    """A model whose weights are not on this machine (and cannot be fetched offline)."""


class JobStopped(SpringboardError):
    """Raised inside a job when a stop was requested; the runner records status Stopped."""
