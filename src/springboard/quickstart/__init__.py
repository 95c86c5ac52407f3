"""`springboard quickstart`: the main job end to end on this machine, offline.

Builds an instruction data set from Python's own documentation (docstring body -> its
one-line summary), LoRA fine-tunes the default model on a few hundred examples, runs both the
pre-trained and the fine-tuned model over held-out examples as batch transform jobs, and scores
them with ROUGE."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

PROMPT = "Summarize this Python documentation in one sentence.\n\n{documentation}"

# Sized for a 2-core CPU (~150 training tokens/s): the whole run stays well under 15 minutes.
DEFAULT_HYPERPARAMETERS = {
    "epoch": "1",
    "learning_rate": "0.0005",
    "per_device_train_batch_size": "8",
    "lora_r": "16",
    "lora_alpha": "32",
    "lora_dropout": "0.05",
    "warmup_ratio": "0.05",
    "max_input_length": "256",
    "validation_split_ratio": "0.1",
    "instruction_tuned": "True",
    "use_chat_template": "True",
    "logging_steps": "5",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "quickstart",
        help="fine-tune the default model on Python's docs and compare it with the base model",
    )
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--train-examples", type=int, default=360, help="training + validation examples")
    p.add_argument("--test-examples", type=int, default=120, help="held-out examples scored with ROUGE")
    p.add_argument("--max-new-tokens", type=int, default=40)
    p.add_argument("--workdir", help="where data, predictions and the report go (default: SPRINGBOARD_HOME/quickstart)")
    p.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE", help="override a hyperparameter")
    p.set_defaults(func=_run)


def write_dataset(workdir: Path, n_train: int, n_test: int) -> tuple[Path, Path, list[dict]]:
    """train/data.jsonl + train/template.json (JumpStart's layout) and test.jsonl with the same
    prompt as `text_inputs`; training and the transform both wrap it in the chat template."""
    from springboard.quickstart.dataset import build

    examples = build()
    if len(examples) < n_train + n_test:
        n_train = len(examples) - n_test
    test, train = examples[:n_test], examples[n_test : n_test + n_train]
    train_dir = workdir / "train"
    train_dir.mkdir(parents=True, exist_ok=True)
    with open(train_dir / "data.jsonl", "w") as f:
        for e in train:
            f.write(json.dumps({"documentation": e.documentation, "summary": e.summary}) + "\n")
    (train_dir / "template.json").write_text(json.dumps({"prompt": PROMPT, "completion": "{summary}"}))
    records = []
    with open(workdir / "test.jsonl", "w") as f:
        for e in test:
            text = PROMPT.format(documentation=e.documentation)
            record = {"id": e.id, "text_inputs": text, "summary": e.summary, "documentation": e.documentation}
            records.append(record)
            f.write(json.dumps(record) + "\n")
    return train_dir, workdir / "test.jsonl", records


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from springboard import hub, settings
    from springboard.cli import parse_pairs
    from springboard import jobs
    from springboard.train.job import TrainingJobConfig

    console = Console()
    t0 = time.perf_counter()
    workdir = Path(args.workdir) if args.workdir else settings.home() / "quickstart"
    workdir.mkdir(parents=True, exist_ok=True)

    console.rule("[bold]1/4 model")
    model_dir = hub.resolve_model(args.model)
    console.print(f"{args.model} -> {model_dir}  ({time.perf_counter() - t0:.0f}s)")

    console.rule("[bold]2/4 data")
    train_dir, test_file, records = write_dataset(workdir, args.train_examples, args.test_examples)
    n_train = sum(1 for line in (train_dir / "data.jsonl").read_text(encoding="utf-8").split("\n") if line)
    console.print(
        f"{n_train} docstring -> summary examples in {train_dir} (instruction JSONL + template.json), "
        f"{len(records)} held out in {test_file}"
    )

    console.rule("[bold]3/4 fine-tune (LoRA, CPU)")
    hp = {**DEFAULT_HYPERPARAMETERS, **parse_pairs(args.hp, "--hp")}
    job = jobs.submit(
        TrainingJobConfig(model=args.model, train=str(train_dir), hyperparameters=hp),
        name=jobs.default_name("quickstart"),
    )
    console.print(f"training job {job.name}; hyperparameters: {hp}")
    job = jobs.watch(job.name)
    if job.status != "Completed":
        console.print(f"[red]training failed: {job.failure_reason}")
        return 1
    t_train = time.perf_counter()

    console.rule("[bold]4/4 evaluate on held-out examples")
    from springboard.quickstart.compare import compare_models

    report = compare_models(
        base=args.model,
        tuned=job.name,
        test_file=test_file,
        records=records,
        workdir=workdir,
        max_new_tokens=args.max_new_tokens,
        console=console,
    )
    total = time.perf_counter() - t0
    report["timing_seconds"] = {"total": round(total, 1), "until_trained": round(t_train - t0, 1)}
    report["training_job"] = job.name
    (workdir / "report.json").write_text(json.dumps(report, indent=2))
    console.print(f"\nquickstart finished in {total / 60:.1f} min; report: {workdir / 'report.json'}")
    return 0
