"""Crawl throughput: the seed's stack vs Springboard's, same WARC files, same run, one core.

(a) seed: warcio's ArchiveIterator + BeautifulSoup(html, "lxml").get_text() per response
(b) springboard: the fastwarc reader + resiliparse main-text extraction (HtmlToText)

Reports records/s and MB/s (compressed input). Then the runners on the same input and pipeline:
the local runner with 1 and 2 processes beside Spark `local[2]`, with Spark's session start-up
reported apart from the run.
Writes benchmarks/results/crawl_throughput.json.

    .venv/bin/python benchmarks/crawl_throughput.py [--pages 3000] [--sample-copies 20] [--no-spark]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from springboard.crawl.synth import docs_pages, write_warc

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests/fixtures/commoncrawl/CC-MAIN-2020-34-sample.warc.gz"


def seed_stack(paths: list[Path]) -> tuple[int, int]:
    from bs4 import BeautifulSoup
    from warcio.archiveiterator import ArchiveIterator

    records = chars = 0
    for path in paths:
        with open(path, "rb") as f:
            for rec in ArchiveIterator(f):
                if rec.rec_type != "response":
                    continue
                html = rec.content_stream().read()
                chars += len(BeautifulSoup(html, "lxml").get_text())
                records += 1
    return records, chars


def springboard_stack(paths: list[Path]) -> tuple[int, int]:
    from springboard.crawl.extract import html_to_text
    from springboard.crawl.reader import iter_records

    records = chars = 0
    for path in paths:
        for rec in iter_records(str(path), ("response",)):
            chars += len(html_to_text(rec.payload, rec.http_charset))
            records += 1
    return records, chars


def timed(fn, *args) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=3000)
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--sample-copies", type=int, default=20)
    ap.add_argument("--no-spark", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="crawl-bench-"))
    try:
        pages = list(docs_pages(args.pages, seed=1, duplicate_every=10, junk_every=25))
        per = -(-len(pages) // args.files)
        paths = [write_warc(work / f"docs-{i}.warc.gz", pages[i * per:(i + 1) * per])
                 for i in range(args.files)]
        for i in range(args.sample_copies if SAMPLE.exists() else 0):
            shutil.copy(SAMPLE, work / f"cc-sample-{i}.warc.gz")
            paths.append(work / f"cc-sample-{i}.warc.gz")
        mb = sum(p.stat().st_size for p in paths) / 1e6

        # warm both stacks' imports and caches on one file, then time each once
        seed_stack(paths[-1:]), springboard_stack(paths[-1:])
        t_seed, (n_seed, c_seed) = timed(seed_stack, paths)
        t_sb, (n_sb, c_sb) = timed(springboard_stack, paths)
        assert n_seed == n_sb, (n_seed, n_sb)
        result = {
            "input": {"files": len(paths), "response_records": n_sb, "compressed_mb": round(mb, 2),
                      "generated_pages": len(pages),
                      "real_cc_records": 16 * (len(paths) - args.files)},
            "seed_warcio_bs4": {"seconds": round(t_seed, 3), "records_per_s": round(n_seed / t_seed, 1),
                                "mb_per_s": round(mb / t_seed, 2), "text_chars": c_seed},
            "springboard_fastwarc_resiliparse": {
                "seconds": round(t_sb, 3), "records_per_s": round(n_sb / t_sb, 1),
                "mb_per_s": round(mb / t_sb, 2), "text_chars": c_sb},
            "speedup": round(t_seed / t_sb, 2),
            "target_speedup": 5.0,
            "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version(),
                        "note": "single process; CPU shared with other work"},
        }
        print(json.dumps(result, indent=1))

        if not args.no_spark:
            from springboard.crawl.extract import HtmlToText
            from springboard.crawl.job import CrawlJob, Task
            from springboard.crawl.runners.local import run_local
            from springboard.crawl.runners.spark import get_session, run_spark

            tasks = [Task(i, str(p)) for i, p in enumerate(paths)]
            t_local1, c_local1 = timed(run_local, CrawlJob(steps=[HtmlToText()]), tasks,
                                       str(work / "out-local1"), 1)
            t_local2, c_local2 = timed(run_local, CrawlJob(steps=[HtmlToText()]), tasks,
                                       str(work / "out-local2"), 2)
            t0 = time.perf_counter()
            spark = get_session("local[2]", "crawl-bench")
            spark.sparkContext.setLogLevel("ERROR")
            spark.range(1).count()  # the JVM and the first job's executors are up
            t_start = time.perf_counter() - t0
            t_spark, c_spark = timed(lambda: run_spark(CrawlJob(steps=[HtmlToText()]), tasks,
                                                       str(work / "out-spark"), spark=spark))
            spark.stop()
            assert c_local1["rows_written"] == c_local2["rows_written"] == c_spark["rows_written"]
            rows = c_local1["rows_written"]
            result["spark_vs_local"] = {
                "pipeline": "read + HtmlToText → Parquet, same input",
                "rows": rows,
                "local_runner_1_process_s": round(t_local1, 2),
                "local_runner_2_processes_s": round(t_local2, 2),
                "spark_local2_run_s": round(t_spark, 2),
                "spark_session_start_s": round(t_start, 2),
                "records_per_s": {"local_1": round(rows / t_local1, 1),
                                  "local_2": round(rows / t_local2, 1),
                                  "spark_local2_run": round(rows / t_spark, 1)},
                "spark_local2_vs_local_2_x": round(t_spark / t_local2, 2),
            }
            print(json.dumps(result["spark_vs_local"], indent=1))
        out = ROOT / "benchmarks/results/crawl_throughput.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1) + "\n")
        print("wrote", out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
