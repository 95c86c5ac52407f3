"""Building the cc-index table from WARC (and ARC) files, local or remote: one Parquet part
per input file under `crawl=<crawl>/subset=<subset>/`, written as the file is read."""

from __future__ import annotations

import json
import logging
import re
from collections import deque
from dataclasses import dataclass, field
from datetime import timezone
from pathlib import Path
from typing import Iterable, Iterator
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq

from springboard.crawl.index import SCHEMA
from springboard.crawl.langcodes import to_iso639_3
from springboard.crawl.record import Counters
from springboard.errors import ConflictError, NotFoundError, ValidationError

log = logging.getLogger("springboard.crawl")

INDEX_BATCH_ROWS = 1000


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
    body: bytes | None = None
    end: int | None = None  # where the record ends, once known


@dataclass
class FileReport:
    """What indexing one file gave: rows, and unreadable records counted by reason."""

    file: str
    rows: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    peak_pending_bodies: int = 0
    peak_pending_bytes: int = 0


# Common Crawl writes request, response, metadata per page: a response's languages-cld2
# metadata arrives within a record or two. Rows wait this many records for theirs, holding
# their body for language detection meanwhile; memory is bounded by the window, not the file.
LANGUAGE_WINDOW = 4


def _fetch_time(record) -> object:
    from springboard.crawl.reader import parse_warc_date

    if record.date is not None:
        return record.date.astimezone(timezone.utc)
    return parse_warc_date(record.headers.get("WARC-Date"))


def index_rows(warc: str, detect_languages: bool = True,
               report: FileReport | None = None) -> Iterator[dict]:
    """One index row per response/revisit record of `warc` (WARC or ARC), in file order, with
    lengths from record boundaries and languages from the crawler's `languages-cld2` metadata
    when present, else detected. Unreadable records are counted in `report.errors`."""
    from springboard.crawl.reader import ALL_TYPES, iter_records, open_uri

    report = report if report is not None else FileReport(warc)
    counters = Counters()
    window = _RowWindow(report)
    segment = re.search(r"/segments/([^/]+)/", warc)
    with open_uri(warc) as f:
        size = f.seek(0, 2)
        f.seek(0)
        for rec in iter_records(warc, ALL_TYPES, counters, fileobj=f, on_error=window.on_error):
            window.close_last(rec.offset)
            if rec.record_type == "metadata":
                window.add_languages(*_cld2_languages(rec))
                window.skip()  # its end closes the previous record's length
                yield from window.ready(False)
            elif rec.record_type not in ("response", "revisit") or not rec.url:
                window.skip()
            else:
                window.add(_entry(rec, warc, segment.group(1) if segment else None, detect_languages))
                yield from window.ready(False)
        window.close_last(size)
        yield from window.ready(True)
    for key, value in counters.items():
        if key.startswith("errors."):
            report.errors[key.removeprefix("errors.")] = value


class _RowWindow:
    """Rows waiting for their length (the next record's offset) and for their languages (the
    crawler's metadata record, a record or two later), bounded by LANGUAGE_WINDOW."""

    def __init__(self, report: FileReport) -> None:
        self.report = report
        self.pending: deque[_Entry] = deque()
        self.langs_by_id: dict[str, str] = {}
        self.last: _Entry | None = None

    def close_last(self, at: int) -> None:
        if self.last is not None and self.last.end is None:
            self.last.end = at
        self.last = None

    def on_error(self, at: int, reason: str) -> None:
        if self.pending and self.pending[-1].row["warc_record_offset"] == at:
            self.pending.pop()  # a record cut short by the end of the file: not addressable
        self.close_last(at)

    def skip(self) -> None:
        """A record that makes no row: its start still ends the one before."""
        self.last = _Entry({}, None)

    def add_languages(self, record_id: str | None, langs: str | None) -> None:
        if record_id and langs is not None:
            self.langs_by_id[record_id] = langs

    def add(self, entry: _Entry) -> None:
        self.pending.append(entry)
        self.last = entry
        report = self.report
        report.peak_pending_bodies = max(report.peak_pending_bodies,
                                         sum(e.body is not None for e in self.pending))
        report.peak_pending_bytes = max(report.peak_pending_bytes,
                                        sum(len(e.body or b"") for e in self.pending))

    def ready(self, flush: bool) -> Iterator[dict]:
        # a row leaves once its length is known and its metadata had its chance to arrive
        pending = self.pending
        while pending and pending[0].end is not None and (flush or len(pending) > LANGUAGE_WINDOW
                                                          or pending[0].record_id in self.langs_by_id):
            yield self._finish(pending.popleft())

    def _finish(self, entry: _Entry) -> dict:
        row = entry.row
        if row["warc_record_length"] is None and entry.end is not None:
            row["warc_record_length"] = entry.end - row["warc_record_offset"]
        langs = self.langs_by_id.pop(entry.record_id or "", None)
        if langs is None and entry.body is not None and row["content_mime_type"] in (None, "text/html"):
            langs = _detect(entry.body, row["content_charset"])
        row["content_languages"] = langs or None
        entry.body = None
        return row


