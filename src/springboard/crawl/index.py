"""The cc-index table: its schema, and SQL over it with DuckDB (local, `s3://` or `https://`).
`index_build` builds the same table from WARC files so the whole path works offline.

The table is the one Common Crawl publishes (`cc-index/table/cc-main/warc/`), Hive-partitioned
by `crawl` and `subset`; `query` exposes it as a view named `ccindex`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.parquet as pq

from springboard.errors import NotFoundError, ValidationError

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


def connect(index: str):
    """A DuckDB connection with the view `ccindex` over `index`.

    Remote locations (`s3://`, `https://`) are read through `springboard.storage`'s fsspec
    filesystems registered with DuckDB (s3fs with the endpoint and credentials of the standard
    AWS settings; HTTP range reads), not DuckDB's `httpfs` extension: that one is downloaded
    at first use, and this runs offline (PyPI's `duckdb-ext-httpfs` is built for DuckDB 1.4
    only). DuckDB still reads Parquet by ranges and prunes `crawl=`/`subset=` partitions."""
    import duckdb

    from springboard import storage

    con = duckdb.connect()
    registered: set[str] = set()
    for loc in [p.strip() for p in index.split(",") if p.strip()]:
        kind = storage.scheme(loc)
        if kind in ("file", "memory") or kind in registered:
            continue
        fs, _ = storage.filesystem(loc)
        con.register_filesystem(_with_modified(fs))
        registered.update(fs.protocol if isinstance(fs.protocol, (tuple, list)) else [fs.protocol])
    con.execute(f"CREATE VIEW ccindex AS SELECT * FROM {table_source(index)}")
    return con


def _with_modified(fs):
    """DuckDB asks a registered filesystem for `modified()`, which fsspec's HTTP filesystem
    lacks: answer it from the `Last-Modified` header (HEAD), as DuckDB's own httpfs does."""
    from datetime import datetime, timezone
    from email.utils import parsedate_to_datetime

    from fsspec.implementations.http import HTTPFileSystem

    if not isinstance(fs, HTTPFileSystem):
        return fs

    class HTTPWithModified(type(fs)):
        def modified(self, path):
            value = self.info(path).get("Last-Modified")
            try:
                return parsedate_to_datetime(value) if value else datetime.fromtimestamp(0, timezone.utc)
            except (TypeError, ValueError):
                return datetime.fromtimestamp(0, timezone.utc)

    return HTTPWithModified(**fs.storage_options)


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


def records_sql(host: str | None = None, url_contains: str | None = None,
                languages: tuple[str, ...] | list[str] = (), mime: str | None = None,
                subset: str = "warc", limit: int = 1000) -> str:
    """The usual record-list question as SQL over `ccindex` (what `crawl index query` runs when
    a user writes it by hand): pages of one host or registered domain, a URL substring, content
    languages (ISO 639-3, any of them), a detected MIME type; 200 responses only. Values are
    quoted as SQL literals, so no caller-supplied text becomes SQL."""
    if not 1 <= limit <= 1_000_000:
        raise ValidationError(f"field 'limit': {limit} is not between 1 and 1000000")
    bad = [lang for lang in languages if not (len(lang) == 3 and lang.isalpha() and lang.islower())]
    if bad:
        raise ValidationError(f"field 'languages': {bad[0]!r} is not an ISO 639-3 code such as eng")
    where = [f"subset = {_sql_literal(subset)}", "fetch_status = 200"]
    if host:
        where.append(f"(url_host_name = {_sql_literal(host)} OR url_host_registered_domain = {_sql_literal(host)})")
    if url_contains:
        pattern = url_contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(f"url LIKE {_sql_literal('%' + pattern + '%')} ESCAPE '\\'")
    if languages:
        where.append("(" + " OR ".join(f"content_languages LIKE {_sql_literal('%' + lang + '%')}"
                                      for lang in languages) + ")")
    if mime:
        where.append(f"content_mime_detected = {_sql_literal(mime)}")
    return ("SELECT url, warc_filename, warc_record_offset, warc_record_length FROM ccindex WHERE "
            + " AND ".join(where) + f" ORDER BY warc_filename, warc_record_offset LIMIT {int(limit)}")


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
