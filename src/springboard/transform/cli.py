"""`springboard transform`: a batch transform job."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "transform",
        help="batch transform: generate for every record of a file or directory (a job)",
        description="Runs a batch transform job: each input file's records -> <output>/<file>.out, "
        "one output line per input record, in order. Follow it with `springboard jobs logs -f`.",
    )
    p.add_argument("--model", required=True, help="hub model id, training job name or artifact path")
    p.add_argument("--input", required=True,
                   help="input file or directory (every file is processed); a path, file:// or s3://")
    p.add_argument("--output", required=True, help="output directory (a path, file:// or s3://)")
    p.add_argument("--name", help="job name (default: <model>-YYYY-MM-DD-HH-MM-SS-mmm)")
    p.add_argument(
        "--content-type",
        default="application/jsonlines",
        choices=["application/jsonlines", "application/json", "text/csv", "text/plain"],
    )
    p.add_argument("--split-type", default="Line", choices=["Line", "None"])
    p.add_argument("--batch-strategy", default="MultiRecord", choices=["MultiRecord", "SingleRecord"])
    p.add_argument("--max-payload", type=float, default=6.0, help="MB per request (0-100, 0 = no limit)")
    p.add_argument("--assemble-with", default="Line", choices=["Line", "None"])
    p.add_argument("--accept", default="application/jsonlines")
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="environment for the model, e.g. HYPER_PARAMS=\"{'max_new_tokens': 50}\" (repeatable)",
    )
    p.add_argument("--join-source", default="None", choices=["Input", "None"])
    p.add_argument("--input-filter", default="$", help="JSONPath of what the model sees")
    p.add_argument("--output-filter", default="$", help="JSONPath of what is written")
    p.add_argument(
        "--on-error",
        default="fail",
        choices=["fail", "error-line"],
        help="fail (default, SageMaker's): a file with a failed record gets no .out and the job ends "
        "Failed; error-line: a failed record gets an {'error': ...} line and the file completes",
    )
    p.add_argument("--instance-count", type=int, default=1,
                   help="workers, each with its own model; the input is split by file and, inside a "
                   "large file, by record ranges (.out files are the same as with one worker)")
    p.add_argument("--max-concurrent-transforms", type=int, default=0,
                   help="batches each worker has in flight (SageMaker's MaxConcurrentTransforms); on a causal "
                   "model their records share one continuous batch (default 0: 4)")
    p.add_argument("--runner", default="local", choices=["local", "spark"],
                   help="local: a process pool (default); spark: a Spark job, one model per Python worker")
    p.add_argument("--master", help="Spark master URL for --runner spark (default local[instance-count])")
    chat = p.add_mutually_exclusive_group()
    chat.add_argument("--chat", dest="chat", action="store_true", default=None,
                      help="render prompts in the chat template (SPRINGBOARD_PROMPT_FORMAT=chat; --no-chat: raw); "
                           "default: the model's own format (README \"Prompts\")")
    chat.add_argument("--no-chat", dest="chat", action="store_false")
    p.add_argument("--max-runtime", type=int, metavar="SECONDS",
                   help="stop the job once it has run this long (MaxRuntimeInSeconds, as for training jobs)")
    p.add_argument("--wait", action="store_true", help="wait for the job, with a progress bar")
    p.set_defaults(func=_transform)


def _transform(args: argparse.Namespace) -> int:
    from springboard.cli import parse_pairs
    from springboard import jobs
    from springboard.transform.api import transform_config

    env = parse_pairs(args.env, "--env", strip=False)
    config = transform_config(
        args.model,
        args.input,
        args.output,
        env=env,
        content_type=args.content_type,
        split_type=args.split_type,
        batch_strategy=args.batch_strategy,
        max_payload=args.max_payload,
        assemble_with=args.assemble_with,
        accept=args.accept,
        join_source=args.join_source,
        input_filter=args.input_filter,
        output_filter=args.output_filter,
        on_error=args.on_error,
        chat=args.chat,
        instance_count=args.instance_count,
        max_concurrent_transforms=args.max_concurrent_transforms,
        runner=args.runner,
        master=args.master,
    )
    job = jobs.submit(config, name=args.name, max_runtime=args.max_runtime)
    if not args.wait:
        print(f"started transform job {job.name}")
        print(f"  follow: springboard jobs logs -f {job.name}")
        print(f"  output: {job.output_dir}")
        return 0
    job = jobs.watch(job.name)
    m = jobs.latest_metrics(job.name)
    print(
        f"{job.name}: {job.status} - {int(m.get('records_processed', 0))} records "
        f"({int(m.get('records_failed', 0))} failed), {m.get('records_per_second', 0):.2f} records/s, "
        f"{m.get('tokens_per_second', 0):.1f} tokens/s; output in {job.output_dir}"
    )
    if job.failure_reason:
        print(f"failure reason: {job.failure_reason}")
    return 0 if job.status == "Completed" else 1
