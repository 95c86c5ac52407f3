"""Springboard's whole training command vs a TRL `SFTTrainer` script, same data and hyperparameters.

Issue 21's claim: `springboard train` (load + train + save the merged model) takes at most 1/2.5
of the wall time of the faster of two TRL runs (float32, bf16), with a held-out loss within 2% of
that TRL run's.

Both sides get the same 160 prompt/completion examples (the quickstart's docstring -> summary
set), LoRA r=16 alpha=32 dropout=0.05 on q_proj,v_proj, batch 8, 1 epoch, max length 256, lr
5e-4 linear with 5% warm-up, seed 42, the chat template, loss on the completion only, no
validation during training, on the default model (smollm2-135m-instruct, converted once before
anything is timed). Each side is ONE command run as a subprocess and timed from start to exit:

- `springboard`: `springboard train --model ... --train DIR --hp ... --wait` (precision `auto`,
  the default; the job's artifact, which the command names, holds the merged model);
- `trl-float32` / `trl-bf16`: the script a TRL user writes (written to the work dir, shown in
  the results): `SFTTrainer` on a conversational prompt/completion JSONL, peft `LoraConfig`,
  then `merge_and_unload()` and `save_pretrained`. TRL's SFTConfig turns gradient checkpointing
  on by default; this script turns it off (a 135M model does not need it and it only costs
  time), so the baseline is TRL at its fastest here.

Every merged model (and the base model, for reference) is scored by ONE function: the token-
weighted completion cross-entropy in float32 over 40 held-out examples (Springboard's
tokenisation of the held-out channel, the training loop's `evaluate`).

    .venv/bin/python benchmarks/train_vs_trl.py            # ~10 min on an idle 2-core CPU
    .venv/bin/python benchmarks/train_vs_trl.py --quick    # plumbing: 16 examples, 8 held out

Needs `trl` (the dev extra). Only wall time is compared (Springboard's job runs in a worker the
command does not reap, so its rusage would not cover it). The machine may be shared: the load
average around each side is recorded with its numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "train_vs_trl.json"
PROMPT = "Summarize this Python documentation in one sentence.\n\n{documentation}"
SIDES = ("springboard", "trl-float32", "trl-bf16")
BAR_SPEEDUP = 2.5
BAR_LOSS_GAP = 0.02

TRL_SCRIPT = '''\
"""TRL's SFTTrainer: LoRA fine-tune, merge, save (written by benchmarks/train_vs_trl.py)."""
import json
import sys

from datasets import load_dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import SFTConfig, SFTTrainer

