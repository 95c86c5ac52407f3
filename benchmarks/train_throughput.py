"""Training throughput: Springboard's training job vs a plain `transformers.Trainer` script.

Issue 2's claim: on the same model, data and hyperparameters, Springboard trains at >= 1.2x the
Trainer's non-padding tokens/s, at no more peak memory, with a final validation loss within 2%.

One run does, in order:
1. resolves the real default model (converting it once, outside any measurement) and writes the
   quickstart's data set (stdlib docstring -> one-line summary) as explicit train/validation
   JSONL channels, so every side sees the same examples;
2. runs each side in its own child process, one after the other:
   - `springboard`: a real training job (`jobs.submit`, then waiting for it); the job's
     worker is a child of that process, so the process's rusage covers the worker;
   - `trainer`: the script a user would write: `prepare_data`'s token ids and labels (identical
     tokens, checked by the data fingerprint) as a torch Dataset, `DataCollatorForSeq2Seq`
     padding to the longest in the batch, Trainer defaults otherwise (random sampler, the
     default optimizer), no checkpoints, evaluation once at the end;
   - `trainer-grouped` (extra row, `--no-grouped` skips it): the same with
     `train_sampling_strategy="group_by_length"` (transformers 4's `group_by_length=True`);
3. measures for each side: non-padding tokens/s over training wall time (first step to last step:
   model load, data preparation and evaluation excluded), peak RSS (`wait4` rusage of the side's
   process tree), CPU seconds, and the final validation loss, computed by ONE function here for
   every side (token-weighted mean cross-entropy over the completion tokens of the validation
   examples, base model + the side's saved LoRA adapter);
4. prints a table and writes benchmarks/results/train_throughput.json.

    .venv/bin/python benchmarks/train_throughput.py            # ~10 min on a 2-core CPU
    .venv/bin/python benchmarks/train_throughput.py --quick    # a dry run of the plumbing

The machine may be shared: throughput is wall-clock, so the load average around each side is
recorded next to its numbers.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

PROMPT = "Summarize this Python documentation in one sentence.\n\n{documentation}"
SIDES = ("springboard", "trainer", "trainer-grouped")
RESULTS = Path(__file__).resolve().parent / "results" / "train_throughput.json"


@dataclass(frozen=True)
class Setup:
    """Everything both sides share; written to the work dir and read by each side's process."""

    model: str
    model_dir: str
    train_dir: str
    validation_dir: str
    epochs: int
    batch_size: int
    eval_batch_size: int
    learning_rate: float
    warmup_ratio: float
    lr_scheduler_type: str
    weight_decay: float
    max_grad_norm: float
    seed: int
    max_length: int
    lora_r: int
    lora_alpha: int
    lora_dropout: float
    logging_steps: int

    def springboard_hyperparameters(self) -> dict[str, str]:
        """The SageMaker-style strings a user gives the job (every value explicit, so the
        model's catalog defaults cannot make the two sides differ)."""
        return {
            "epoch": str(self.epochs),
            "learning_rate": str(self.learning_rate),
            "per_device_train_batch_size": str(self.batch_size),
            "per_device_eval_batch_size": str(self.eval_batch_size),
            "gradient_accumulation_steps": "1",
            "lr_scheduler_type": self.lr_scheduler_type,
            "warmup_ratio": str(self.warmup_ratio),
            "weight_decay": str(self.weight_decay),
            "max_grad_norm": str(self.max_grad_norm),
            "seed": str(self.seed),
            "max_input_length": str(self.max_length),
            "peft_type": "lora",
            "lora_r": str(self.lora_r),
            "lora_alpha": str(self.lora_alpha),
            "lora_dropout": str(self.lora_dropout),
            "lora_target_modules": "auto",
            "instruction_tuned": "True",
            "use_chat_template": "True",
            "validation_split_ratio": "0.2",  # unused: the validation channel is explicit
            "logging_steps": str(self.logging_steps),
        }

    def data_options(self):
        """The DataOptions the training job builds from those hyperparameters (the data
        fingerprint, which hashes options and files, proves the two sides agree)."""
        from springboard.data import DataOptions

        return DataOptions(
            architecture="causal",
            instruction_tuned=True,
            use_chat_template=True,
            max_input_length=self.max_length,
            validation_split_ratio=0.2,
            split_seed=0,
        )


# --------------------------------------------------------------------------- data


