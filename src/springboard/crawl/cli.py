"""`springboard crawl index query|build`, `crawl run`, `crawl export`, `crawl fetch`."""

from __future__ import annotations

import argparse
import json
import sys


def _csv_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("crawl", help="Common Crawl: index SQL, extraction jobs, export")
    sub = p.add_subparsers(dest="crawl_command", metavar="ACTION", required=True)

    idx = sub.add_parser("index", help="the cc-index table: SQL queries, building from WARCs")
    isub = idx.add_subparsers(dest="index_command", metavar="ACTION", required=True)
    q = isub.add_parser("query", help="SQL (DuckDB) over the view `ccindex`")
    q.add_argument("sql", help='e.g. "SELECT url, warc_filename, warc_record_offset, '
                   'warc_record_length FROM ccindex WHERE crawl = \'CC-MAIN-2024-22\' AND '
                   'subset = \'warc\' AND url_host_tld = \'org\'"')
    q.add_argument("--index", required=True,
                   help="local directory, parquet file, s3:// prefix, https:// parquet URL, or a "
                   "cc-index-table.paths(.gz) listing; comma-separate several")
    q.add_argument("--out", help="write the result here (else print up to --show rows)")
    q.add_argument("--format", choices=["parquet", "csv", "warc-list", "records"],
                   help="default from --out's suffix: .csv → csv, .txt → warc-list, else parquet")
    q.add_argument("--show", type=int, default=20, help="rows to print without --out")
    q.set_defaults(func=_query)

    b = isub.add_parser("build", help="build the cc-index table from local WARC files")
    b.add_argument("warcs", nargs="+", metavar="WARC")
    b.add_argument("--out", required=True, help="index directory (Hive partitions crawl=/subset=)")
    b.add_argument("--crawl", default="local", help="value of the `crawl` partition")
    b.add_argument("--no-detect-languages", action="store_true",
                   help="leave content_languages empty when no languages-cld2 metadata exists")
    b.add_argument("--overwrite", action="store_true", help="replace this crawl's partition")
    b.set_defaults(func=_build)

    r = sub.add_parser("run", help="run an extraction job over archives (local or Spark)")
    r.add_argument("inputs", nargs="*", metavar="INPUT", help="WARC/WET/ARC files, URIs, globs, dirs")
    r.add_argument("--input-list", help="file listing archives, one a line (`--format warc-list`)")
    r.add_argument("--records", help="record list from `index query --format records` (Parquet/CSV)")
    r.add_argument("--warc-prefix", default=None, help="base URI for relative crawl-data/ names")
    r.add_argument("--out", required=True, help="output directory of Parquet parts")
    r.add_argument("--job", help="custom job: module:Class or path/to/file.py:Class (a CrawlJob)")
    r.add_argument("--extract", choices=["main", "all", "none"], default="main",
                   help="HTML → text: main content (default), all text, or no extraction step")
    r.add_argument("--css", help="CSS selector: one row per matching element")
    r.add_argument("--include-hosts", type=_csv_list, default=[])
    r.add_argument("--exclude-hosts", type=_csv_list, default=[])
    r.add_argument("--tlds", type=_csv_list, default=[])
    r.add_argument("--url-include", help="regex a URL must contain")
    r.add_argument("--url-exclude", help="regex a URL must not contain")
    r.add_argument("--languages", type=_csv_list, default=[], help="e.g. eng,deu")
    r.add_argument("--quality", type=_csv_list, default=[],
                   help="gopher, gopher_quality, gopher_repetition, c4, fineweb")
    r.add_argument("--dedup", type=_csv_list, default=[], help="exact, minhash")
    r.add_argument("--runner", choices=["local", "spark", "emr-serverless"], default="local",
                   help="emr-serverless: submit to an EMR Serverless application (runs as a job)")
    r.add_argument("--processes", type=int, help="local runner: worker processes")
    r.add_argument("--master", default="local[*]", help="Spark master URL")
    r.add_argument("--num-output-partitions", type=int)
    r.add_argument("--max-attempts", type=int, default=6, help="byte-range fetch attempts")
    r.add_argument("--overwrite", action="store_true")
    r.add_argument("--application-id", help="emr-serverless: the application's id")
    r.add_argument("--execution-role", help="emr-serverless: the job run's IAM role ARN")
    r.add_argument("--venv-archive", help="emr-serverless: venv-pack .tar.gz (local or s3://) "
                   "holding springboard's dependencies (not needed with a custom image)")
    r.add_argument("--py-files", type=_csv_list, default=[],
                   help="emr-serverless: local modules/packages your job imports")
    r.add_argument("--poll-seconds", type=float, help="emr-serverless: state polling interval")
    r.add_argument("--print-config", action="store_true", help="print the run's configuration")
    r.add_argument("--name", help="run as a job with this name (see `springboard jobs`)")
    r.add_argument("--wait", action="store_true", help="with --name: wait for the job to end")
    r.set_defaults(func=_run)

    e = sub.add_parser("export", help="Parquet → one training file (txt or jsonl)")
    e.add_argument("parquet", help="crawl output directory or Parquet file")
    e.add_argument("--format", choices=["txt", "jsonl"], default="jsonl")
    e.add_argument("--column", default="text")
    dest = e.add_mutually_exclusive_group(required=True)
    dest.add_argument("--out", help="the file to write; its directory must hold nothing else")
    dest.add_argument("--out-dir", help="directory to hold train.<format> alone")
    e.add_argument("--overwrite", action="store_true")
    e.set_defaults(func=_export)

    f = sub.add_parser("fetch", help="fetch one record by byte range and print it")
    f.add_argument("filename")
    f.add_argument("offset", type=int)
    f.add_argument("length", type=int)
    f.add_argument("--warc-prefix", default=None)
    f.add_argument("--payload", action="store_true", help="print the payload, not the headers")
    f.set_defaults(func=_fetch)


