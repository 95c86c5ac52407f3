"""The cc-index table: SQL over it with DuckDB, and building the same table from local WARC
files so the whole path works offline.

The table is the one Common Crawl publishes (`cc-index/table/cc-main/warc/`), Hive-partitioned
by `crawl` and `subset`; `query` exposes it as a view named `ccindex`."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import timezone
from pathlib import Path
from typing import Iterable, Literal
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq

from springboard.crawl.langcodes import to_iso639_3
from springboard.errors import DataError, NotFoundError, ValidationError

log = logging.getLogger("springboard.crawl")

OutputFormat = Literal["parquet", "csv", "warc-list", "records"]
RECORD_COLUMNS = ("warc_filename", "warc_record_offset", "warc_record_length")

SCHEMA = pa.schema([
    ("url_surtkey", pa.string()),
    ("url", pa.string()),
    ("url_host_name", pa.string()),
    ("url_host_tld", pa.string()),
    ("url_host_2nd_last_part", pa.string()),
    ("url_host_3rd_last_part", pa.string()),
    ("url_host_4th_last_part", pa.string()),
    ("url_host_5th_last_part", pa.string()),
    ("url_host_registry_suffix", pa.string()),
    ("url_host_registered_domain", pa.string()),
    ("url_host_private_suffix", pa.string()),
    ("url_host_private_domain", pa.string()),
    ("url_host_name_reversed", pa.string()),
    ("url_protocol", pa.string()),
    ("url_port", pa.int32()),
    ("url_path", pa.string()),
    ("url_query", pa.string()),
    ("fetch_time", pa.timestamp("us", tz="UTC")),
    ("fetch_status", pa.int16()),
    ("fetch_redirect", pa.string()),
    ("content_digest", pa.string()),
    ("content_mime_type", pa.string()),
    ("content_mime_detected", pa.string()),
    ("content_charset", pa.string()),
    ("content_languages", pa.string()),
    ("content_truncated", pa.string()),
    ("warc_filename", pa.string()),
    ("warc_record_offset", pa.int64()),
    ("warc_record_length", pa.int64()),
    ("warc_segment", pa.string()),
])


def surt(url: str) -> str:
    """Sort-friendly URL key as Common Crawl writes it: `org,example)/path?query`."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if host.startswith("www."):
        host = host[4:]
    key = ",".join(reversed(host.split("."))) + ")"
    path = parts.path.lower() or "/"
    return key + path + (("?" + parts.query.lower()) if parts.query else "")


