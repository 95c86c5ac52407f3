"""Batch transform throughput vs `transformers.pipeline()`, in the same run, two baselines:

- `pipeline(texts, batch_size=B)`: the baseline a user would pick, batched like the transform
  (same batch size, same record order, so the same batches);
- a loop calling the pipeline once per record (the naive script).

The same model (default: the real SmolLM2-135M-Instruct, fp32, CPU) and the same greedy
parameters (max_new_tokens, no sampling, plain prompts) on short texts (the quickstart's
docstring data set, first words of each body). The transform is a real job (worker process,
JSONL in, `.out` out) with `HYPER_PARAMS` batching. Generated tokens are counted the same way
for every side (the outputs re-tokenized), and greedy outputs are compared record by record.

    .venv/bin/python benchmarks/transform_throughput.py [--records 500 --baseline-records 16
        --max-new-tokens 16 --batch-size 32 --model smollm2-135m-instruct]

The per-record loop may run on fewer records than the transform (`--baseline-records`) to keep
the run short: its per-record cost does not depend on how many records follow. It runs half
before and half after the transform, so load from other processes weighs on both alike; the
batched pipeline runs over all the transform's records right before it. Writes
benchmarks/results/transform_throughput.json."""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "transform_throughput.json"


def make_records(n: int, words: int) -> list[dict]:
    from springboard.quickstart.dataset import build

    examples = build()
    if not examples:
        raise SystemExit("no quickstart examples available")
    records = []
    for i in range(n):
        ex = examples[i % len(examples)]
        text = " ".join(ex.documentation.split()[:words])
        records.append({"id": f"r{i}", "text_inputs": f"Summarize in one sentence: {text}\nSummary:"})
    return records


def count_tokens(tokenizer, texts: list[str]) -> int:
    return sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)


def baseline(model_dir: Path, records: list[dict], max_new_tokens: int) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    pipe = pipeline("text-generation", model=model, tokenizer=tokenizer, device="cpu")
    kwargs = dict(max_new_tokens=max_new_tokens, do_sample=False, return_full_text=False)
    pipe(records[0]["text_inputs"], **kwargs)  # warm-up, not timed
    start = time.perf_counter()
    outputs = [pipe(r["text_inputs"], **kwargs)[0]["generated_text"] for r in records]
    elapsed = time.perf_counter() - start
    tokens = count_tokens(tokenizer, outputs)
    del pipe, model
    gc.collect()
    return {
        "records": len(records),
        "seconds": elapsed,
        "records_per_second": len(records) / elapsed,
        "generated_tokens": tokens,
        "tokens_per_second": tokens / elapsed,
        "outputs": outputs,
    }