def _query(args: argparse.Namespace) -> int:
    from springboard.crawl.index import query, write_result

    table = query(args.index, args.sql)
    if args.out:
        fmt = write_result(table, args.out, args.format)
        print(f"{table.num_rows} rows → {args.out} ({fmt})")
        return 0
    print(table.slice(0, args.show).to_pandas().to_string(max_colwidth=80))
    if table.num_rows > args.show:
        print(f"... {table.num_rows} rows in all")
    return 0


def _build(args: argparse.Namespace) -> int:
    from springboard.crawl.index_build import build_index

    result = build_index(args.warcs, args.out, crawl=args.crawl,
                         detect_languages=not args.no_detect_languages, overwrite=args.overwrite)
    counts = result.rows
    print(f"indexed {sum(counts.values())} records into {args.out}: "
          + ", ".join(f"subset={k}: {v}" for k, v in sorted(counts.items())))
    for file, errors in result.errors.items():
        print(f"{file}: unreadable records skipped: "
              + ", ".join(f"{k}={v}" for k, v in sorted(errors.items())), file=sys.stderr)
    return 0


def run_config(args: argparse.Namespace):
    """`crawl run`'s arguments as the validated `CrawlRunConfig` (also what `spark_main.py`
    builds on a cluster from the same arguments)."""
    from pathlib import Path

    import pydantic

    from springboard.crawl.config import CrawlRunConfig
    from springboard.errors import ValidationError, first_problem

    fields = {k: getattr(args, k) for k in CrawlRunConfig.model_fields
              if k not in ("output",) and getattr(args, k, None) is not None}
    # a job's worker runs elsewhere: paths must not depend on this shell's directory
    resolve = lambda p: p if p is None or "://" in p else str(Path(p).resolve())  # noqa: E731
    fields["inputs"] = [i if any(c in i for c in "*?[") and "://" in i else resolve(i)
                        for i in args.inputs]
    for key in ("input_list", "records"):
        fields[key] = resolve(fields.get(key))
    if args.job and ".py:" in args.job:
        path, _, cls = args.job.rpartition(":")
        fields["job"] = f"{resolve(path)}:{cls}"
    if fields.get("runner") == "emr-serverless":
        fields["py_files"] = [resolve(p) for p in fields.get("py_files", [])]
        if fields.get("venv_archive"):
            fields["venv_archive"] = resolve(fields["venv_archive"])
    try:
        return CrawlRunConfig(output=resolve(args.out), **fields)
    except pydantic.ValidationError as exc:
        err = first_problem(exc)
        where = err.field
        raise ValidationError(f"crawl run{': --' + where.replace('_', '-') if where else ''}: {err.message}") from None


def _run(args: argparse.Namespace) -> int:
    config = run_config(args)
    if args.print_config:
        print(json.dumps(config.model_dump(), indent=1))
    if config.runner == "emr-serverless":
        from springboard.crawl.runners.emr import preflight

        preflight(config)
        if not args.name:
            from springboard.jobs import default_name

            args.name = default_name("crawl-emr")
    if args.name:
        from springboard import jobs

        job = jobs.submit(config, name=args.name)
        if args.wait:
            job = jobs.watch(job.name)
        print(f"{job.name}: {job.status}" + (f" ({job.failure_reason})" if job.failure_reason else ""))
        return 0 if job.status in ("InProgress", "Completed") else 1
    from springboard.crawl.config import execute

    counters = execute(config)
    print(json.dumps(dict(sorted(counters.items())), indent=1))
    return 0


def _export(args: argparse.Namespace) -> int:
    from springboard.crawl.export import export

    res = export(args.parquet, out=args.out, out_dir=args.out_dir, fmt=args.format,
                 column=args.column, overwrite=args.overwrite)
    print(f"{res.documents} documents → {res.path} ({res.bytes} bytes; "
          f"{res.skipped_empty} empty skipped); train with channel {res.path.parent}")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from springboard.crawl.fetch import DEFAULT_WARC_PREFIX, fetch_record, resolve_uri

    uri = resolve_uri(args.filename, args.warc_prefix or DEFAULT_WARC_PREFIX)
    rec = fetch_record(uri, args.offset, args.length)
    if args.payload:
        sys.stdout.buffer.write(rec.payload)
        return 0
    print(json.dumps({"record_type": rec.record_type, "url": rec.url, "http_status": rec.http_status,
                      "headers": rec.headers.to_dict(), "http_headers": rec.http_headers.to_dict(),
                      "payload_bytes": len(rec.payload)}, indent=1))
    return 0
