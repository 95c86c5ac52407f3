"""`springboard jobs list|describe|logs|watch|metrics|stop|resume`."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("jobs", help="list, inspect, stop and resume jobs")
    sub = p.add_subparsers(dest="jobs_command", metavar="ACTION", required=True)

    ls = sub.add_parser("list", help="all jobs, newest first")
    ls.add_argument("--kind", help="training, transform, automl, crawl")
    ls.add_argument("--status", help="InProgress, Completed, Failed, Stopping, Stopped")
    ls.set_defaults(func=_list)

    d = sub.add_parser("describe", help="a job's full description (JSON)")
    d.add_argument("name")
    d.set_defaults(func=_describe)

    lg = sub.add_parser("logs", help="a job's log")
    lg.add_argument("name")
    lg.add_argument("-f", "--follow", action="store_true", help="keep printing until the job ends")
    lg.set_defaults(func=_logs)

    w = sub.add_parser("watch", help="wait for a job, showing its progress (as `train --wait` and the others)")
    w.add_argument("name")
    w.set_defaults(func=_watch)

    m = sub.add_parser("metrics", help="a job's metric series")
    m.add_argument("name")
    m.add_argument("--metric", help="only this metric")
    m.add_argument("--format", choices=["table", "csv", "json"], default="table")
    m.set_defaults(func=_metrics)

    s = sub.add_parser("stop", help="stop a running job (it can be resumed)")
    s.add_argument("name")
    s.add_argument("--no-wait", action="store_true", help="return once the stop is requested")
    s.set_defaults(func=_stop)

    r = sub.add_parser("resume", help="start a stopped or failed job again from its last checkpoint")
    r.add_argument("name")
    r.add_argument("--wait", action="store_true")
    r.set_defaults(func=_resume)


def _ts(t: float | None) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if t else "-"


def _list(args: argparse.Namespace) -> int:
    from springboard.jobs import JobStore, refresh

    store = JobStore()
    jobs = [refresh(j.name, store) for j in store.list(kind=args.kind, status=args.status)]
    if not jobs:
        print("no jobs")
        return 0
    rows = [("NAME", "KIND", "STATUS", "SECONDARY", "CREATED (UTC)")]
    rows += [(j.name, j.kind, j.status, j.secondary_status, _ts(j.creation_time)) for j in jobs]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0


def _describe(args: argparse.Namespace) -> int:
    from springboard.jobs import refresh

    print(json.dumps(refresh(args.name).describe(), indent=2, default=str))
    return 0


def _logs(args: argparse.Namespace) -> int:
    from springboard.jobs import JobStore, follow_log

    job = JobStore().get(args.name)
    if args.follow:
        for line in follow_log(job):
            print(line, flush=True)
    elif job.log_path.exists():
        sys.stdout.write(job.log_path.read_text(encoding="utf-8", errors="replace"))
    return 0


def _watch(args: argparse.Namespace) -> int:
    from springboard.jobs import watch

    job = watch(args.name)
    return 0 if job.status == "Completed" else 1


def _metrics(args: argparse.Namespace) -> int:
    from springboard.jobs import JobStore

    store = JobStore()
    store.get(args.name)
    rows = store.metrics(args.name, args.metric)
    if args.format == "json":
        print(json.dumps([r.__dict__ for r in rows], indent=2))
    elif args.format == "csv":
        print("timestamp,name,value,step,epoch")
        for r in rows:
            print(f"{r.timestamp},{r.name},{r.value},{'' if r.step is None else r.step},{'' if r.epoch is None else r.epoch}")
    else:
        print(f"{'STEP':>6} {'EPOCH':>7}  {'METRIC':<20} VALUE")
        for r in rows:
            step = "" if r.step is None else str(r.step)
            epoch = "" if r.epoch is None else f"{r.epoch:.2f}"
            print(f"{step:>6} {epoch:>7}  {r.name:<20} {r.value:.6g}")
    return 0


def _stop(args: argparse.Namespace) -> int:
    from springboard.jobs import JobStore, stop

    if args.no_wait:
        job = JobStore().request_stop(args.name)
    else:
        job = stop(args.name)
    if job.final and not job.done:
        print(f"{job.name}: {job.status} — writing its output; a stop is no longer taken, it will end Completed")
    else:
        print(f"{job.name}: {job.status}")
    return 0


def _resume(args: argparse.Namespace) -> int:
    from springboard.jobs import resume, wait_for

    job = resume(args.name)
    if args.wait:
        job = wait_for(job.name)
    print(f"{job.name}: {job.status}")
    return 0 if job.status != "Failed" else 1
