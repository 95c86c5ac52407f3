"""`springboard train`: submit a fine-tuning job, optionally wait with a progress bar."""

from __future__ import annotations

import argparse
import sys

from springboard.cli import parse_pairs


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="fine-tune a model (instruction tuning or domain adaptation) as a job",
        description="Starts a training job. Hyperparameters are key=value strings, SageMaker style; "
        "see `springboard models show ID` for a model's defaults.",
    )
    p.add_argument("--model", required=True, help="hub model id, earlier training job name, or a model directory")
    p.add_argument("--train", required=True, help="training channel: a file or a directory")
    p.add_argument("--validation", help="validation channel (else a split by validation_split_ratio)")
    p.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE", help="a hyperparameter; repeatable")
    p.add_argument("--name", help="job name (default: <model>-<timestamp>)")
    p.add_argument("--output-path", help="also copy the artifact here (path or fsspec URI)")
    p.add_argument("--accept-eula", action="store_true", help="accept the model's license (EULA models)")
    p.add_argument(
        "--processes", type=int, default=1, metavar="N",
        help="training processes (SageMaker instance_count): N>1 runs data-parallel under accelerate launch "
        "(CPU: gloo; GPUs: one per process, FSDP with enable_fsdp=True)",
    )
    p.add_argument("--wait", action="store_true", help="wait for the job, showing progress")
    p.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    from springboard.train.job import TrainingJobConfig, submit_training
    from springboard.train.distributed import processes_from_instance_count

    config = TrainingJobConfig(
        model=args.model,
        train=args.train,
        validation=args.validation,
        hyperparameters=parse_pairs(args.hp, "--hp"),
        output_path=args.output_path,
        accept_eula=args.accept_eula,
        processes=processes_from_instance_count(args.processes, "--processes"),
    )
    job = submit_training(config, name=args.name)
    print(f"training job {job.name} started (springboard jobs logs -f {job.name})")
    for warning in job.config.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    if not args.wait:
        return 0
    job = watch(job.name)
    return 0 if job.status == "Completed" else 1


def watch(name: str):
    """Waits for a training job: a progress bar with the loss on a terminal, plain lines
    otherwise. Reads the job's metrics from the store, so it works for any detached job."""
    from springboard import jobs

    store = jobs.JobStore()
    seen = 0
    if sys.stdout.isatty():
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        with Progress(
            TextColumn("[bold]{task.fields[status]}"),
            BarColumn(),
            TextColumn("step {task.completed:.0f}/{task.total:.0f}"),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        ) as bar:
            task = bar.add_task("train", total=None, status="Starting", info="")
            info: dict[str, float] = {}

            def update(job) -> None:
                nonlocal seen
                rows = store.metrics(name)
                for r in rows[seen:]:
                    info[r.name] = r.value
                    if r.step is not None and r.name == "train_loss":
                        bar.update(task, completed=r.step)
                seen = len(rows)
                total = job.config.get("total_steps")
                text = "  ".join(
                    f"{k} {info[k]:.4g}" for k in ("train_loss", "val_loss", "tokens_per_second") if k in info
                )
                bar.update(task, total=total, status=job.secondary_status, info=text)

            job = jobs.wait_for(name, poll=1.0, store=store, on_poll=update)
    else:
        last = [""]

        def lines(job) -> None:
            nonlocal seen
            rows = store.metrics(name)
            for r in rows[seen:]:
                step = "" if r.step is None else f"step {r.step} "
                print(f"{name}: {step}{r.name}={r.value:.6g}", flush=True)
            seen = len(rows)
            if job.secondary_status != last[0]:
                last[0] = job.secondary_status
                print(f"{name}: {job.status} / {job.secondary_status}", flush=True)

        job = jobs.wait_for(name, poll=2.0, store=store, on_poll=lines)
    print(f"{name}: {job.status}" + (f" — {job.failure_reason}" if job.failure_reason else ""))
    if job.status == "Completed":
        print(f"model artifact: {job.output_dir}")
    return job
