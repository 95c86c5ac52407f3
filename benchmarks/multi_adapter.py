"""Many LoRA adapters on one endpoint vs one endpoint per adapter, same run.

Three LoRA adapters (rank 8 on every linear layer, random non-zero B so each changes the outputs)
of one base model. Each mode runs in its own subprocess (so peak RSS is that mode's own):

- multi: ONE engine holding the base model once, the three adapters attached
  (Engine.attach_adapter); requests for all three share its continuous-batching scheduler's running
  batch (peft mixed-batch forward, one adapter per row).
- separate: THREE engines, one per adapter (the adapter merged into its own copy of the base, as
  serving each artifact alone would load it), each with its own scheduler; the same requests go
  to their adapter's engine.

`--clients` threads send greedy requests interleaved across the adapters (request i uses adapter
i % 3). Reports generated tokens/s, the throughput ratio multi/separate, peak RSS of each mode's
process, and whether every request's greedy text is identical between the two modes.

    .venv/bin/python benchmarks/multi_adapter.py [--model smollm2-135m-instruct --requests 24 --clients 12]

Writes benchmarks/results/multi_adapter.json."""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PROMPTS = ["Tell me a short story about a robot.", "What is the capital of France?",
           "Write a haiku about the sea.", "List three fruits.", "Explain photosynthesis briefly.",
           "Give me a name for a cat.", "What is 2 + 2?", "Describe a sunset."]
ADAPTERS = ["a1", "a2", "a3"]


def build_adapters(model: str, out: Path) -> dict[str, Path]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from springboard.generate.engine import resolve_ref

    base_dir = resolve_ref(model)
    paths = {}
    for seed, name in enumerate(ADAPTERS, 1):
        torch.manual_seed(seed)
        peft_model = get_peft_model(AutoModelForCausalLM.from_pretrained(base_dir),
                                    LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", init_lora_weights=False))
        for module_name, param in peft_model.named_parameters():  # small enough to keep the text fluent-ish
            if "lora_B" in module_name:
                param.data.mul_(0.05)
        peft_model.save_pretrained(out / name / "adapter")
        (out / name / "springboard.json").write_text(json.dumps({"base_model": str(base_dir)}))
        paths[name] = out / name
    return paths


def run_mode(mode: str, model: str, adapters: dict[str, str], requests: int, clients: int, new: int) -> dict:
    import torch
    from peft import PeftModel

    from springboard.generate import Engine, GenerationParams

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    engines: dict[str | None, Engine] = {}
    if mode == "multi":
        engine = Engine.load(model)
        for name, path in adapters.items():
            engine.attach_adapter(name, path)
        engine.enable_continuous_batching()
        engines = {name: engine for name in adapters}
    else:
        for name, path in adapters.items():
            engine = Engine.load(model)
            engine.model = PeftModel.from_pretrained(engine.model, str(Path(path) / "adapter")).merge_and_unload().eval()
            engine.enable_continuous_batching()
            engines[name] = engine
    names = list(adapters)
    jobs = [(names[i % len(names)], PROMPTS[i % len(PROMPTS)]) for i in range(requests)]

    def one(job: tuple[str, str]):
        name, prompt = job
        params = GenerationParams(max_new_tokens=new, adapter=name if mode == "multi" else None)
        return engines[name].generate([prompt], params, chat=True)[0]

    one(jobs[0])  # warm-up
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(one, jobs))
    wall = time.perf_counter() - start
    tokens = sum(r.generated_tokens for r in results)
    for engine in set(engines.values()):
        engine.close()
    return {"mode": mode, "engines": len(set(map(id, engines.values()))), "requests": requests, "clients": clients,
            "wall_s": round(wall, 2), "generated_tokens": tokens, "tokens_per_s": round(tokens / wall, 2),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "texts": [r.texts[0] for r in results]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--requests", type=int, default=24)
    parser.add_argument("--clients", type=int, default=12)
    parser.add_argument("--new-tokens", type=int, default=24)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--adapters", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:  # the child process of one mode
        print(json.dumps(run_mode(args.mode, args.model, json.loads(args.adapters), args.requests, args.clients,
                                  args.new_tokens)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        adapters = {k: str(v) for k, v in build_adapters(args.model, Path(tmp)).items()}
        runs = {}
        for mode in ("separate", "multi"):
            out = subprocess.run([sys.executable, __file__, "--mode", mode, "--adapters", json.dumps(adapters),
                                  "--model", args.model, "--requests", str(args.requests), "--clients",
                                  str(args.clients), "--new-tokens", str(args.new_tokens)],
                                 check=True, capture_output=True, text=True)
            runs[mode] = json.loads(out.stdout.strip().splitlines()[-1])
            print({k: v for k, v in runs[mode].items() if k != "texts"}, flush=True)
    identical = runs["multi"]["texts"] == runs["separate"]["texts"]
    result = {
        "benchmark": "multi_adapter", "model": args.model, "adapters": len(ADAPTERS),
        "lora": "rank 8, all linear layers", "new_tokens": args.new_tokens,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "omp_threads": os.environ.get("OMP_NUM_THREADS")},
        "separate": {k: v for k, v in runs["separate"].items() if k != "texts"},
        "multi": {k: v for k, v in runs["multi"].items() if k != "texts"},
        "throughput_ratio_multi_over_separate": round(runs["multi"]["tokens_per_s"] / runs["separate"]["tokens_per_s"], 2),
        "rss_ratio_multi_over_separate": round(runs["multi"]["peak_rss_mib"] / runs["separate"]["peak_rss_mib"], 2),
        "greedy_texts_identical": identical,
        "mismatches": [i for i, (a, b) in enumerate(zip(runs["multi"]["texts"], runs["separate"]["texts"])) if a != b],
    }
    out = Path(__file__).parent / "results" / "multi_adapter.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in ("machine",)}, indent=2))


if __name__ == "__main__":
    main()