def url_columns(url: str) -> dict[str, object]:
    """The `url_*` columns. Without the public-suffix list, the registry suffix is taken to be
    the last label (so `example.co.uk` registers as `co.uk`); CC's own index uses the list."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    labels = host.split(".") if host else []
    nth = lambda n: labels[-n] if len(labels) >= n else None  # noqa: E731
    registered = ".".join(labels[-2:]) if len(labels) >= 2 else None
    try:
        port = parts.port
    except ValueError:
        port = None
    return {
        "url_surtkey": surt(url),
        "url": url,
        "url_host_name": host or None,
        "url_host_tld": nth(1),
        "url_host_2nd_last_part": nth(2),
        "url_host_3rd_last_part": nth(3),
        "url_host_4th_last_part": nth(4),
        "url_host_5th_last_part": nth(5),
        "url_host_registry_suffix": nth(1),
        "url_host_registered_domain": registered,
        "url_host_private_suffix": nth(1),
        "url_host_private_domain": registered,
        "url_host_name_reversed": ".".join(reversed(labels)) or None,
        "url_protocol": parts.scheme or None,
        "url_port": port,
        "url_path": parts.path or None,
        "url_query": parts.query or None,
    }


def _subset(url: str, status: int | None) -> str:
    if urlsplit(url).path == "/robots.txt":
        return "robotstxt"
    return "warc" if status is None or 200 <= status < 300 else "crawldiagnostics"


@dataclass
class _Entry:
    row: dict
    record_id: str | None


def index_rows(warc: str, detect_languages: bool = True) -> Iterable[dict]:
    """One index row per response record of `warc`, with lengths from record boundaries and
    languages from the crawler's `languages-cld2` metadata when present, else detected."""
    from fastwarc.warc import ArchiveIterator

    from springboard.crawl.reader import open_uri

    entries: list[_Entry] = []
    langs_by_id: dict[str, str] = {}
    bodies: dict[int, bytes] = {}
    segment = re.search(r"/segments/([^/]+)/", warc)
    with open_uri(warc) as f:
        size = f.seek(0, 2)
        f.seek(0)
        prev: _Entry | None = None
        prev_pos = None
        for rec in ArchiveIterator(f, parse_http=True):
            pos = rec.stream_pos
            if prev is not None:
                prev.row["warc_record_length"] = pos - prev_pos
                prev = None
            rtype = str(rec.record_type)
            h = rec.headers
            if rtype == "metadata":
                meta = rec.reader.read().decode("utf-8", "replace")
                m = re.search(r"^languages-cld2: (.*)$", meta, re.M)
                ref = h.get("WARC-Concurrent-To")
                if m and ref:
                    try:
                        langs = json.loads(m.group(1)).get("languages", [])
                        codes = [lang.get("code-iso-639-3") for lang in langs]
                        langs_by_id[ref] = ",".join(c for c in codes if c)
                    except (json.JSONDecodeError, AttributeError):
                        pass
                continue
            if rtype not in ("response", "revisit") or not h.get("WARC-Target-URI"):
                continue
            url = h.get("WARC-Target-URI")
            status = rec.http_headers.status_code if rec.is_http and rec.http_headers else None
            http = rec.http_headers if rec.is_http else None
            row = url_columns(url)
            digest = h.get("WARC-Payload-Digest") or ""
            row.update({
                "fetch_time": rec.record_date.astimezone(timezone.utc) if h.get("WARC-Date") else None,
                "fetch_status": status,
                "fetch_redirect": http.get("Location") if http is not None else None,
                "content_digest": digest.split(":", 1)[-1] or None,
                "content_mime_type": (rec.http_content_type or "").split(";")[0].strip() or None
                if http is not None else None,
                "content_mime_detected": h.get("WARC-Identified-Payload-Type"),
                "content_charset": rec.http_charset if http is not None else None,
                "content_languages": None,
                "content_truncated": h.get("WARC-Truncated"),
                "warc_filename": warc,
                "warc_record_offset": pos,
                "warc_record_length": None,
                "warc_segment": segment.group(1) if segment else None,
                # Common Crawl files revisits with the redirects and errors
                "subset": "crawldiagnostics" if rtype == "revisit" else _subset(url, status),
            })
            entry = _Entry(row, h.get("WARC-Record-ID"))
            if detect_languages and rtype == "response":
                bodies[len(entries)] = rec.reader.read()
            entries.append(entry)
            prev, prev_pos = entry, pos
        if prev is not None:
            prev.row["warc_record_length"] = size - prev_pos
    for i, entry in enumerate(entries):
        langs = langs_by_id.get(entry.record_id or "")
        if langs is None and i in bodies and entry.row["content_mime_type"] in (None, "text/html"):
            langs = _detect(bodies[i], entry.row["content_charset"])
        entry.row["content_languages"] = langs or None
        yield entry.row


def _detect(body: bytes, charset: str | None) -> str | None:
    from resiliparse.parse.lang import detect_fast

    from springboard.crawl.extract import html_to_text

    text = html_to_text(body, charset, main_content=False)
    if len(text) < 20:
        return None
    lang, _ = detect_fast(text)
    return to_iso639_3(lang)


def build_index(
    warcs: Iterable[str], out_dir: str | Path, crawl: str = "local", detect_languages: bool = True
) -> dict[str, int]:
    """Writes `out_dir/crawl=<crawl>/subset=<subset>/part-NNNNN.parquet`, one part per input
    file; returns rows per subset. Filenames are stored as absolute paths (URIs pass through),
    so a query's record list feeds `crawl run --records` directly."""
    out = Path(out_dir)
    counts: dict[str, int] = {}
    warcs = list(warcs)
    if not warcs:
        raise ValidationError("no WARC files given to index")
    for i, warc in enumerate(warcs):
        name = warc if "://" in warc else str(Path(warc).resolve())
        if "://" not in warc and not Path(warc).exists():
            raise NotFoundError(f"{warc}: no such file")
        try:
            rows = list(index_rows(name, detect_languages))
        except OSError as exc:
            raise DataError(f"not a readable WARC file: {exc}", file=warc) from exc
        by_subset: dict[str, list[dict]] = {}
        for row in rows:
            by_subset.setdefault(row.pop("subset"), []).append(row)
        for subset, subset_rows in by_subset.items():
            part = out / f"crawl={crawl}" / f"subset={subset}" / f"part-{i:05d}.parquet"
            part.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.Table.from_pylist(subset_rows, schema=SCHEMA), part)
            counts[subset] = counts.get(subset, 0) + len(subset_rows)
        log.info("indexed %s: %d records", warc, len(rows))
    return counts


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _paths_file(uri: str) -> list[str]:
    """Common Crawl's `cc-index-table.paths.gz`: parquet paths relative to the bucket root,
    which is `s3://commoncrawl/` when the listing came from S3, else the HTTPS mirror."""
    import gzip

    from springboard.crawl.fetch import DEFAULT_WARC_PREFIX
    from springboard.crawl.reader import open_uri

    with open_uri(uri) as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    root = "s3://commoncrawl/" if uri.startswith("s3://") else DEFAULT_WARC_PREFIX
    return [line if "://" in line or line.startswith("/") else root + line
            for line in raw.decode().split()]