def write_channels(workdir: Path, n_train: int, n_val: int) -> tuple[Path, Path]:
    """train/ and validation/ channels in JumpStart's layout (data.jsonl + template.json)."""
    from springboard.quickstart.dataset import build

    examples = build()
    if n_train + n_val > len(examples):
        raise SystemExit(f"only {len(examples)} examples available; asked for {n_train} + {n_val}")
    val, train = examples[:n_val], examples[n_val : n_val + n_train]
    template = json.dumps({"prompt": PROMPT, "completion": "{summary}"})
    dirs = []
    for name, rows in (("train", train), ("validation", val)):
        d = workdir / name
        d.mkdir(parents=True, exist_ok=True)
        with open(d / "data.jsonl", "w") as f:
            for e in rows:
                f.write(json.dumps({"documentation": e.documentation, "summary": e.summary}) + "\n")
        (d / "template.json").write_text(template)
        dirs.append(d)
    return dirs[0], dirs[1]


def prepared(setup: Setup):
    from transformers import AutoTokenizer

    from springboard.data import prepare_data

    tokenizer = AutoTokenizer.from_pretrained(setup.model_dir)
    data = prepare_data(setup.train_dir, tokenizer, setup.data_options(), validation=setup.validation_dir)
    return tokenizer, data


# --------------------------------------------------------------------------- sides (child processes)


def side_springboard(setup: Setup, out: Path) -> None:
    """A real training job; this process only submits and waits (the worker is its child)."""
    from springboard.jobs import JobStore, default_name, submit, wait_for
    from springboard.train.artifact import read_artifact
    from springboard.train.job import TrainingJobConfig

    config = TrainingJobConfig(
        model=setup.model,
        train=setup.train_dir,
        validation=setup.validation_dir,
        hyperparameters=setup.springboard_hyperparameters(),
    )
    job = submit(config, name=default_name("throughput"), wait=False)
    cpu = _train_cpu_seconds(job.name, job.pid)
    job = wait_for(job.name, poll=0.5)
    if job.status != "Completed":
        raise SystemExit(f"training job {job.name} {job.status}: {job.failure_reason}")
    # The status is written just before the worker exits: reap it, so its rusage is counted.
    try:
        os.waitpid(job.pid, 0)
    except ChildProcessError:
        pass  # already reaped by wait_for
    metrics = JobStore().metrics(job.name)
    # The loop logs val_loss at step 0 right before its first step and a tokens_per_second
    # point after its last optimizer step: between them lies exactly the training.
    start = next(m.timestamp for m in metrics if m.name == "val_loss" and m.step == 0)
    end = max(m.timestamp for m in metrics if m.name == "tokens_per_second")
    artifact = Path(job.output_dir)
    record = read_artifact(artifact) or {}
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = resource.getrusage(resource.RUSAGE_SELF)
    result = {
        "job": job.name,
        "train_seconds": end - start,
        "train_cpu_seconds": cpu,
        "train_tokens": record["metrics"]["train_tokens"],
        "global_step": record["metrics"]["global_step"],
        "reported": {
            "tokens_per_second": record["metrics"]["tokens_per_second"],
            "val_loss": record["metrics"]["val_loss"],
            "training_seconds": record["metrics"]["training_seconds"],
        },
        "data_fingerprint": record["data_fingerprint"],
        "adapter_dir": str(artifact / "adapter"),
        "training_process_maxrss_mb": children.ru_maxrss / 1024,
        "submitter_maxrss_mb": own.ru_maxrss / 1024,
    }
    out.write_text(json.dumps(result, indent=2))


def _train_cpu_seconds(name: str, pid: int, poll: float = 0.1) -> float:
    """CPU seconds (all threads) the job's worker spends training, sampled from /proc while
    the job runs: from the step-0 validation point to the last step's metrics point. Unlike
    wall time this moves much less when other processes share the CPU."""
    import psutil

    from springboard.jobs import JobStore, refresh

    store = JobStore()
    proc = psutil.Process(pid)
    start = end = None
    while end is None:
        job = refresh(name, store)
        if job.done:
            raise SystemExit(f"training job {name} ended ({job.status}) before its last step was seen")
        t = proc.cpu_times()
        if start is None and any(m.step == 0 for m in store.metrics(name, "val_loss")):
            start = t.user + t.system
        total = job.config.get("total_steps")
        if start is not None and total and any(m.step == total for m in store.metrics(name, "tokens_per_second")):
            end = t.user + t.system
        time.sleep(poll)
    return end - start


