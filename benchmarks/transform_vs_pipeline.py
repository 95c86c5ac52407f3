"""Batch transform at its default settings vs `pipeline(texts, batch_size=32)` in float32 (issue 20).

The claim: a batch transform job with default settings (backend auto: on a CPU the default model's
own Q4_1 GGUF through llama.cpp with continuous batching) is >= 2x a plain transformers
`pipeline("text-generation")` over the same 256 records in float32, batch size 32, and its ROUGE-L
against the references is no more than 0.01 below the pipeline's.

Both sides get the same prompt: the quickstart's summarisation records (a standard-library
docstring body; the reference is its one-line summary), asked as one user turn. The transform
renders a plain-text record in the model's prompt format (the chat template, for this instruct
model); the pipeline is given the same user turn as chat messages, which it renders with the same
template. Greedy, --max-new-tokens new tokens. Both sides' outputs are scored by one function
(rouge_score's ROUGE-L F1, stemmed) and re-tokenized the same way to count tokens. The transform's
rate is its job's records/s from the first record (model loaded), like the pipeline's timed call;
wall time including the worker's start and model load is reported beside it.

    .venv/bin/python benchmarks/transform_vs_pipeline.py [--records 256 --max-new-tokens 32]
    .venv/bin/python benchmarks/transform_vs_pipeline.py --env DTYPE=bfloat16 --backend transformers

`--env KEY=VALUE` (repeatable) goes into the transform job's environment (DTYPE, QUANTIZE, as a
user's TransformJob Environment would); `--backend` sets SPRINGBOARD_GENERATE_BACKEND for the
job (default: auto). A run with either writes results/transform_vs_pipeline-<settings>.json.

Writes benchmarks/results/transform_vs_pipeline.json."""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "transform_vs_pipeline.json"


def make_records(n: int) -> list[dict]:
    from springboard.quickstart.dataset import build

    examples = build()[-n:]  # the held-out end of the quickstart's split
    return [{"id": e.id, "text_inputs": f"Summarize this documentation in one sentence:\n{e.documentation}",
             "reference": e.summary} for e in examples]


def rouge_l(outputs: list[str], references: list[str]) -> float:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return statistics.fmean(scorer.score(ref, out)["rougeL"].fmeasure for out, ref in zip(outputs, references))


def count_tokens(tokenizer, texts: list[str]) -> int:
    return sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)


def pipeline_side(model_dir: Path, records: list[dict], max_new_tokens: int, batch_size: int) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    pipe = pipeline("text-generation", model=model, tokenizer=tokenizer, device="cpu")
    kwargs = dict(max_new_tokens=max_new_tokens, do_sample=False, return_full_text=False)
    chats = [[{"role": "user", "content": r["text_inputs"]}] for r in records]
    pipe(chats[:2], batch_size=2, **kwargs)  # warm-up, not timed
    start = time.perf_counter()
    outputs = [o[0]["generated_text"] for o in pipe(chats, batch_size=batch_size, **kwargs)]
    elapsed = time.perf_counter() - start
    tokens = count_tokens(tokenizer, outputs)
    del pipe, model
    gc.collect()
    return {"records": len(records), "batch_size": batch_size, "precision": "float32", "seconds": elapsed,
            "records_per_second": len(records) / elapsed, "generated_tokens": tokens,
            "tokens_per_second": tokens / elapsed, "outputs": outputs}


