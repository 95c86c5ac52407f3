"""`springboard automl create|describe|list-candidates|stop|list`: Autopilot's CreateAutoMLJobV2,
DescribeAutoMLJobV2, ListCandidatesForAutoMLJob, StopAutoMLJob and ListAutoMLJobs."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "automl",
        help="AutoML fine-tuning jobs (SageMaker Autopilot text generation)",
        description="Fine-tunes candidates from a CreateAutoMLJobV2 request and picks the best.",
    )
    sub = p.add_subparsers(dest="automl_command", metavar="ACTION", required=True)

    c = sub.add_parser("create", help="start an AutoML job from a CreateAutoMLJobV2 request (JSON or YAML)")
    c.add_argument("--request", required=True, metavar="FILE", help="request file, .json or .yaml")
    c.add_argument("--wait", action="store_true", help="wait for the job, printing its progress")
    c.set_defaults(func=_create)

    d = sub.add_parser("describe", help="DescribeAutoMLJobV2 (JSON)")
    d.add_argument("name")
    d.set_defaults(func=_describe)

    lc = sub.add_parser("list-candidates", help="ListCandidatesForAutoMLJob")
    lc.add_argument("name")
    lc.add_argument("--sort-by", choices=["CreationTime", "Status", "FinalObjectiveMetricValue"])
    lc.add_argument("--sort-order", choices=["Ascending", "Descending"])
    lc.add_argument("--status", choices=["Completed", "InProgress", "Failed", "Stopped", "Stopping"])
    lc.add_argument("--max-results", type=int)
    lc.add_argument("--format", choices=["json", "table"], default="table")
    lc.set_defaults(func=_list_candidates)

    s = sub.add_parser("stop", help="StopAutoMLJob: stops the running candidate, then the job")
    s.add_argument("name")
    s.add_argument("--no-wait", action="store_true", help="return once the stop is requested")
    s.set_defaults(func=_stop)

    ls = sub.add_parser("list", help="ListAutoMLJobs (JSON)")
    ls.add_argument("--status", choices=["Completed", "InProgress", "Failed", "Stopped", "Stopping"])
    ls.add_argument("--name-contains")
    ls.set_defaults(func=_list)


def _create(args: argparse.Namespace) -> int:
    from springboard import jobs
    from springboard.automl.job import create_auto_ml_job_v2
    from springboard.automl.request import load_request

    job = create_auto_ml_job_v2(load_request(args.request))
    print(f"AutoML job {job.name} started (springboard automl describe {job.name})")
    if not args.wait:
        return 0
    job = jobs.watch(job.name, poll=2.0)
    return 0 if job.status == "Completed" else 1


def _describe(args: argparse.Namespace) -> int:
    from springboard.automl.describe import describe_auto_ml_job_v2

    print(json.dumps(describe_auto_ml_job_v2(args.name), indent=2, default=str))
    return 0


def _list_candidates(args: argparse.Namespace) -> int:
    from springboard.automl.describe import list_candidates_for_auto_ml_job

    result = list_candidates_for_auto_ml_job(
        args.name, status_equals=args.status, sort_by=args.sort_by, sort_order=args.sort_order,
        max_results=args.max_results,
    )
    if args.format == "json":
        print(json.dumps(result, indent=2, default=str))
        return 0
    rows = [("CANDIDATE", "STATUS", "OBJECTIVE", "BASE MODEL", "HYPERPARAMETERS", "METRICS")]
    for c in result["Candidates"]:
        objective = c.get("FinalAutoMLJobObjectiveMetric")
        metrics = " ".join(f"{m['MetricName']}={m['Value']:.4g}" for m in c["CandidateProperties"]["CandidateMetrics"])
        rows.append((
            c["CandidateName"], c["CandidateStatus"],
            f"{objective['MetricName']}={objective['Value']:.4g}" if objective else "-",
            c.get("BaseModelName", ""), " ".join(f"{k}={v}" for k, v in c.get("HyperParameters", {}).items()),
            metrics or c.get("FailureReason", ""),
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)) + "  " + r[-1])
    return 0


def _stop(args: argparse.Namespace) -> int:
    from springboard.automl.job import stop_auto_ml_job

    job = stop_auto_ml_job(args.name, wait=not args.no_wait)
    print(f"{job.name}: {job.status}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from springboard.automl.describe import list_auto_ml_jobs

    print(json.dumps(list_auto_ml_jobs(args.status, args.name_contains), indent=2, default=str))
    return 0