def side_trainer(setup: Setup, out: Path, grouped: bool) -> None:
    """The ordinary Trainer script: same tokens (from prepare_data), padding to the longest
    in each batch, Trainer's defaults for everything this benchmark does not pin down."""
    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        DataCollatorForSeq2Seq,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    tokenizer, data = prepared(setup)

    class Examples(torch.utils.data.Dataset):
        def __init__(self, examples) -> None:
            self.examples = examples

        def __len__(self) -> int:
            return len(self.examples)

        def __getitem__(self, i: int) -> dict[str, list[int]]:
            e = self.examples[i]
            return {"input_ids": e.input_ids, "attention_mask": [1] * len(e.input_ids), "labels": e.labels}

    class CountingCollator(DataCollatorForSeq2Seq):
        """Counts the padded batch sizes (for the padding fraction in the report)."""

        padded = 0

        def __call__(self, features, return_tensors=None):
            batch = super().__call__(features, return_tensors)
            CountingCollator.padded += batch["input_ids"].numel()
            return batch

    class Clock(TrainerCallback):
        start = end = cpu_start = cpu_end = None

        def on_train_begin(self, args, state, control, **kwargs):
            Clock.start, Clock.cpu_start = time.perf_counter(), time.process_time()

        def on_step_end(self, args, state, control, **kwargs):
            Clock.end, Clock.cpu_end = time.perf_counter(), time.process_time()

    model = AutoModelForCausalLM.from_pretrained(setup.model_dir, dtype=torch.float32)
    model.config.use_cache = False  # the usual line in fine-tuning scripts; no KV cache in training
    model = get_peft_model(
        model,
        LoraConfig(
            task_type=TaskType.CAUSAL_LM, r=setup.lora_r, lora_alpha=setup.lora_alpha, lora_dropout=setup.lora_dropout
        ),
    )
    workdir = Path(out).parent / ("trainer-grouped" if grouped else "trainer")
    args = TrainingArguments(
        output_dir=str(workdir),
        num_train_epochs=setup.epochs,
        per_device_train_batch_size=setup.batch_size,
        per_device_eval_batch_size=setup.eval_batch_size,
        learning_rate=setup.learning_rate,
        lr_scheduler_type=setup.lr_scheduler_type,
        warmup_steps=setup.warmup_ratio,  # a float < 1 is a ratio in transformers 5
        weight_decay=setup.weight_decay,
        max_grad_norm=setup.max_grad_norm,
        seed=setup.seed,
        logging_steps=setup.logging_steps,
        eval_strategy="no",
        save_strategy="no",
        report_to=[],
        remove_unused_columns=False,
        disable_tqdm=True,
        train_sampling_strategy="group_by_length" if grouped else "random",
    )
    collator = CountingCollator(tokenizer, padding="longest", label_pad_token_id=-100)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=Examples(data.train),
        eval_dataset=Examples(data.validation),
        data_collator=collator,
        callbacks=[Clock()],
    )
    output = trainer.train()
    train_padded = CountingCollator.padded
    evaluation = trainer.evaluate()
    adapter_dir = workdir / "adapter"
    model.save_pretrained(adapter_dir)
    own = resource.getrusage(resource.RUSAGE_SELF)
    result = {
        "train_seconds": Clock.end - Clock.start,
        "train_cpu_seconds": Clock.cpu_end - Clock.cpu_start,
        "train_tokens": sum(len(e.input_ids) for e in data.train) * setup.epochs,
        "padded_tokens": train_padded,
        "global_step": output.global_step,
        "reported": {
            "train_runtime": output.metrics.get("train_runtime"),
            "eval_loss": evaluation.get("eval_loss"),
            "optimizer": str(args.optim),
        },
        "data_fingerprint": data.fingerprint,
        "adapter_dir": str(adapter_dir),
        "training_process_maxrss_mb": own.ru_maxrss / 1024,
    }
    out.write_text(json.dumps(result, indent=2))


# --------------------------------------------------------------------------- measurement (runner)


def run_side(side: str, setup_file: Path, workdir: Path, env: dict[str, str]) -> dict:
    """Runs one side in its own process; wait4's rusage covers it and every child it reaped
    (the training job's worker), so ru_maxrss is the peak RSS of the side's whole tree."""
    out = workdir / f"{side}.json"
    load_before = os.getloadavg()
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "_side", side, str(setup_file), str(out)], env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"side {side} failed with exit code {proc.returncode}")
    result = json.loads(out.read_text())
    result["process_wall_seconds"] = time.perf_counter() - started
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    result["load_average_before"] = load_before[0]
    result["load_average_after"] = os.getloadavg()[0]
    result["tokens_per_second"] = result["train_tokens"] / result["train_seconds"]
    result["tokens_per_cpu_second"] = result["train_tokens"] / result["train_cpu_seconds"]
    return result


