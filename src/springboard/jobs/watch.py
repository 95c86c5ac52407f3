"""The one job watcher, for every CLI and the SDK: waits for a job, showing its progress — a
progress bar on a terminal, plain lines otherwise. What is shown beyond the status comes from
the job's kind (`JobKind.progress`, `JobKind.notes`), so any detached job can be watched."""

from __future__ import annotations

import sys
from typing import IO, Any

from springboard.jobs.kinds import registered
from springboard.jobs.model import Job, Metric
from springboard.jobs.runner import wait_for
from springboard.jobs.store import JobStore


def watch(
    name: str,
    progress: bool | None = None,
    poll: float = 1.0,
    out: IO[str] | None = None,
    store: JobStore | None = None,
) -> Job:
    """Waits for the job and returns it ended. Plain lines (`progress` False; default: when
    `out` is not a terminal): each new secondary status, each new metric point, the kind's notes
    (e.g. an AutoML job's candidates), then the ending with its failure reason. A progress bar
    (`progress` True): the kind's completed/total and its latest metrics."""
    store = store or JobStore()
    out = out or sys.stdout
    kind = registered().get(store.get(name).kind)
    if progress is None:
        progress = out.isatty()
    metrics: list[Metric] = []
    shown_notes: set[str] = set()
    last = [""]

    def new_metrics() -> list[Metric]:
        rows = store.metrics(name)
        fresh = rows[len(metrics):]
        metrics.extend(fresh)
        return fresh

    def notes(job: Job) -> list[str]:
        fresh = [n for n in (kind.notes(job) if kind and kind.notes else []) if n not in shown_notes]
        shown_notes.update(fresh)
        return fresh

    if progress:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("[bold]{task.description}"), BarColumn(),
            TextColumn("{task.completed:.0f}/{task.total}"), TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(), console=Console(file=out),
        ) as bar:
            task = bar.add_task(name, total=None, info="")

            def draw(job: Job) -> None:
                new_metrics()
                latest = {m.name: m.value for m in metrics}
                done, total = kind.progress(job, metrics) if kind and kind.progress else (0, None)
                shown = kind.headline if kind else ()
                info = "  ".join(f"{k} {latest[k]:.4g}" for k in shown if k in latest)
                bar.update(task, completed=done, total=total, info=info,
                           description=f"{name} {job.secondary_status}")
                for note in notes(job):
                    bar.console.print(note)

            job = wait_for(name, poll=poll, store=store, on_poll=draw)
    else:

        def lines(job: Job) -> None:
            for m in new_metrics():
                step = "" if m.step is None else f"step {m.step} "
                print(f"{name}: {step}{m.name}={m.value:.6g}", file=out, flush=True)
            if job.secondary_status != last[0]:
                last[0] = job.secondary_status
                print(f"{name}: {job.status} / {job.secondary_status}", file=out, flush=True)
            for note in notes(job):
                print(note, file=out, flush=True)

        job = wait_for(name, poll=poll, store=store, on_poll=lines)
    print(f"{name}: {job.status}" + (f" — {job.failure_reason}" if job.failure_reason else ""), file=out)
    return job


def latest_metrics(name: str, store: JobStore | None = None) -> dict[str, Any]:
    """The last value of each of the job's metrics."""
    return {m.name: m.value for m in (store or JobStore()).metrics(name)}
