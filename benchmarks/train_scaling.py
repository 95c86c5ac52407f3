"""Training on 1 vs 2 CPU processes: tokens/s and what the gloo gradient all-reduce costs.

Issue 14's bar: tokens/s for 1 and 2 CPU processes on this machine, and the cost of the gloo
all-reduce per optimizer step. Every row is a real training job (`jobs.submit`, the job
runner, `accelerate launch` for 2 processes) on the same data, hyperparameters, seed and global
batch (1 process x batch B, or 2 processes x batch B/2), one after the other:

- `1 proc, 1 thread`  - the baseline the 2-process run is compared with (one core's worth);
- `1 proc, 2 threads` - the other way to use two cores: torch's intra-op threads;
- `2 procs, 1 thread each` - data-parallel under accelerate launch (gloo);
for LoRA (small gradients) and, with `--full`, full fine-tuning (every weight's gradient goes
through the all-reduce).

Measured per row: non-padding tokens/s over training time (the job's own `tokens_per_second`:
model load, data preparation, validation and checkpoints excluded), wall time of the whole job,
the final validation loss (must agree across rows: same global batch), and for 2 processes the
all-reduce seconds per optimizer step (`ranks/comm.json`, timed around the all-reduce calls on
rank 0, including the wait for the slower rank). Results: benchmarks/results/train_scaling.json.

    .venv/bin/python benchmarks/train_scaling.py                 # SmolLM2-135M, LoRA + full; ~10 min
    .venv/bin/python benchmarks/train_scaling.py --quick         # a dry run of the plumbing

The machine may be shared: throughput is wall-clock, so the load average before each row is
recorded with it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "train_scaling.json"
PROMPT = "Summarize this Python documentation in one sentence.\n\n{documentation}"


def write_channel(workdir: Path, n: int) -> Path:
    from springboard.quickstart.dataset import build

    examples = build()[:n]
    d = workdir / "train"
    d.mkdir(parents=True, exist_ok=True)
    with open(d / "data.jsonl", "w") as f:
        for e in examples:
            f.write(json.dumps({"documentation": e.documentation, "summary": e.summary}) + "\n")
    (d / "template.json").write_text(json.dumps({"prompt": PROMPT, "completion": "{summary}"}))
    return d


def run_row(model: str, train: Path, hp: dict[str, str], processes: int, threads: int, name: str) -> dict:
    from springboard import jobs
    from springboard.train.job import TrainingJobConfig

    os.environ["OMP_NUM_THREADS"] = str(threads)  # the job's processes inherit it
    os.environ["MKL_NUM_THREADS"] = str(threads)
    load = os.getloadavg()[0]
    t = time.perf_counter()
    job = jobs.submit(
        TrainingJobConfig(model=model, train=str(train), hyperparameters=hp, processes=processes), name=name, wait=True
    )
    wall = time.perf_counter() - t
    if job.status != "Completed":
        raise SystemExit(f"{name}: {job.status}: {job.failure_reason}")
    record = json.loads((Path(job.output_dir) / "springboard.json").read_text())
    metrics = record["metrics"]
    comm_file = Path(job.job_dir) / "ranks" / "comm.json"
    comm = json.loads(comm_file.read_text()) if comm_file.exists() else None
    row = {
        "name": name,
        "processes": processes,
        "threads_per_process": threads,
        "tokens_per_second": metrics["tokens_per_second"],
        "train_tokens": metrics["train_tokens"],
        "optimizer_steps": metrics["global_step"],
        "job_wall_seconds": wall,
        "val_loss": metrics["val_loss"],
        "load_average_before": load,
        "all_reduce_seconds_per_step": comm["all_reduce_seconds"] / comm["steps"] if comm else None,
        "train_losses": [m.value for m in jobs.JobStore().metrics(name, "train_loss")],
    }
    if comm:
        row["all_reduce_share_of_step"] = row["all_reduce_seconds_per_step"] / (
            metrics["train_tokens"] / metrics["tokens_per_second"] / metrics["global_step"]
        )
    print(
        f"{name:<24} {processes} x {threads} thr  {row['tokens_per_second']:8.1f} tok/s  "
        f"wall {wall:6.1f} s  val_loss {row['val_loss']:.4f}"
        + (f"  all-reduce {1000 * row['all_reduce_seconds_per_step']:.1f} ms/step "
           f"({100 * row['all_reduce_share_of_step']:.0f}% of a step)" if comm else "")
        + f"  (load {load:.2f})",
        flush=True,
    )
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--examples", type=int, default=96)
    p.add_argument("--batch-size", type=int, default=8, help="global batch (per process: batch / processes)")
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--full-steps", type=int, default=6, help="optimizer steps of the full fine-tuning rows")
    p.add_argument("--no-full", action="store_true", help="skip the full fine-tuning rows")
    p.add_argument("--quick", action="store_true", help="a dry run: 16 examples, 2 full steps")
    p.add_argument("--output", default=str(RESULTS))
    args = p.parse_args(argv)
    if args.quick:
        args.examples, args.full_steps = 16, 2

    os.environ["HF_HUB_OFFLINE"] = "1"
    from springboard import settings
    from springboard.hub import resolve_model

    os.environ["SPRINGBOARD_MODELS_DIR"] = str(settings.models_dir())
    resolve_model(args.model)  # converts once, before anything is timed
    tmp = tempfile.TemporaryDirectory(prefix="sb-scaling-")
    workdir = Path(tmp.name)
    os.environ["SPRINGBOARD_HOME"] = str(workdir / "home")
    train = write_channel(workdir, args.examples)
    base = {
        "epoch": "1", "instruction_tuned": "True", "learning_rate": "0.0005", "seed": "42",
        "max_input_length": str(args.max_length), "validation_split_ratio": "0.125", "lora_dropout": "0",
        "logging_steps": "1", "warmup_ratio": "0",
    }
    methods = [("lora", {"peft_type": "lora", "lora_r": "16", "lora_alpha": "32"})]
    if not args.no_full:
        methods.append(("full", {"peft_type": "none", "learning_rate": "0.00002", "max_steps": str(args.full_steps)}))
    rows = []
    for method, extra in methods:
        for processes, threads in ((1, 1), (1, 2), (2, 1)):
            hp = {**base, **extra, "per_device_train_batch_size": str(args.batch_size // processes)}
            rows.append({"method": method, **run_row(args.model, train, hp, processes, threads,
                                                     f"{method}-{processes}p-{threads}t")})
    summary = {}
    for method, _ in methods:
        by = {(r["processes"], r["threads_per_process"]): r for r in rows if r["method"] == method}
        one, two_thr, two = by[(1, 1)], by[(1, 2)], by[(2, 1)]
        summary[method] = {
            "speedup_2_processes_vs_1_process_1_thread": two["tokens_per_second"] / one["tokens_per_second"],
            "speedup_2_processes_vs_1_process_2_threads": two["tokens_per_second"] / two_thr["tokens_per_second"],
            "all_reduce_ms_per_step": 1000 * two["all_reduce_seconds_per_step"],
            "all_reduce_share_of_step": two["all_reduce_share_of_step"],
            "max_train_loss_rel_diff_2p_vs_1p": max(
                abs(a - b) / abs(a) for a, b in zip(one["train_losses"], two["train_losses"])
            ),
        }
        print(f"{method}: 2 processes = {summary[method]['speedup_2_processes_vs_1_process_1_thread']:.2f}x "
              f"1 process/1 thread, {summary[method]['speedup_2_processes_vs_1_process_2_threads']:.2f}x "
              f"1 process/2 threads; all-reduce {summary[method]['all_reduce_ms_per_step']:.1f} ms/step; "
              f"max loss diff {summary[method]['max_train_loss_rel_diff_2p_vs_1p']:.1e}")
    import torch

    out = {
        "benchmark": "train_scaling",
        "model": args.model,
        "examples": args.examples,
        "global_batch": args.batch_size,
        "max_length": args.max_length,
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "quick": args.quick,
        "rows": rows,
        "summary": summary,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(out, indent=2))
    print(f"results written to {args.output}")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
