"""Crawl memory: peak RSS must not grow with file size.

One generated WARC of N pages (N = 2,000 and 8,000, the sizes of issue 10's report), and for
each, in a fresh process: `crawl index build` (with language detection, the path that used to
keep every body until the end of the file) and `crawl run` (extract, exact dedup, 4 output
partitions: the global phase that used to keep one writer per file and rewrite parts in
memory). Reports peak RSS (ru_maxrss of that process) and the 8,000/2,000 ratio. The 2,000-page
run is the baseline. Writes benchmarks/results/crawl_memory.json.

    .venv/bin/python benchmarks/crawl_memory.py [--sizes 2000 8000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
from springboard.cli import main
t = time.perf_counter()
rc = main(sys.argv[1:])
print(json.dumps({"rc": rc, "seconds": time.perf_counter() - t,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(*args: str) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True,
                          env=env, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 8000])
    args = ap.parse_args()
    from springboard.crawl.synth import docs_pages, write_warc

    work = Path(tempfile.mkdtemp(prefix="crawl-mem-"))
    result: dict = {"sizes": {}, "machine": {"cpu_count": os.cpu_count()}}
    try:
        for n in args.sizes:
            warc = write_warc(work / f"docs-{n}.warc.gz", docs_pages(n, seed=1))
            index = measure("crawl", "index", "build", str(warc), "--out", str(work / f"idx-{n}"))
            run = measure("crawl", "run", str(warc), "--dedup", "exact", "--processes", "1",
                          "--num-output-partitions", "4", "--out", str(work / f"out-{n}"))
            result["sizes"][n] = {"records": n, "warc_mb": round(warc.stat().st_size / 1e6, 2),
                                  "index_build": {k: round(v, 2) for k, v in index.items()},
                                  "crawl_run": {k: round(v, 2) for k, v in run.items()}}
            print(n, json.dumps(result["sizes"][n]))
        lo, hi = min(args.sizes), max(args.sizes)
        for step in ("index_build", "crawl_run"):
            a = result["sizes"][lo][step]["peak_rss_mb"]
            b = result["sizes"][hi][step]["peak_rss_mb"]
            result[f"{step}_rss_ratio_{hi}_vs_{lo}"] = round(b / a, 3)
        result["before_fix_issue_10"] = "index build: 198 MB (2,000 records) -> 346 MB (8,000)"
        result["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        print(json.dumps({k: v for k, v in result.items() if k != "sizes"}, indent=1))
        out = ROOT / "benchmarks/results/crawl_memory.json"
        out.write_text(json.dumps(result, indent=1) + "\n")
        print("wrote", out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
