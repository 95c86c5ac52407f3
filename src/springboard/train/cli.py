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
    p.add_argument("--max-runtime", type=int, metavar="SECONDS",
                   help="stop the job once it has run this long (SageMaker's StoppingCondition.MaxRuntimeInSeconds)")
    p.add_argument("--wait", action="store_true", help="wait for the job, showing progress")
    p.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    from springboard import jobs
    from springboard.train.job import TrainingJobConfig
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
    job = jobs.submit(config, name=args.name, max_runtime=args.max_runtime)
    print(f"training job {job.name} started (springboard jobs logs -f {job.name})")
    for warning in job.config.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    if not args.wait:
        return 0
    job = jobs.watch(job.name)
    return 0 if job.status == "Completed" else 1

