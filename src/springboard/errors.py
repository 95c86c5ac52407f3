"""One exception family. The CLI prints these without a traceback and exits non-zero."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


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
    """A location a server request may not read or write (confinement.confine): servers answer 403."""


class ConflictError(SpringboardError):
    """A name already taken, or an operation the current state does not allow."""


class LimitExceededError(SpringboardError):
    """A configured limit reached (e.g. the endpoints one server hosts): SageMaker's
    ResourceLimitExceeded."""


class ModelUnavailableError(SpringboardError):
    """A model whose weights are not on this machine (and cannot be fetched offline)."""


class JobStopped(SpringboardError):
    """Raised inside a job when a stop was requested; the runner records status Stopped."""


# -- pydantic's ValidationError in our words -------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One error of a pydantic ValidationError: `field` is its dotted location ("" for the whole
    input), `message` pydantic's words without the "Value error, " of a validator's ValueError;
    `loc`, `type` and `input` (None when missing) are pydantic's own, for surfaces that word it
    their way (AWS shapes, hyperparameter ranges, API parameter names); `ctx` the constraint's
    values (min_length, ge, pattern, expected)."""

    field: str
    message: str
    loc: tuple[Any, ...]
    type: str
    input: Any
    has_input: bool
    ctx: dict[str, Any]


def problems(exc: Any) -> list[Problem]:
    """Every error of a pydantic ValidationError `exc`, in order: the one place that reads
    `exc.errors()`."""
    return [
        Problem(
            field=".".join(str(p) for p in err.get("loc", ())),
            message=err.get("msg", "invalid value").removeprefix("Value error, "),
            loc=tuple(err.get("loc", ())),
            type=err.get("type", ""),
            input=err.get("input"),
            has_input="input" in err,
            ctx=dict(err.get("ctx") or {}),
        )
        for err in exc.errors()
    ]


def first_problem(exc: Any) -> Problem:
    """The first error of a pydantic ValidationError (what a one-line message names)."""
    return problems(exc)[0]