def _cld2_languages(rec) -> tuple[str | None, str | None]:
    """(the record it describes, its languages as ISO 639-3 codes) from a metadata record's
    `languages-cld2` line; (ref, None) when there is none or it does not parse."""
    meta = rec.payload.decode("utf-8", "replace")
    m = re.search(r"^languages-cld2: (.*)$", meta, re.M)
    ref = rec.headers.get("WARC-Concurrent-To")
    if not (m and ref):
        return ref, None
    try:
        langs = json.loads(m.group(1)).get("languages", [])
        codes = [lang.get("code-iso-639-3") for lang in langs]
        return ref, ",".join(c for c in codes if c)
    except (json.JSONDecodeError, AttributeError):
        return ref, None


def _entry(rec, warc: str, segment: str | None, detect_languages: bool) -> _Entry:
    """A response or revisit record's index row, waiting for its length and languages."""
    h = rec.headers
    http = rec.http_headers if rec.http_headers else None
    status = rec.http_status
    row = url_columns(rec.url)
    digest = h.get("WARC-Payload-Digest") or ""
    row.update({
        "fetch_time": _fetch_time(rec),
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
        "warc_record_offset": rec.offset,
        "warc_record_length": rec.length,
        "warc_segment": segment,
        # Common Crawl files revisits with the redirects and errors
        "subset": "crawldiagnostics" if rec.record_type == "revisit" else _subset(rec.url, status),
    })
    entry = _Entry(row, h.get("WARC-Record-ID"))
    if rec.length is not None:
        entry.end = rec.offset + rec.length
    if detect_languages and rec.record_type == "response":
        entry.body = rec.payload
    return entry


def _detect(body: bytes, charset: str | None) -> str | None:
    from resiliparse.parse.lang import detect_fast

    from springboard.crawl.extract import html_to_text

    text = html_to_text(body, charset, main_content=False)
    if len(text) < 20:
        return None
    lang, _ = detect_fast(text)
    return to_iso639_3(lang)


@dataclass
class IndexBuildResult:
    rows: dict[str, int]  # rows per subset
    files: list[FileReport]

    @property
    def errors(self) -> dict[str, dict[str, int]]:
        return {f.file: f.errors for f in self.files if f.errors}


def build_index(
    warcs: Iterable[str], out_dir: str | Path, crawl: str = "local", detect_languages: bool = True,
    overwrite: bool = False,
) -> IndexBuildResult:
    """Writes `out_dir/crawl=<crawl>/subset=<subset>/part-NNNNN.parquet`, one part per input
    file (written as it is read: memory does not grow with the file); returns rows per subset
    and, per file, the unreadable records by reason. A file that cannot be read at all is
    reported and the run goes on. The partition appears in `out_dir` only when complete
    (built beside it, then renamed in), so a killed build leaves no partial index. Filenames
    are stored as absolute paths (URIs pass through), so a query's record list feeds `crawl run
    --records` directly."""
    import shutil
    import uuid

    out = Path(out_dir)
    warcs = list(warcs)
    if not warcs:
        raise ValidationError("no WARC files given to index")
    target = out / f"crawl={crawl}"
    if target.exists() and not overwrite:
        raise ConflictError(f"{target}: this crawl is already indexed here (use --overwrite)")
    missing = [w for w in warcs if "://" not in w and not Path(w).is_file()]
    if missing:
        raise NotFoundError(f"{missing[0]}: no such file" + (
            f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    out.mkdir(parents=True, exist_ok=True)
    # beside the index, not in it: a query's `**/*.parquet` glob must never see a half build
    staging = out.parent / f".{out.name}.building-{crawl}-{uuid.uuid4().hex[:8]}"
    counts: dict[str, int] = {}
    reports: list[FileReport] = []
    try:
        for i, warc in enumerate(warcs):
            name = warc if "://" in warc else str(Path(warc).resolve())
            report = FileReport(warc)
            reports.append(report)
            writers: dict[str, pq.ParquetWriter] = {}
            batches: dict[str, list[dict]] = {}

            def flush(subset: str) -> None:
                rows = batches.pop(subset, [])
                if not rows:
                    return
                if subset not in writers:
                    part = staging / f"subset={subset}" / f"part-{i:05d}.parquet"
                    part.parent.mkdir(parents=True, exist_ok=True)
                    writers[subset] = pq.ParquetWriter(part, SCHEMA)
                writers[subset].write_table(pa.Table.from_pylist(rows, schema=SCHEMA))

            try:
                for row in index_rows(name, detect_languages, report):
                    subset = row.pop("subset")
                    batches.setdefault(subset, []).append(row)
                    counts[subset] = counts.get(subset, 0) + 1
                    report.rows += 1
                    if len(batches[subset]) >= INDEX_BATCH_ROWS:
                        flush(subset)
            except OSError as exc:  # the file itself could not be opened or read
                report.errors["unreadable_file"] = report.errors.get("unreadable_file", 0) + 1
                log.error("%s: %s; rest of file skipped", warc, exc)
            finally:
                for subset in list(batches):
                    flush(subset)
                for w in writers.values():
                    w.close()
            log.info("indexed %s: %d records%s", warc, report.rows,
                     f"; unreadable: {report.errors}" if report.errors else "")
        if target.exists():
            old = out.parent / f".{out.name}.replaced-{crawl}-{uuid.uuid4().hex[:8]}"
            target.rename(old)
            staging.rename(target)
            shutil.rmtree(old)
        elif staging.exists():
            staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return IndexBuildResult(counts, reports)
