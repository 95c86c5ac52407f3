"""Job kinds: what a kind of job is (its pydantic config model, its body, its name base), the
registry the rooms add their kinds to, and the one way to start any job, `submit(config)`.

A room registers its kind where its body is defined (`register(JobKind(...))` at import), so the
worker process, importing the body's module, finds the kind again; `jobs/` imports no room."""

from __future__ import annotations

import importlib
import re
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Generic, TypeVar

from pydantic import BaseModel

from springboard.errors import SpringboardError, ValidationError
from springboard.jobs.context import JobContext
from springboard.jobs.model import Job, Metric, validate_name
from springboard.jobs.runner import start_job
from springboard.jobs.store import JobStore

C = TypeVar("C", bound=BaseModel)


@dataclass(frozen=True)
class JobKind(Generic[C]):
    """A kind of job. `body(ctx, config)` runs in the job's worker process with the typed config;
    `name_base(config)` is what a default name starts with (`default_name`); `prepare(config,
    name)`, at submit time, checks the request and returns facts to store with the config (e.g.
    warnings); `output_dir(config)` is where the job publishes (default: under its directory).
    For the watcher (jobs/watch.py): `progress(job, metrics)` is (done, total) for its bar,
    `headline` the metrics shown beside it, `notes(job)` lines worth printing once each."""

    name: str
    config: type[C]
    body: Callable[[JobContext, C], None]
    name_base: Callable[[C], str]
    prepare: Callable[[C, str | None], dict[str, Any]] = field(default=lambda config, name: {})
    output_dir: Callable[[C], str | None] = field(default=lambda config: None)
    progress: Callable[[Job, list[Metric]], tuple[float, float | None]] | None = None
    headline: tuple[str, ...] = ()
    notes: Callable[[Job], list[str]] | None = None

    @property
    def entrypoint(self) -> str:
        """`module:function` of the body: what the worker imports (which registers the kind)."""
        return f"{self.body.__module__}:{self.body.__qualname__}"

    def parse(self, stored: dict[str, Any]) -> C:
        """The typed config from the stored one, which may also hold facts recorded while the job
        ran (warnings, resolved defaults): a model that forbids extra fields gets its own only."""
        if self.config.model_config.get("extra") == "forbid":
            stored = {k: v for k, v in stored.items() if k in self.config.model_fields}
        return self.config.model_validate(stored)


_KINDS: dict[str, JobKind[Any]] = {}


def register(kind: JobKind[Any]) -> JobKind[Any]:
    """Adds a kind (again on re-import: the same name and config model replace the entry)."""
    known = _KINDS.get(kind.name)
    if known is not None and known.config.__qualname__ != kind.config.__qualname__:
        raise SpringboardError(f"job kind {kind.name!r} is already registered for {known.config.__qualname__}")
    _KINDS[kind.name] = kind
    return kind


def kind_named(name: str) -> JobKind[Any]:
    try:
        return _KINDS[name]
    except KeyError:
        raise SpringboardError(f"no job kind {name!r} is registered (known: {', '.join(sorted(_KINDS))})") from None


def kind_of(config: BaseModel) -> JobKind[Any]:
    """The kind whose config model `config` is. A room registers its kind in its `job` module
    (train/job.py, transform/job.py, ...), imported here on first use when the config model is
    defined beside it (transform/config.py), as the worker imports it from the entrypoint."""
    for attempt in range(2):
        for kind in _KINDS.values():
            if type(config) is kind.config:
                return kind
        if attempt == 0:
            room = type(config).__module__.rpartition(".")[0]
            try:
                importlib.import_module(f"{room}.job")
            except ModuleNotFoundError as exc:
                if exc.name != f"{room}.job":
                    raise
    raise SpringboardError(f"no job kind takes a {type(config).__name__} (known: {', '.join(sorted(_KINDS))})")


def registered() -> dict[str, JobKind[Any]]:
    return dict(_KINDS)


def default_name(base: str, now: datetime | None = None, max_length: int = 63, short: bool = False) -> str:
    """SageMaker's `name_from_base`, the one default name of jobs and endpoints:
    `<base>-YYYY-MM-DD-HH-MM-SS-mmm` (`short`: `<base>-YYMMDD-HHMMSS`, for AutoML's 32
    characters), at most `max_length` characters; the base is the last part of a path or hub id,
    each run of characters outside [a-zA-Z0-9] turned into one '-'."""
    now = now or datetime.now(timezone.utc)
    if short:
        stamp = now.strftime("%y%m%d-%H%M%S")
    else:
        stamp = now.strftime("%Y-%m-%d-%H-%M-%S-") + f"{now.microsecond // 1000:03d}"
    base = re.sub(r"[^a-zA-Z0-9]+", "-", Path(base.rstrip("/")).name).strip("-") or "job"
    base = base[: max_length - len(stamp) - 1].strip("-")
    return f"{base}-{stamp}"


def submit(
    config: BaseModel,
    name: str | None = None,
    wait: bool = False,
    max_runtime: float | None = None,
    also: Callable[[sqlite3.Connection], None] | None = None,
    store: JobStore | None = None,
) -> Job:
    """Starts a job of the kind `config` belongs to: checks it (the kind's `prepare`), records it
    and starts its worker; with `wait`, returns it once it has ended. `name`: default
    `<name base>-<timestamp>`. `max_runtime`: MaxRuntimeInSeconds, past which the runner stops
    the job (secondary status MaxRuntimeExceeded). `also`: written in the job's creating
    transaction (JobStore.create), e.g. the control plane's record of the request."""
    kind = kind_of(config)
    if name is not None:
        validate_name(name)
    if max_runtime is not None and not max_runtime >= 1:
        raise ValidationError(f"MaxRuntimeInSeconds must be at least 1, got {max_runtime}")
    stored = {**config.model_dump(mode="json"), **kind.prepare(config, name)}
    return start_job(
        kind.name, name or default_name(kind.name_base(config)), kind.entrypoint, stored,
        output_dir=kind.output_dir(config), wait=wait, max_runtime=max_runtime, also=also, store=store,
    )
