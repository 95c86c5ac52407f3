"""Training precision and the levers peers use, each its own row, in one run.

Issue 21's claims: bf16 mixed precision (autocast, LoRA weights and optimizer state float32)
trains faster than float32 on a CPU whose bf16 GEMM is faster, with a held-out loss within 1% of
float32's; and which of TRL / Axolotl / Unsloth's levers win on this machine.

Rows (each in its own child process, one after the other, same data, seed and hyperparameters):
- `float32`: the baseline;
- `bfloat16`: `precision=bfloat16` (torch.autocast; the LM head and the loss in float32);
- `bf16+padding-free`: each batch's examples packed into ONE row, position ids restarting per
  example and attention kept inside each example (transformers 5 builds a block-diagonal causal
  mask from position ids that restart when no attention mask is given) - no padding at all;
- `bf16+chunked-loss`: `chunked_loss=N` (`--chunk-rows`, default 128): the LM head and the
  cross-entropy N label positions at a time, the gradient computed in the same pass, so the
  float32 logits (label tokens x 49152) are never held whole: its peak RSS and time against
  `bfloat16`'s (the label-position-only head is the loop's default in every row);
- `bf16+compile`: `torch_compile=True`, the model body under `torch.compile(dynamic=True)`
  (compile time included: it is paid by every job);
- `bf16+int8`: `int8_quantization=True` (bitsandbytes 8-bit base weights, LoRA float32): its
  memory and held-out loss against `bfloat16`'s.

Every row is scored by ONE function: the loop's token-weighted completion loss in float32 over
the held-out examples, on the row's trained model. Reported per row: training wall seconds
(first step to last; model load, data preparation and scoring excluded), non-padding tokens/s,
peak RSS of the row's process, held-out loss and its gap to float32's.

    .venv/bin/python benchmarks/train_precision.py              # ~15 min on an idle 2-core CPU
    .venv/bin/python benchmarks/train_precision.py --quick      # plumbing: 24 examples

The machine may be shared: the load average around each row is recorded with its numbers, and
ratios between rows of one run are what to compare.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_throughput import write_channels  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "train_precision.json"
ROWS = ("float32", "bfloat16", "bf16+chunked-loss", "bf16+compile", "bf16+padding-free", "bf16+int8")


class _Quiet:
    def log_metrics(self, *a, **k) -> None: ...
    def should_stop(self) -> bool: return False
    def update_config(self, **k) -> None: ...


def hyperparameters(args: argparse.Namespace, row: str) -> dict[str, str]:
    return {
        "instruction_tuned": "True", "use_chat_template": "True", "epoch": str(args.epochs),
        "learning_rate": str(args.learning_rate), "per_device_train_batch_size": str(args.batch_size),
        "per_device_eval_batch_size": "8", "max_input_length": str(args.max_length), "lora_r": "16",
        "lora_alpha": "32", "lora_dropout": "0.05", "lora_target_modules": "q_proj,v_proj",
        "warmup_ratio": "0.05", "seed": "42", "logging_steps": "5",
        "precision": "float32" if row == "float32" else "bfloat16",
        "int8_quantization": str(row == "bf16+int8"),
        "chunked_loss": str(args.chunk_rows if row == "bf16+chunked-loss" else 0),
        "torch_compile": str(row == "bf16+compile"),
    }


def padding_free_collate(examples, pad_id: int):
    """One row: the batch's examples end to end, position ids restarting at 0 for each, no
    attention mask (transformers then keeps attention inside each example)."""
    import torch

    ids = [t for e in examples for t in e.input_ids]
    labels = [t for e in examples for t in e.labels]
    pos = [p for e in examples for p in range(len(e.input_ids))]
    return {"input_ids": torch.tensor([ids]), "labels": torch.tensor([labels]), "position_ids": torch.tensor([pos])}


def padding_free_loss(model, batch, seq2seq, split, smoothing: float = 0.0, chunk: int = 0):
    import torch
    import torch.nn.functional as F

    if chunk:
        raise ValueError("the padding-free row runs without chunked_loss")

    body, head = split
    target = batch["labels"][:, 1:]
    keep = target != -100
    hidden = body(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).last_hidden_state
    with torch.autocast(hidden.device.type, enabled=False):
        logits = head(hidden[:, :-1][keep].to(head.weight.dtype)).float()
    return F.cross_entropy(logits, target[keep], reduction="sum", label_smoothing=smoothing), keep.sum()


def run_row(row: str, setup: dict) -> dict:
    """In the child process: train, time, score."""
    import torch

    from springboard.data import DataOptions, prepare_data
    from springboard.hardware import Precision
    from springboard.train import hyperparameters as hps
    from springboard.train import forward, loop, modeling

    args = argparse.Namespace(**setup["args"])
    hp = hps.parse("causal-lm", hyperparameters(args, row))
    device = torch.device("cpu")
    model, tok, seq2seq = modeling.load_model(Path(setup["model_dir"]), hp, device)
    weights_mb = model.get_memory_footprint() / 2**20  # parameters and buffers as loaded
    options = DataOptions(architecture="causal", instruction_tuned=True, use_chat_template=True,
                          max_input_length=args.max_length, validation_split_ratio=0.0)
    train = prepare_data(setup["train_dir"], tok, options).train
    held_out = prepare_data(setup["validation_dir"], tok, options).train
    own = (loop.collate_causal, loop.loss_sum)
    if row == "bf16+padding-free":
        loop.collate_causal, loop.loss_sum = padding_free_collate, padding_free_loss
    load = os.getloadavg()[0]
    start = time.perf_counter()
    result = loop.fit(model, tok, train, [], hp, _Quiet(), Path(setup["workdir"]) / f"ck-{row}", seq2seq, device)
    seconds = time.perf_counter() - start
    loop.collate_causal, loop.loss_sum = own  # every row is scored by the loop's own functions
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    if modeling.stores_reduced_base(hp, device, modeling.precision_for(hp, device)):
        # what the job saves and every row is scored on: the adapter merged onto the base as stored
        model = modeling.merge_base(modeling.adapter_state(model), Path(setup["model_dir"]), hp)
    held_out_loss = forward.evaluate(model, held_out, hp, False, pad_id, device,
                                     precision=Precision("float32", "float32", "scoring"))
    return {
        "row": row,
        "hyperparameters": {k: v for k, v in hyperparameters(args, row).items()
                            if k in ("precision", "int8_quantization", "chunked_loss", "torch_compile")},
        "train_seconds": seconds,
        "train_tokens": result.train_tokens,
        "tokens_per_second": result.train_tokens / seconds,
        "train_loss": result.train_loss,
        "held_out_loss": held_out_loss,
        "model_memory_mb": weights_mb,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load_avg_before": load,
        "load_avg_after": os.getloadavg()[0],
        "torch_threads": torch.get_num_threads(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--examples", type=int, default=160)
    p.add_argument("--val-examples", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--learning-rate", type=float, default=5e-4)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--rows", default=",".join(ROWS), help=f"comma list of {', '.join(ROWS)}")
    p.add_argument("--chunk-rows", type=int, default=128, help="chunked_loss of the bf16+chunked-loss row")
    p.add_argument("--quick", action="store_true", help="24 training, 8 held-out examples")
    p.add_argument("--output", default=str(RESULTS))
    args = p.parse_args(argv)
    if args.quick:
        args.examples, args.val_examples = 24, 8
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = sorted(set(rows) - set(ROWS))
    if unknown:
        p.error(f"--rows: unknown {unknown}; known: {', '.join(ROWS)}")

    from springboard.hardware import cpu_bf16, cpu_name
    from springboard.hub import resolve_model

    model_dir = resolve_model(args.model)  # converts once, before anything is timed
    probe = cpu_bf16()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        train_dir, val_dir = write_channels(work, args.examples, args.val_examples)
        setup = {"args": vars(args), "model_dir": str(model_dir), "train_dir": str(train_dir),
                 "validation_dir": str(val_dir), "workdir": str(work)}
        (work / "setup.json").write_text(json.dumps(setup))
        results = []
        for row in rows:
            out = work / f"{row}.json"
            subprocess.run([sys.executable, __file__, "--child", row, str(work / "setup.json"), str(out)], check=True)
            results.append(json.loads(out.read_text()))
            print(json.dumps(results[-1]), flush=True)
    base = next((r for r in results if r["row"] == "float32"), None)
    bf16 = next((r for r in results if r["row"] == "bfloat16"), None)
    for r in results:
        if bf16:
            r["held_out_loss_gap_vs_bfloat16"] = r["held_out_loss"] / bf16["held_out_loss"] - 1
        if base:
            r["speedup_vs_float32"] = base["train_seconds"] / r["train_seconds"]
            r["held_out_loss_gap_vs_float32"] = r["held_out_loss"] / base["held_out_loss"] - 1
    report = {"model": args.model, "cpu": cpu_name(), "bf16_gemm_speedup": probe.speedup,
              "native_bf16": probe.native, "setup": vars(args), "rows": results,
              "note": "wall-clock on a machine that may be shared; compare rows of this run only"}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'row':<20}{'train s':>9}{'tok/s':>9}{'speedup':>9}{'held-out':>10}{'gap':>8}{'RSS MB':>8}{'model MB':>9}{'load':>6}")
    for r in results:
        print(f"{r['row']:<20}{r['train_seconds']:>9.1f}{r['tokens_per_second']:>9.0f}"
              f"{r.get('speedup_vs_float32', float('nan')):>9.2f}{r['held_out_loss']:>10.4f}"
              f"{100 * r.get('held_out_loss_gap_vs_float32', float('nan')):>7.2f}%{r['peak_rss_mb']:>8.0f}"
              f"{r['model_memory_mb']:>9.0f}{r['load_avg_before']:>6.1f}")
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        row, setup_file, out = sys.argv[2:]
        Path(out).write_text(json.dumps(run_row(row, json.loads(Path(setup_file).read_text()))))
        sys.exit(0)
    sys.exit(main())