setup = json.loads(open(sys.argv[1]).read())
bf16 = sys.argv[2] == "bf16"
out = sys.argv[3]
tokenizer = AutoTokenizer.from_pretrained(setup["model_dir"])
model = AutoModelForCausalLM.from_pretrained(setup["model_dir"], dtype="float32")
train = load_dataset("json", data_files=setup["trl_train_file"], split="train")
config = SFTConfig(
    output_dir=out + ".trainer",
    num_train_epochs=setup["epochs"],
    per_device_train_batch_size=setup["batch_size"],
    learning_rate=setup["learning_rate"],
    lr_scheduler_type="linear",
    warmup_steps=setup["warmup_ratio"],  # a float in [0, 1): the ratio of the total steps
    weight_decay=0.0,
    max_grad_norm=1.0,
    max_length=setup["max_length"],
    seed=setup["seed"],
    bf16=bf16,
    use_cpu=True,
    gradient_checkpointing=False,
    completion_only_loss=True,
    logging_steps=5,
    save_strategy="no",
    eval_strategy="no",
    report_to="none",
)
lora = LoraConfig(r=setup["lora_r"], lora_alpha=setup["lora_alpha"], lora_dropout=setup["lora_dropout"],
                  target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
trainer = SFTTrainer(model=model, args=config, train_dataset=train, processing_class=tokenizer, peft_config=lora)
trainer.train()
merged = trainer.model.merge_and_unload()
merged.save_pretrained(out)
tokenizer.save_pretrained(out)
'''


def write_data(work: Path, n_train: int, n_val: int) -> dict[str, str]:
    """The same examples for every side: prompt/completion JSONL for Springboard, its
    conversational form (the same user/assistant turns) for TRL, a held-out channel."""
    from springboard.quickstart.dataset import build

    examples = build()
    if n_train + n_val > len(examples):
        raise SystemExit(f"only {len(examples)} examples available; asked for {n_train} + {n_val}")
    held_out, train = examples[:n_val], examples[n_val : n_val + n_train]
    files = {}
    for name, rows in (("train", train), ("held_out", held_out)):
        d = work / name
        d.mkdir(parents=True, exist_ok=True)
        with open(d / "data.jsonl", "w") as f:
            for e in rows:
                f.write(json.dumps({"prompt": PROMPT.format(documentation=e.documentation), "completion": e.summary}) + "\n")
        files[name] = str(d)
    with open(work / "trl_train.jsonl", "w") as f:
        for e in train:
            f.write(json.dumps({
                "prompt": [{"role": "user", "content": PROMPT.format(documentation=e.documentation)}],
                "completion": [{"role": "assistant", "content": e.summary}],
            }) + "\n")
    files["trl_train_file"] = str(work / "trl_train.jsonl")
    return files


def springboard_command(setup: dict) -> list[str]:
    """The user's command; the job's artifact (the merged model) stays where the job writes it."""
    hp = {
        "epoch": setup["epochs"], "learning_rate": setup["learning_rate"],
        "per_device_train_batch_size": setup["batch_size"], "gradient_accumulation_steps": 1,
        "max_input_length": setup["max_length"], "lr_scheduler_type": "linear",
        "warmup_ratio": setup["warmup_ratio"], "weight_decay": 0.0, "max_grad_norm": 1.0, "seed": setup["seed"],
        "peft_type": "lora", "lora_r": setup["lora_r"], "lora_alpha": setup["lora_alpha"],
        "lora_dropout": setup["lora_dropout"], "lora_target_modules": "q_proj,v_proj",
        "instruction_tuned": True, "use_chat_template": True, "validation_split_ratio": 0.0,
        "precision": setup["springboard_precision"], "logging_steps": 5,
    }
    exe = Path(sys.executable).parent / "springboard"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "springboard.cli"]
    cmd += ["train", "--model", setup["model"], "--train", setup["train"], "--wait",
            "--name", f"bench-vs-trl-{os.getpid()}-{int(time.time())}"]
    for key, value in hp.items():
        cmd += ["--hp", f"{key}={value}"]
    return cmd


def run_side(side: str, setup: dict, work: Path) -> dict:
    out = work / f"{side}-merged"
    if side == "springboard":
        cmd = springboard_command(setup)
    else:
        cmd = [sys.executable, str(work / "trl_sft.py"), str(work / "setup.json"), side.split("-")[1], str(out)]
    load = os.getloadavg()[0]
    started = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seconds = time.perf_counter() - started
    log_lines = proc.stdout.splitlines()
    code = proc.returncode
    (work / f"{side}.log").write_text("\n".join(log_lines) + "\n")
    if code != 0:
        print("\n".join(log_lines[-40:]), file=sys.stderr)
        raise SystemExit(f"side {side} failed with exit code {code}")
    if side == "springboard":  # `--wait` ends with "model artifact: <the job's output dir>"
        shown = [line.split("model artifact:", 1)[1].strip() for line in log_lines if "model artifact:" in line]
        if not shown:
            print("\n".join(log_lines[-40:]), file=sys.stderr)
            raise SystemExit("side springboard: the command did not name its model artifact")
        out = Path(shown[-1])
    if not (out / "config.json").exists():
        raise SystemExit(f"side {side}: no merged model in {out}")
    return {
        "side": side, "command": " ".join(cmd), "wall_seconds": seconds, "merged_model": str(out),
        "load_avg_before": load, "load_avg_after": os.getloadavg()[0],
    }


def held_out_loss(model_dir: str, setup: dict) -> float:
    """ONE scoring function for every model: float32 token-weighted completion cross-entropy
    over the held-out channel, tokenised once by Springboard's data preparation (the base
    model's tokenizer, so every model sees the same tokens)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from springboard.data import DataOptions, prepare_data
    from springboard.hardware import Precision
    from springboard.train import hyperparameters as hps
    from springboard.train.forward import evaluate

    tok = AutoTokenizer.from_pretrained(setup["model_dir"])
    options = DataOptions(architecture="causal", instruction_tuned=True, use_chat_template=True,
                          max_input_length=setup["max_length"], validation_split_ratio=0.0)
    examples = prepare_data(setup["held_out"], tok, options).train
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    hp = hps.parse("causal-lm", {"peft_type": "none", "per_device_eval_batch_size": "8", "precision": "float32"})
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    return evaluate(model, examples, hp, False, pad_id, torch.device("cpu"),
                    precision=Precision("float32", "float32", "scoring"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--examples", type=int, default=160)
    p.add_argument("--held-out", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--learning-rate", type=float, default=5e-4)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--springboard-precision", default="auto", choices=["auto", "float32", "bfloat16"])
    p.add_argument("--sides", default=",".join(SIDES), help=f"comma list of {', '.join(SIDES)}")
    p.add_argument("--quick", action="store_true", help="16 training, 8 held-out examples (plumbing only)")
    p.add_argument("--output", default=str(RESULTS))
    args = p.parse_args(argv)
    if args.quick:
        args.examples, args.held_out = 16, 8
    sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    if set(sides) - set(SIDES):
        p.error(f"--sides: unknown {sorted(set(sides) - set(SIDES))}; known: {', '.join(SIDES)}")
    if any(s.startswith("trl") for s in sides):
        try:
            import trl
        except ImportError:
            raise SystemExit("trl is not installed: pip install -e '.[dev]' (or pip install trl)") from None
        trl_version = trl.__version__
    else:
        trl_version = None

    from springboard.hardware import cpu_bf16, cpu_name
    from springboard.hub import resolve_model

    model_dir = resolve_model(args.model)  # converts once, before anything is timed
    probe = cpu_bf16()
    with tempfile.TemporaryDirectory(prefix="sb-vs-trl-") as tmp:
        work = Path(tmp)
        setup = {"model": args.model, "model_dir": str(model_dir), **write_data(work, args.examples, args.held_out),
                 "epochs": args.epochs, "batch_size": args.batch_size, "learning_rate": args.learning_rate,
                 "warmup_ratio": 0.05, "max_length": args.max_length, "seed": 42, "lora_r": 16, "lora_alpha": 32,
                 "lora_dropout": 0.05, "springboard_precision": args.springboard_precision}
        (work / "setup.json").write_text(json.dumps(setup))
        (work / "trl_sft.py").write_text(TRL_SCRIPT)
        rows = []
        for side in sides:
            row = run_side(side, setup, work)
            row["held_out_loss"] = held_out_loss(row["merged_model"], setup)
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "command"}), flush=True)
        base_loss = held_out_loss(str(model_dir), setup)

    summary: dict = {"base_model_held_out_loss": base_loss}
    sb = next((r for r in rows if r["side"] == "springboard"), None)
    trls = [r for r in rows if r["side"].startswith("trl")]
    if sb and trls:
        fastest = min(trls, key=lambda r: r["wall_seconds"])
        speedup = fastest["wall_seconds"] / sb["wall_seconds"]
        gap = sb["held_out_loss"] / fastest["held_out_loss"] - 1
        summary.update({
            "trl_faster_side": fastest["side"], "speedup_vs_trl_faster": speedup,
            "held_out_loss_gap_vs_trl_faster": gap,
            "bar": f"speedup >= {BAR_SPEEDUP} and |loss gap| <= {BAR_LOSS_GAP:.0%}",
            "meets_bar": speedup >= BAR_SPEEDUP and abs(gap) <= BAR_LOSS_GAP,
        })
    for r in rows:
        r.pop("merged_model")
    report = {"model": args.model, "cpu": cpu_name(), "bf16_gemm_speedup": probe.speedup, "trl": trl_version,
              "setup": vars(args), "trl_script": TRL_SCRIPT if trls else None, "rows": rows, "summary": summary,
              "note": "wall-clock of each whole command on a machine that may be shared; compare rows of this run"}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'side':<14}{'wall s':>9}{'held-out':>10}{'load':>6}")
    for r in rows:
        print(f"{r['side']:<14}{r['wall_seconds']:>9.1f}{r['held_out_loss']:>10.4f}{r['load_avg_before']:>6.1f}")
    print(f"base model held-out loss {base_loss:.4f}")
    if "speedup_vs_trl_faster" in summary:
        print(f"springboard vs {summary['trl_faster_side']}: {summary['speedup_vs_trl_faster']:.2f}x, held-out loss "
              f"gap {100 * summary['held_out_loss_gap_vs_trl_faster']:+.2f}%  (bar: {summary['bar']}: "
              f"{'met' if summary['meets_bar'] else 'NOT met'})")
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