def completion_loss(model_dir: str, adapter_dir: str, examples, batch_size: int) -> float:
    """Token-weighted mean cross-entropy over the completion (label) tokens: the same function
    for every side, on base model + that side's LoRA adapter."""
    import torch
    import torch.nn.functional as F
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model = PeftModel.from_pretrained(model, adapter_dir).eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(examples), batch_size):
            chunk = examples[i : i + batch_size]
            width = max(len(e.input_ids) for e in chunk)
            ids = torch.zeros((len(chunk), width), dtype=torch.long)
            mask = torch.zeros_like(ids)
            labels = torch.full_like(ids, -100)
            for row, e in enumerate(chunk):
                ids[row, : len(e.input_ids)] = torch.tensor(e.input_ids)
                mask[row, : len(e.input_ids)] = 1
                labels[row, : len(e.labels)] = torch.tensor(e.labels)
            logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits[:, :-1]
            target = labels[:, 1:]
            total += F.cross_entropy(
                logits.reshape(-1, logits.size(-1)), target.reshape(-1), ignore_index=-100, reduction="sum"
            ).item()
            count += int((target != -100).sum())
    return total / count


def springboard_padding(setup: Setup, lengths: list[int]) -> int:
    """Padded tokens the job's batches hold (its batch order is a pure function of the seed)."""
    from springboard.train.batching import length_grouped_batches

    padded = 0
    for epoch in range(setup.epochs):
        for idx in length_grouped_batches(lengths, setup.batch_size, setup.seed, epoch):
            padded += len(idx) * max(lengths[i] for i in idx)
    return padded


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--examples", type=int, default=160, help="training examples (each side)")
    p.add_argument("--val-examples", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--learning-rate", type=float, default=5e-4)
    p.add_argument("--warmup-ratio", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--no-grouped", action="store_true", help="skip the Trainer group_by_length row")
    p.add_argument("--quick", action="store_true", help="a dry run: 16 training, 8 validation examples")
    p.add_argument("--workdir", help="where data, jobs and adapters go (default: a temporary directory)")
    p.add_argument("--output", default=str(RESULTS))
    args = p.parse_args(argv)
    if args.quick:
        args.examples, args.val_examples = 16, 8

    os.environ["HF_HUB_OFFLINE"] = "1"
    from springboard import settings
    from springboard.hub import resolve_model

    # Jobs go to a throwaway home; the converted weights stay in the user's cache.
    os.environ["SPRINGBOARD_MODELS_DIR"] = str(settings.models_dir())
    env = dict(os.environ)
    model_dir = resolve_model(args.model)  # converts once, before anything is timed

    tmp = None
    if args.workdir:
        workdir = Path(args.workdir).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="sb-throughput-")
        workdir = Path(tmp.name)
    env["SPRINGBOARD_HOME"] = str(workdir / "home")
    train_dir, val_dir = write_channels(workdir, args.examples, args.val_examples)
    setup = Setup(
        model=args.model,
        model_dir=str(model_dir),
        train_dir=str(train_dir),
        validation_dir=str(val_dir),
        epochs=args.epochs,
        batch_size=args.batch_size,
        eval_batch_size=8,
        learning_rate=args.learning_rate,
        warmup_ratio=args.warmup_ratio,
        lr_scheduler_type="linear",
        weight_decay=0.0,
        max_grad_norm=1.0,
        seed=args.seed,
        max_length=args.max_length,
        lora_r=16,
        lora_alpha=32,
        lora_dropout=0.05,
        logging_steps=5,
    )
    setup_file = workdir / "setup.json"
    setup_file.write_text(json.dumps(asdict(setup), indent=2))

    _, data = prepared(setup)
    lengths = [len(e.input_ids) for e in data.train]
    sides = [s for s in SIDES if not (args.no_grouped and s == "trainer-grouped")]
    results: dict[str, dict] = {}
    for side in sides:
        print(f"== {side}: training {len(data.train)} examples ({sum(lengths)} tokens) ...", flush=True)
        results[side] = run_side(side, setup_file, workdir, env)
        print(f"   {results[side]['tokens_per_second']:.1f} tokens/s", flush=True)
    results["springboard"]["padded_tokens"] = springboard_padding(setup, lengths)

    for side, r in results.items():
        if r["data_fingerprint"] != data.fingerprint:
            raise SystemExit(f"side {side} trained on different data (fingerprint mismatch)")
        if r["train_tokens"] != sum(lengths) * args.epochs:
            raise SystemExit(f"side {side} processed {r['train_tokens']} tokens, expected {sum(lengths) * args.epochs}")
        r["val_loss"] = completion_loss(setup.model_dir, r["adapter_dir"], data.validation, setup.eval_batch_size)
        r["padding_fraction"] = 1 - r["train_tokens"] / r["padded_tokens"]

    sb, tr = results["springboard"], results["trainer"]
    summary = {
        "speedup_vs_trainer": sb["tokens_per_second"] / tr["tokens_per_second"],
        "cpu_time_speedup_vs_trainer": sb["tokens_per_cpu_second"] / tr["tokens_per_cpu_second"],
        "peak_rss_ratio_vs_trainer": sb["peak_rss_mb"] / tr["peak_rss_mb"],
        "val_loss_relative_difference": (sb["val_loss"] - tr["val_loss"]) / tr["val_loss"],
    }
    if "trainer-grouped" in results:
        grouped = results["trainer-grouped"]
        summary["speedup_vs_trainer_grouped"] = sb["tokens_per_second"] / grouped["tokens_per_second"]
    summary["targets_met"] = {
        "speedup_ge_1.2": summary["speedup_vs_trainer"] >= 1.2,
        "peak_rss_le_trainer": summary["peak_rss_ratio_vs_trainer"] <= 1.0,
        "val_loss_within_2pct": abs(summary["val_loss_relative_difference"]) <= 0.02,
    }
    report = {
        "benchmark": "train_throughput",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "torch_threads": _torch_threads(), "platform": sys.platform},
        "setup": asdict(setup) | {
            "train_examples": len(data.train),
            "validation_examples": len(data.validation),
            "train_tokens_per_epoch": sum(lengths),
            "validation_label_tokens": data.stats.validation.label_tokens,
            "quick": args.quick,
        },
        "results": results,
        "summary": summary,
    }
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    _print_table(results, summary)
    print(f"\nwritten to {out}")
    if tmp is not None:
        tmp.cleanup()
    return 0


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def _print_table(results: dict[str, dict], summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="training throughput (non-padding tokens/s over training wall time)")
    columns = ("side", "tokens/s", "tokens/CPU-s", "train s", "padding", "peak RSS MB", "val loss", "steps", "load avg")
    for col in columns:
        table.add_column(col, justify="left" if col == "side" else "right", no_wrap=True)
    for side, r in results.items():
        table.add_row(
            side,
            f"{r['tokens_per_second']:.1f}",
            f"{r['tokens_per_cpu_second']:.1f}",
            f"{r['train_seconds']:.1f}",
            f"{r['padding_fraction']:.1%}",
            f"{r['peak_rss_mb']:.0f}",
            f"{r['val_loss']:.4f}",
            str(r["global_step"]),
            f"{r['load_average_before']:.1f}/{r['load_average_after']:.1f}",
        )
    console = Console(width=max(Console().width, 120))
    console.print(table)
    console.print(
        f"speed-up vs Trainer: {summary['speedup_vs_trainer']:.2f}x wall-clock, "
        f"{summary['cpu_time_speedup_vs_trainer']:.2f}x per CPU-second (target >= 1.2)\n"
        f"peak RSS ratio: {summary['peak_rss_ratio_vs_trainer']:.2f} (target <= 1)   "
        f"val loss difference: {summary['val_loss_relative_difference']:+.2%} (target within 2%)"
    )
    if "speedup_vs_trainer_grouped" in summary:
        console.print(f"speed-up vs Trainer with group_by_length: {summary['speedup_vs_trainer_grouped']:.2f}x")


def _side_main(side: str, setup_file: str, out: str) -> None:
    setup = Setup(**json.loads(Path(setup_file).read_text()))
    if side == "springboard":
        side_springboard(setup, Path(out))
    else:
        side_trainer(setup, Path(out), grouped=side == "trainer-grouped")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_side":
        _side_main(*sys.argv[2:5])
        sys.exit(0)
    sys.exit(main())