def batched_pipeline(model_dir: Path, records: list[dict], max_new_tokens: int, batch_size: int) -> dict:
    """What a user would write: one pipeline call over every text, batched."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"  # decoder-only batches pad on the left
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    pipe = pipeline("text-generation", model=model, tokenizer=tokenizer, device="cpu")
    kwargs = dict(max_new_tokens=max_new_tokens, do_sample=False, return_full_text=False)
    texts = [r["text_inputs"] for r in records]
    pipe(texts[:2], batch_size=2, **kwargs)  # warm-up, not timed
    start = time.perf_counter()
    outputs = [o[0]["generated_text"] for o in pipe(texts, batch_size=batch_size, **kwargs)]
    elapsed = time.perf_counter() - start
    tokens = count_tokens(tokenizer, outputs)
    del pipe, model
    gc.collect()
    return {
        "records": len(records),
        "batch_size": batch_size,
        "seconds": elapsed,
        "records_per_second": len(records) / elapsed,
        "generated_tokens": tokens,
        "tokens_per_second": tokens / elapsed,
        "outputs": outputs,
    }


def transform(model: str, records: list[dict], max_new_tokens: int, batch_size: int, work: Path) -> dict:
    from transformers import AutoTokenizer

    from springboard.hub import resolve_model
    from springboard.jobs import JobStore
    from springboard.jobs import submit
    from springboard.transform import transform_config

    src = work / "in" / "records.jsonl"
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_text("".join(json.dumps(r) + "\n" for r in records))
    params = {"batch_size": batch_size, "max_new_tokens": max_new_tokens, "do_sample": False}
    start = time.perf_counter()
    job = submit(transform_config(model, src.parent, work / "out", env={"HYPER_PARAMS": str(params)}, chat=False),
                 wait=True)
    wall = time.perf_counter() - start
    if job.status != "Completed":
        raise SystemExit(f"transform job {job.name} {job.status}: {job.failure_reason}")
    lines = [json.loads(line) for line in (work / "out" / "records.jsonl.out").read_text().splitlines()]
    outputs = [rec["generated_texts"][0] for rec in lines]
    assert [rec["id"] for rec in lines] == [r["id"] for r in records]
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(model))
    tokens = count_tokens(tokenizer, outputs)
    metrics: dict[str, float] = {}
    for m in JobStore().metrics(job.name):
        metrics[m.name] = m.value
    # The job's rate is measured from the first record (the model already loaded), like the
    # baseline's loop; wall time includes starting the worker and loading the model.
    gen_seconds = len(records) / metrics["records_per_second"]
    return {
        "job": job.name,
        "records": len(records),
        "batch_size": batch_size,
        "seconds_generating": gen_seconds,
        "seconds_wall_incl_startup": wall,
        "records_per_second": metrics["records_per_second"],
        "generated_tokens": tokens,
        "tokens_per_second": tokens / gen_seconds,
        "job_metric_tokens_per_second": metrics["tokens_per_second"],
        "records_per_second_wall_incl_startup": len(records) / wall,
        "outputs": outputs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--records", type=int, default=500)
    parser.add_argument("--baseline-records", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--words", type=int, default=25, help="words of each text kept")
    parser.add_argument("--note", default="", help="a remark stored with the results (e.g. why fewer records)")
    args = parser.parse_args()

    from springboard import settings
    from springboard.hub import resolve_model

    # Jobs go to a scratch home; converted weights stay where they already are.
    os.environ.setdefault("SPRINGBOARD_MODELS_DIR", str(settings.models_dir()))
    model_dir = resolve_model(args.model)
    work = Path(tempfile.mkdtemp(prefix="sb-transform-bench-"))
    os.environ["SPRINGBOARD_HOME"] = str(work / "home")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    records = make_records(args.records, args.words)
    # The baseline runs half before and half after the transform, so a change in machine load
    # during the run (a shared CPU) weighs on both sides alike.
    half = max(1, args.baseline_records // 2)
    load_before = os.getloadavg()
    first = baseline(model_dir, records[:half], args.max_new_tokens)
    batched = batched_pipeline(model_dir, records, args.max_new_tokens, args.batch_size)
    load_batched = os.getloadavg()
    tx = transform(args.model, records, args.max_new_tokens, args.batch_size, work)
    load_mid = os.getloadavg()
    second = baseline(model_dir, records[half : args.baseline_records], args.max_new_tokens)
    base = {
        "records": first["records"] + second["records"],
        "seconds": first["seconds"] + second["seconds"],
        "generated_tokens": first["generated_tokens"] + second["generated_tokens"],
        "outputs": first["outputs"] + second["outputs"],
        "records_per_second_before_transform": first["records_per_second"],
        "records_per_second_after_transform": second["records_per_second"],
    }
    base["records_per_second"] = base["records"] / base["seconds"]
    base["tokens_per_second"] = base["generated_tokens"] / base["seconds"]
    print(f"pipeline loop: {base['records_per_second']:.2f} records/s, {base['tokens_per_second']:.1f} tokens/s "
          f"over {base['records']} records")
    print(f"pipeline(batch_size={args.batch_size}): {batched['records_per_second']:.2f} records/s, "
          f"{batched['tokens_per_second']:.1f} tokens/s over {batched['records']} records")
    print(f"transform job: {tx['records_per_second']:.2f} records/s, {tx['tokens_per_second']:.1f} tokens/s "
          f"over {tx['records']} records ({tx['seconds_wall_incl_startup']:.0f} s wall incl. startup)")
    same = sum(a.strip() == b.strip() for a, b in zip(base["outputs"], tx["outputs"]))
    same_batched = sum(a.strip() == b.strip() for a, b in zip(batched["outputs"], tx["outputs"]))
    result = {
        "benchmark": "transform_throughput",
        "model": args.model,
        "device": "cpu",
        "cpu_count": os.cpu_count(),
        "load_average_1_5_15_min": {"start": load_before, "after_batched_pipeline": load_batched,
                                    "after_transform": load_mid,
                                    "end": os.getloadavg()},
        "python": platform.python_version(),
        "params": {"max_new_tokens": args.max_new_tokens, "do_sample": False, "chat": False},
        "baseline_pipeline_batched": {k: v for k, v in batched.items() if k != "outputs"},
        "baseline_pipeline_per_record": {k: v for k, v in base.items() if k != "outputs"},
        "transform_job": {k: v for k, v in tx.items() if k != "outputs"},
        "speedup_records_per_second": tx["records_per_second"] / base["records_per_second"],
        "speedup_records_per_second_wall_incl_startup": tx["records_per_second_wall_incl_startup"]
        / base["records_per_second"],
        "speedup_tokens_per_second": tx["tokens_per_second"] / base["tokens_per_second"],
        "speedup_vs_batched_pipeline_records_per_second": tx["records_per_second"] / batched["records_per_second"],
        "speedup_vs_batched_pipeline_wall_incl_startup": tx["records_per_second_wall_incl_startup"]
        / batched["records_per_second"],
        "identical_outputs_on_baseline_records": f"{same}/{base['records']}",
        "identical_outputs_vs_batched_pipeline": f"{same_batched}/{batched['records']}",
        "target": ">= 3x records/s vs the per-record loop on CPU; vs the batched pipeline: reported",
        "note": args.note,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("speedup_records_per_second", "speedup_tokens_per_second",
                                             "speedup_vs_batched_pipeline_records_per_second",
                                             "identical_outputs_on_baseline_records",
                                             "identical_outputs_vs_batched_pipeline")}, indent=2))
    print(f"wrote {RESULTS}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
