"""A whole `springboard train` JOB on a 7B on this 24 GB CPU machine: Mistral-7B's ARCHITECTURE with
RANDOM weights (never presented as the model: no checkpoint is read, the losses mean nothing).

benchmarks/train_7b_memory.py times one LoRA step of the architecture in isolation; this runs the
product's own path end to end, as a user would with a 7B checkpoint on disk: the CLI's checks,
the job's load (the checkpoint's bf16 weights; on a CPU in bf16 the LoRA base's linear layers stay
bf16), LoRA r8 on q,v, bf16 autocast, `gradient_checkpointing=True`, two optimizer steps at
batch 1 of ~500-token examples, then the artifact: the training model released, the base read
again in the checkpoint's precision and the adapter merged onto it, saved. Reports the job's peak
RSS (the worker process tree, sampled every 0.2 s), the wall time of each phase from the job log,
and the artifact's size.

The checkpoint is written first (random weights, bf16, ~14.5 GB under --dir) with the default
model's tokenizer (49152 entries, so the vocabulary is 1.5x Mistral's 32000: +0.14 B parameters).

    .venv/bin/python benchmarks/train_7b_job.py [--dir /var/tmp]   # ~10 minutes, ~45 GB of disk

Refuses to start below 20 GB MemAvailable. Writes benchmarks/results/train_7b_job.json."""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

RESULTS = Path(__file__).parent / "results" / "train_7b_job.json"
GB = 2**30


def write_checkpoint(out: Path) -> int:
    import torch
    from train_7b_memory import config_for
    from transformers import AutoModelForCausalLM

    from springboard import hub

    tokenizer_dir = Path(hub.resolve_model("smollm2-135m-instruct"))
    config = config_for("mistral-7b")
    config.vocab_size = json.loads((tokenizer_dir / "config.json").read_text())["vocab_size"]
    for key in ("bos_token_id", "eos_token_id", "pad_token_id"):
        setattr(config, key, json.loads((tokenizer_dir / "config.json").read_text()).get(key))
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    parameters = sum(p.numel() for p in model.parameters())
    model.save_pretrained(out)
    del model
    gc.collect()
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja"):
        if (tokenizer_dir / name).is_file():
            shutil.copy(tokenizer_dir / name, out / name)
    return parameters


def write_data(out: Path) -> Path:
    text = ("The quick brown fox jumps over the lazy dog while the engineer measures memory. " * 20).strip()
    out.mkdir(parents=True, exist_ok=True)
    rows = [{"prompt": f"Document {i}: {text}\nSummarize it.", "completion": f"Summary {i}: a fox, a dog, memory."}
            for i in range(4)]
    (out / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return out


def tree_rss(pid: int) -> int:
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def phases(log: str) -> dict[str, float]:
    """Seconds between the job log's milestones."""
    stamps = []
    for line in log.splitlines():
        m = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO \S+: (.*)", line)
        if m:
            stamps.append((datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp(), m.group(2)))

    def first(prefix: str) -> float | None:
        return next((t for t, msg in stamps if msg.startswith(prefix)), None)

    marks = {"start": stamps[0][0] if stamps else None, "training": first("training "),
             "uploading": first("Uploading"), "written": first("artifact written")}
    out = {}
    if marks["start"] and marks["training"]:
        out["load_and_data_s"] = round(marks["training"] - marks["start"], 1)
    if marks["training"] and marks["uploading"]:
        out["train_s"] = round(marks["uploading"] - marks["training"], 1)
    if marks["uploading"] and marks["written"]:
        out["merge_and_save_s"] = round(marks["written"] - marks["uploading"], 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", help="where the ~14.5 GB checkpoint and the ~14.5 GB artifact go (removed after)")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--min-available-gb", type=float, default=20.0)
    args = parser.parse_args()
    from train_7b_memory import mem_available

    available = mem_available()
    if available < args.min_available_gb * GB:
        raise SystemExit(f"MemAvailable {available / GB:.1f} GB < --min-available-gb {args.min_available_gb}")
    from springboard import hardware

    with tempfile.TemporaryDirectory(dir=args.dir, prefix="sb-7b-job-") as tmp:
        checkpoint = Path(tmp) / "random-mistral-7b-architecture"
        start = time.perf_counter()
        parameters = write_checkpoint(checkpoint)
        checkpoint_seconds = time.perf_counter() - start
        data = write_data(Path(tmp) / "data")
        name = f"bench-7b-job-{os.getpid()}"
        env = dict(os.environ, SPRINGBOARD_HOME=str(Path(tmp) / "home"))
        command = [str(Path(sys.executable).parent / "springboard"), "train", "--model", str(checkpoint),
                   "--train", str(data), "--wait", "--name", name]
        for key, value in {"precision": "bfloat16", "peft_type": "lora", "lora_r": 8, "lora_alpha": 16,
                           "lora_target_modules": "q_proj,v_proj", "gradient_checkpointing": True,
                           "per_device_train_batch_size": 1, "max_input_length": 512, "max_steps": args.steps,
                           "instruction_tuned": True, "validation_split_ratio": 0.0}.items():
            command += ["--hp", f"{key}={value}"]
        start = time.perf_counter()
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, tree_rss(proc.pid))
            time.sleep(0.2)
        wall = time.perf_counter() - start
        output = proc.stdout.read() if proc.stdout else ""
        job_dir = Path(tmp) / "home" / "jobs" / name
        log = (job_dir / "log.txt").read_text(errors="replace") if (job_dir / "log.txt").is_file() else ""
        artifact = job_dir / "output"
        artifact_bytes = sum(f.stat().st_size for f in artifact.rglob("*") if f.is_file()) if artifact.is_dir() else 0
        losses = [float(x) for x in re.findall(r"train_loss ([0-9.]+)", log)]
        result = {
            "benchmark": "train_7b_job", "cpu": hardware.cpu_name(), "cpu_count": os.cpu_count(),
            "model": "Mistral-7B-v0.1 architecture, RANDOM weights, bf16 checkpoint, vocabulary 49152",
            "parameters": parameters, "checkpoint_write_seconds": round(checkpoint_seconds, 1),
            "mem_available_before_gb": round(available / GB, 2),
            "command": " ".join(command[1:]), "exit_code": proc.returncode, "wall_seconds": round(wall, 1),
            "peak_rss_gb": round(peak / GB, 2), "phases": phases(log), "train_losses": losses,
            "artifact_gb": round(artifact_bytes / GB, 2),
            "artifact_files": sorted(str(f.relative_to(artifact)) for f in artifact.rglob("*") if f.is_file())[:20]
            if artifact.is_dir() else [],
            "cli_output_tail": output[-1500:],
            "note": "random weights: the architecture's cost, not the model's quality; peak RSS is the CLI and "
                    "worker process tree sampled every 0.2 s",
        }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "cli_output_tail"}, indent=2))
    if proc.returncode != 0:
        print(output[-3000:])
        raise SystemExit(proc.returncode)


if __name__ == "__main__":
    main()
