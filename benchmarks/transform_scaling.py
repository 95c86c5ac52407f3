"""Batch transform on many workers: records/s of the same transform job with 1 local worker,
2 local workers (each its own engine, the input split in shards) and Spark `local[2]`, in the
same run, against the 1-worker run; the `.out` files of every side must be byte-identical.

The same model (default: the real SmolLM2-135M-Instruct, fp32, CPU), greedy decoding, plain
prompts from the quickstart's docstring data set. Each side is a real job (its own worker
process); measured from submit to Completed, so each side pays its start-up (loading N engines,
starting Spark's JVM), reported beside the rate. On a machine with C cores, each of N workers
runs torch with C // N threads, so the sides use the same cores.

    .venv/bin/python benchmarks/transform_scaling.py [--records 128 --batch-size 16 --max-new-tokens 16]

Writes benchmarks/results/transform_scaling.json."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "transform_scaling.json"


def make_records(n: int, words: int) -> list[dict]:
    from springboard.quickstart.dataset import build

    examples = build()
    records = []
    for i in range(n):
        ex = examples[i % len(examples)]
        text = " ".join(ex.documentation.split()[:words])
        records.append({"id": f"r{i}", "text_inputs": f"Summarize in one sentence: {text}\nSummary:"})
    return records


def run_side(label: str, model: str, src: Path, out: Path, params: dict, **knobs) -> dict:
    from springboard.jobs import JobStore
    from springboard.jobs import submit
    from springboard.transform import transform_config

    start = time.perf_counter()
    load = os.getloadavg()
    job = submit(transform_config(model, src, out, env={"HYPER_PARAMS": str(params)}, chat=False, **knobs),
                 name=f"scale-{label}", wait=True)
    wall = time.perf_counter() - start
    if job.status != "Completed":
        raise SystemExit(f"{label}: job {job.name} {job.status}: {job.failure_reason}")
    metrics: dict[str, float] = {}
    for m in JobStore().metrics(job.name):
        metrics[m.name] = m.value
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(out.rglob("*.out")))).hexdigest()
    n = int(metrics["records_processed"])
    side = {
        "side": label,
        "knobs": knobs,
        "records": n,
        "seconds_wall_incl_startup": wall,
        "records_per_second_wall": n / wall,
        "job_metric_records_per_second": metrics["records_per_second"],
        "load_average_1min_before": load[0],
        "out_sha256": digest,
    }
    print(f"{label:>14}: {side['records_per_second_wall']:.2f} records/s wall ({wall:.1f} s incl. start-up), "
          f"job metric {side['job_metric_records_per_second']:.2f} records/s")
    return side


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--records", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--words", type=int, default=25)
    parser.add_argument("--no-spark", action="store_true")
    parser.add_argument("--note", default="")
    args = parser.parse_args()

    from springboard import settings
    from springboard.hub import resolve_model

    os.environ.setdefault("SPRINGBOARD_MODELS_DIR", str(settings.models_dir()))
    resolve_model(args.model)  # converted once, before anything is timed
    work = Path(tempfile.mkdtemp(prefix="sb-transform-scaling-"))
    os.environ["SPRINGBOARD_HOME"] = str(work / "home")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    src = work / "in" / "records.jsonl"
    src.parent.mkdir(parents=True)
    src.write_text("".join(json.dumps(r) + "\n" for r in make_records(args.records, args.words)))
    params = {"batch_size": args.batch_size, "max_new_tokens": args.max_new_tokens, "do_sample": False}

    sides = [("1-local", {"instance_count": 1}), ("2-local", {"instance_count": 2})]
    if not args.no_spark:
        sides.append(("spark-local-2", {"instance_count": 2, "runner": "spark", "master": "local[2]"}))
    results = [run_side(label, args.model, src.parent, work / f"out-{label}", params, **knobs)
               for label, knobs in sides]
    base = results[0]
    for side in results:
        side["speedup_vs_1_worker_wall"] = side["records_per_second_wall"] / base["records_per_second_wall"]
        side["identical_out_to_1_worker"] = side["out_sha256"] == base["out_sha256"]
    result = {
        "benchmark": "transform_scaling",
        "model": args.model,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "params": params,
        "sides": results,
        "note": args.note,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps([{k: s[k] for k in ("side", "records_per_second_wall", "speedup_vs_1_worker_wall",
                                          "identical_out_to_1_worker")} for s in results], indent=2))
    print(f"wrote {RESULTS}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
