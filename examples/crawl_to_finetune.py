"""Common Crawl → domain-adaptation fine-tuning, offline, end to end.

    .venv/bin/python examples/crawl_to_finetune.py            # crawl steps only
    .venv/bin/python examples/crawl_to_finetune.py --train    # ... then fine-tune on the result
    .venv/bin/python examples/crawl_to_finetune.py --runner spark

1. builds WARC files offline: HTML pages around the Python reference text that ships with
   Python (`pydoc_data`), with near-duplicates and junk pages, next to the real Common Crawl
   sample records;
2. indexes them into a cc-index table (Parquet, Hive partitions crawl=/subset=);
3. finds English pages of one host with SQL over the index → a record list;
4. runs the extraction job on those records (byte-range fetches): HTML → main text, language,
   Gopher + C4 quality filters, exact and MinHash dedup → Parquet;
5. exports one JSONL training file into a directory of its own;
6. with --train: launches a domain-adaptation training job on that directory.

The same steps from the shell:
    springboard crawl index build WARC... --out IDX
    springboard crawl index query --index IDX "SELECT ... FROM ccindex WHERE ..." --out recs.parquet --format records
    springboard crawl run --records recs.parquet --languages eng --quality gopher,c4 --dedup exact,minhash --out OUT
    springboard crawl export OUT --format jsonl --out-dir TRAIN
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
from pathlib import Path

from springboard.crawl.config import CrawlRunConfig, execute
from springboard.crawl.export import export
from springboard.crawl.index import query, write_result
from springboard.crawl.index_build import build_index
from springboard.crawl.synth import docs_pages, write_warc

# Real Common Crawl records kept in the repository (tests/fixtures/commoncrawl/README.md says whence)
SAMPLE = Path(__file__).resolve().parents[1] / "tests/fixtures/commoncrawl/CC-MAIN-2020-34-sample.warc.gz"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", help="where to put everything (default: a temp dir)")
    ap.add_argument("--pages", type=int, default=120, help="generated pages")
    ap.add_argument("--runner", choices=["local", "spark"], default="local")
    ap.add_argument("--train", action="store_true", help="launch the fine-tuning job at the end")
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--max-train-samples", default="16")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="crawl-to-finetune-"))
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)

    # 1. WARC files, two "segments" of generated pages plus the real sample if present
    pages = list(docs_pages(args.pages, seed=7, duplicate_every=8, junk_every=10))
    half = len(pages) // 2
    warcs = [write_warc(work / "warc" / f"docs-{i}.warc.gz", chunk)
             for i, chunk in enumerate((pages[:half], pages[half:]))]
    if SAMPLE.exists():
        warcs.append(SAMPLE)
    print(f"1. wrote {len(pages)} pages into {len(warcs)} WARC files under {work / 'warc'}")

    # 2. the cc-index table
    counts = build_index([str(w) for w in warcs], work / "index", crawl="CC-MAIN-2099-01",
                         overwrite=True).rows
    print(f"2. indexed {sum(counts.values())} records → {work / 'index'}")

    # 3. SQL: English pages of the docs host, as a record list for the next step
    sql = ("SELECT url, warc_filename, warc_record_offset, warc_record_length FROM ccindex "
           "WHERE crawl = 'CC-MAIN-2099-01' AND subset = 'warc' "
           "AND url_host_name = 'docs.example.org' AND content_languages LIKE 'eng%'")
    table = query(str(work / "index"), sql)
    write_result(table, work / "records.parquet", "records")
    print(f"3. SQL selected {table.num_rows} records → {work / 'records.parquet'}")

    # 4. extract, filter, dedup
    config = CrawlRunConfig(records=str(work / "records.parquet"), output=str(work / "extracted"),
                            languages=["eng"], quality=["gopher", "c4"],
                            dedup=["exact", "minhash"], runner=args.runner,
                            num_output_partitions=1)
    counters = execute(config)
    print("4. counters:", json.dumps(dict(sorted(counters.items())), indent=1))

    # 5. one training file in a directory of its own
    result = export(str(work / "extracted"), out_dir=work / "train", fmt="jsonl")
    print(f"5. exported {result.documents} documents → {result.path}")

    # 6. domain adaptation on the exported directory
    if not args.train:
        print("6. skipped (pass --train to fine-tune on", result.path.parent, ")")
        return
    import springboard

    estimator = springboard.Estimator(
        model_id=args.model,
        hyperparameters={"instruction_tuned": "False", "epoch": "1",
                         "max_train_samples": args.max_train_samples},
    )
    job = estimator.fit({"training": str(result.path.parent)}, wait=True)
    print(f"6. training job {job.name} finished; artifact: {estimator.model_data}")


if __name__ == "__main__":
    main()