def table_source(index: str) -> str:
    """The `read_parquet(...)` expression for an index location: a local directory (globbed),
    a parquet file, an `s3://` prefix (globbed by DuckDB's httpfs), an `https://` parquet URL,
    or a `.paths`/`.paths.gz` listing (how Common Crawl publishes the table over HTTPS, where
    globbing is impossible). Several locations may be joined with commas."""
    files: list[str] = []
    for loc in [p.strip() for p in index.split(",") if p.strip()]:
        if loc.endswith(".paths") or loc.endswith(".paths.gz"):
            files.extend(_paths_file(loc))
        elif "://" in loc and not loc.startswith("file://"):
            is_file = loc.endswith(".parquet") or "*" in loc
            files.append(loc if is_file or loc.startswith("http") else loc.rstrip("/") + "/**/*.parquet")
        else:
            path = Path(loc.removeprefix("file://"))
            if path.is_dir():
                if not any(path.rglob("*.parquet")):
                    raise NotFoundError(f"{loc}: no parquet files under this directory")
                files.append(str(path / "**" / "*.parquet"))
            elif path.exists() or "*" in loc:
                files.append(str(path))
            else:
                raise NotFoundError(f"{loc}: no such index directory or file")
    if not files:
        raise ValidationError("--index: no location given")
    listing = "[" + ", ".join(_sql_literal(f) for f in files) + "]"
    return f"read_parquet({listing}, hive_partitioning = true, union_by_name = true)"


def connect(index: str, http_retries: int = 8):
    """A DuckDB connection with the view `ccindex` over `index`."""
    import duckdb

    con = duckdb.connect()
    if "://" in index and "file://" not in index:
        try:
            con.execute("LOAD httpfs")
        except duckdb.Error:
            try:
                con.execute("INSTALL httpfs; LOAD httpfs")
            except duckdb.Error as exc:
                raise ValidationError(
                    f"remote index {index}: DuckDB's httpfs extension is not available "
                    f"offline ({exc}); run once online: python -c \"import duckdb; "
                    f"duckdb.sql('INSTALL httpfs')\"") from exc
        # the public bucket throttles; DuckDB retries with backoff itself
        con.execute(f"SET http_retries = {int(http_retries)}; SET http_retry_backoff = 2")
        if "s3://" in index:
            con.execute("SET s3_region = 'us-east-1'")
    con.execute(f"CREATE VIEW ccindex AS SELECT * FROM {table_source(index)}")
    return con


def query(index: str, sql: str):
    """Runs `sql` (which names the view `ccindex`) and returns a pyarrow Table."""
    import duckdb

    con = connect(index)
    try:
        rel = con.sql(sql)
        # DuckDB ≥ 2 names it to_arrow_table; 1.x has arrow()
        fetch = getattr(rel, "to_arrow_table", None) or rel.arrow
        return fetch()
    except duckdb.Error as exc:
        raise ValidationError(f"SQL failed: {exc}") from exc
    finally:
        con.close()


def write_result(table: pa.Table, out: str | Path, fmt: OutputFormat | None = None) -> str:
    """Writes a query result: `parquet`, `csv`, `warc-list` (distinct `warc_filename`s, one a
    line, in first-seen order: input for `crawl run --input-list`) or `records` (the
    filename/offset/length columns plus `url` when present, as Parquet, or CSV when `out` ends
    in .csv: input for `crawl run --records`). Returns the format written."""
    import pyarrow.csv as pacsv

    out = Path(out)
    fmt = fmt or {".csv": "csv", ".txt": "warc-list"}.get(out.suffix, "parquet")
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt in ("warc-list", "records"):
        missing = [c for c in RECORD_COLUMNS[: 1 if fmt == "warc-list" else 3]
                   if c not in table.column_names]
        if missing:
            raise ValidationError(
                f"--format {fmt} needs the result columns {', '.join(missing)}; select them")
    if fmt == "parquet":
        pq.write_table(table, out)
    elif fmt == "csv":
        pacsv.write_csv(table, out)
    elif fmt == "warc-list":
        names = list(dict.fromkeys(table.column("warc_filename").to_pylist()))
        out.write_text("".join(f"{n}\n" for n in names if n))
    elif fmt == "records":
        cols = [c for c in ("url", *RECORD_COLUMNS) if c in table.column_names]
        sub = table.select(cols)
        (pacsv.write_csv if out.suffix == ".csv" else pq.write_table)(sub, out)
    else:
        raise ValidationError(f"--format: unknown format {fmt!r} (parquet, csv, warc-list, records)")
    return fmt
