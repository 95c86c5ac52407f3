"""Function-level API: start a transform job, watch it with a progress bar."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from springboard.jobs import Job, JobStore, refresh, submit, validate_name
from springboard.transform.config import default_job_name, make_config

ENTRYPOINT = "springboard.transform.job:run"


def run_transform(
    model: str,
    input: str | Path,
    output: str | Path,
    *,
    name: str | None = None,
    env: dict[str, str] | None = None,
    wait: bool = True,
    progress: bool | None = None,
    also: Any = None,
    **knobs: Any,
) -> Job:
    """Starts a transform job (`knobs`: any TransformConfig field, e.g. content_type,
    split_type, batch_strategy, max_payload, assemble_with, accept, join_source, input_filter,
    output_filter, on_error, chat, instance_count, max_concurrent_transforms, runner,
    master; `also`: written in the job's creating transaction, see jobs.JobStore.create) and,
    with `wait`, returns it
    once it has ended. `input`/`output`: local paths, file:// or s3:// locations. `progress`:
    a progress bar (default: when stderr is a terminal)."""
    config = make_config(
        model=_abs_if_path(str(model)),
        input=_abs_location(input),
        output=_abs_location(output),
        environment=dict(env or {}),
        **knobs,
    )
    name = validate_name(name) if name else default_job_name(config.model)
    job = submit(
        kind="transform",
        name=name,
        entrypoint=ENTRYPOINT,
        config=config.model_dump(),
        output_dir=config.output,
        also=also,
    )
    return watch(job.name, progress=progress) if wait else job


def _abs_location(location: str | Path) -> str:
    """Local locations become absolute (the job runs elsewhere); s3:// ones stay as given."""
    from springboard import storage

    text = str(location)
    if storage.is_remote(text):
        return text
    return str(Path(text.removeprefix("file://")).expanduser().resolve())


def _abs_if_path(model: str) -> str:
    """A relative model path must keep working when the job is resumed from elsewhere."""
    path = Path(model.removeprefix("file://")).expanduser()
    return str(path.resolve()) if path.exists() else model


def watch(name: str, progress: bool | None = None, poll: float = 0.5) -> Job:
    """Waits for a transform job; draws records done / total and records/s on a terminal."""
    store = JobStore()
    if progress is None:
        progress = sys.stderr.isatty()
    if not progress:
        while True:
            job = refresh(name, store)
            if job.done:
                return job
            time.sleep(poll)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:.2f} records/s"),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task(name, total=None, rate=0.0, failed=0)
        while True:
            job = refresh(name, store)
            latest = _latest_metrics(store, name)
            if latest:
                bar.update(
                    task,
                    completed=latest.get("records_processed", 0),
                    total=latest.get("records_total"),
                    rate=latest.get("records_per_second", 0.0),
                    failed=int(latest.get("records_failed", 0)),
                )
            bar.update(task, description=f"{name} {job.secondary_status}")
            if job.done:
                return job
            time.sleep(poll)


def _latest_metrics(store: JobStore, name: str) -> dict[str, float]:
    latest: dict[str, float] = {}
    for m in store.metrics(name):
        latest[m.name] = m.value
    return latest


def job_metrics(name: str) -> dict[str, float]:
    """The last value of each of a transform job's metrics."""
    return _latest_metrics(JobStore(), name)