def transform_side(model: str, records: list[dict], max_new_tokens: int, work: Path,
                   extra_env: dict[str, str] | None = None) -> dict:
    from transformers import AutoTokenizer

    from springboard.hub import resolve_model
    from springboard.jobs import JobStore
    from springboard.jobs import submit
    from springboard.transform import transform_config

    src = work / "in" / "records.jsonl"
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_text("".join(json.dumps({"id": r["id"], "text_inputs": r["text_inputs"]}) + "\n" for r in records))
    params = {"max_new_tokens": max_new_tokens, "do_sample": False}
    start = time.perf_counter()
    env = {"HYPER_PARAMS": str(params), **(extra_env or {})}
    job = submit(transform_config(model, src.parent, work / "out", env=env), wait=True)
    wall = time.perf_counter() - start
    if job.status != "Completed":
        raise SystemExit(f"transform job {job.name} {job.status}: {job.failure_reason}")
    lines = [json.loads(line) for line in (work / "out" / "records.jsonl.out").read_text().splitlines()]
    assert [rec["id"] for rec in lines] == [r["id"] for r in records]
    outputs = [rec["generated_texts"][0] for rec in lines]
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(model))
    tokens = count_tokens(tokenizer, outputs)
    metrics = {m.name: m.value for m in JobStore().metrics(job.name)}
    seconds = len(records) / metrics["records_per_second"]
    log = job.log_path  # what the job's engine chose (backend, precision), as it logged it
    chosen = [line for line in log.read_text().splitlines() if "precision" in line or "llama.cpp" in line] \
        if log.is_file() else []
    return {"job": job.name, "records": len(records), "seconds_generating": seconds, "seconds_wall_incl_startup": wall,
            "records_per_second": metrics["records_per_second"], "generated_tokens": tokens,
            "tokens_per_second": tokens / seconds, "backend_log": chosen[:4], "outputs": outputs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--records", type=int, default=256)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32, help="the pipeline's batch size")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="the transform job's environment (DTYPE, QUANTIZE)")
    parser.add_argument("--backend", choices=["auto", "transformers", "llamacpp"], default="auto")
    args = parser.parse_args()
    extra_env = dict(item.split("=", 1) for item in args.env)
    global RESULTS
    if extra_env or args.backend != "auto":
        tag = "-".join([f"{k}={v}" for k, v in extra_env.items()] + ([args.backend] if args.backend != "auto" else []))
        RESULTS = RESULTS.with_name(f"transform_vs_pipeline-{tag}.json")

    from springboard import settings
    from springboard.hub import resolve_model

    os.environ.setdefault("SPRINGBOARD_MODELS_DIR", str(settings.models_dir()))
    os.environ.pop("SPRINGBOARD_GENERATE_BACKEND", None)  # the default: auto
    if args.backend != "auto":
        os.environ["SPRINGBOARD_GENERATE_BACKEND"] = args.backend  # the job's worker inherits it
    model_dir = resolve_model(args.model)
    work = Path(tempfile.mkdtemp(prefix="sb-transform-vs-pipeline-"))
    os.environ["SPRINGBOARD_HOME"] = str(work / "home")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    records = make_records(args.records)
    references = [r["reference"] for r in records]

    load = {"start": os.getloadavg()}
    base = pipeline_side(model_dir, records, args.max_new_tokens, args.batch_size)
    load["after_pipeline"] = os.getloadavg()
    tx = transform_side(args.model, records, args.max_new_tokens, work, extra_env)
    load["end"] = os.getloadavg()
    base["rouge_l"], tx["rouge_l"] = rouge_l(base["outputs"], references), rouge_l(tx["outputs"], references)
    result = {
        "benchmark": "transform_vs_pipeline", "model": args.model, "cpu_count": os.cpu_count(),
        "python": platform.python_version(), "load_average_1_5_15_min": load,
        "params": {"max_new_tokens": args.max_new_tokens, "do_sample": False, "records": len(records)},
        "transform_environment": extra_env, "transform_backend": args.backend,
        "pipeline_float32": {k: v for k, v in base.items() if k != "outputs"},
        "transform_default": {k: v for k, v in tx.items() if k != "outputs"},
        "speedup_records_per_second": tx["records_per_second"] / base["records_per_second"],
        "speedup_tokens_per_second": tx["tokens_per_second"] / base["tokens_per_second"],
        "speedup_wall_incl_startup": (len(records) / tx["seconds_wall_incl_startup"]) / base["records_per_second"],
        "rouge_l_gap": tx["rouge_l"] - base["rouge_l"],
        "bars": {"speedup_records_per_second": ">= 2", "rouge_l_gap": ">= -0.01"},
        "examples": [{"reference": r, "pipeline": b, "transform": t}
                     for r, b, t in list(zip(references, base["outputs"], tx["outputs"]))[:3]],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("speedup_records_per_second", "speedup_tokens_per_second",
                                             "speedup_wall_incl_startup", "rouge_l_gap")}, indent=2))
    print(f"pipeline ROUGE-L {base['rouge_l']:.4f}, transform ROUGE-L {tx['rouge_l']:.4f}; wrote {RESULTS}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
