"""Reading web archives: WARC and WET with fastwarc, legacy ARC with warcio (fastwarc reads
WARC only), gzip or uncompressed, from a local path or any fsspec URI.

A corrupt record does not end the file: the reader counts it, logs it, looks for the next
record start (the next gzip member, or the next `WARC/1.` line in an uncompressed file) and
goes on. Common Crawl writes one gzip member per record, which is what makes this work."""

from __future__ import annotations

import logging
import zlib
from typing import IO, Callable, Iterable, Iterator

from springboard.crawl.record import Counters, Headers, Record

log = logging.getLogger("springboard.crawl")

GZIP_MAGIC = b"\x1f\x8b\x08"
WARC_MAGIC = b"WARC/1."
ALL_TYPES = (
    "warcinfo", "response", "resource", "request", "metadata", "revisit", "conversion",
    "continuation",
)


def open_uri(uri: str) -> IO[bytes]:
    """A seekable binary file for a path or URI (`s3://`, `https://`, `file://`), through
    `springboard.storage` (S3 endpoint and credentials from the standard AWS settings)."""
    from springboard import storage

    return storage.open_file(uri, "rb")


ErrorHook = Callable[[int, str], None]


def iter_records(
    uri: str,
    record_types: Iterable[str] | None = ("response",),
    counters: Counters | None = None,
    fileobj: IO[bytes] | None = None,
    on_error: ErrorHook | None = None,
) -> Iterator[Record]:
    """Yields the records of one archive file. `record_types=None` yields every type; WET
    files hold `conversion` records, ARC files `response` records. Unreadable records are
    counted as `errors.<reason>` and skipped; `on_error(offset, reason)` hears where each one
    starts (an index needs it to end the previous record's length there)."""
    counters = counters if counters is not None else Counters()
    types = set(record_types) if record_types is not None else set(ALL_TYPES)
    f = fileobj or open_uri(uri)
    try:
        head = f.read(4096)
        f.seek(0)
        gz = head[:3] == GZIP_MAGIC
        if gz:
            head = _gunzip_prefix(head)
        if head.lstrip()[:11] == b"filedesc://":
            yield from _iter_arc(f, uri, types, counters, on_error)
        else:
            yield from _iter_warc(f, uri, types, counters, GZIP_MAGIC if gz else WARC_MAGIC,
                                  on_error)
    finally:
        if fileobj is None:
            f.close()


def _gunzip_prefix(raw: bytes) -> bytes:
    try:
        return zlib.decompressobj(31).decompress(raw, 512)
    except zlib.error:
        return b""  # not decodable: the WARC reader reports it


def _type_mask(types: set[str]) -> int:
    from fastwarc.warc import WarcRecordType

    mask = 0
    for t in types:
        mask |= int(getattr(WarcRecordType, t))
    return mask


def _iter_warc(
    f: IO[bytes], uri: str, types: set[str], counters: Counters, magic: bytes,
    on_error: ErrorHook | None,
) -> Iterator[Record]:
    """fastwarc passes over the file. A pass ends cleanly at EOF, raises on a corrupt record,
    or (on a truncated record) just stops; after every pass the rest of the file is searched
    for a record start the pass did not reach, and reading resumes there. A record start where
    a pass yields nothing is an unreadable record: counted with its reason, then skipped."""
    from fastwarc.warc import ArchiveIterator

    mask = _type_mask(types)
    pos, unaccounted = 0, False

    def report(at: int | None, reason: str, detail: object) -> None:
        counters[f"errors.{reason}"] += 1
        if on_error is not None and at is not None:
            on_error(at, reason)
        log.warning("%s: %s at offset %s (%s)", uri, reason.replace("_", " "),
                    at if at is not None else "?", detail)

    while True:
        f.seek(pos)
        # every record type passes through so that a resync knows how far it got
        it = ArchiveIterator(f, parse_http=True)
        last, failure = None, None
        try:
            for raw in it:
                if last is None and unaccounted:
                    # the record that failed the previous pass had no findable start
                    report(None, "corrupt_record", "skipped to the next record")
                    unaccounted = False
                last = raw.stream_pos
                if not (int(raw.record_type) & mask):
                    continue
                counters["records_read"] += 1
                yield _from_fastwarc(raw, uri)
        except OSError as exc:
            failure = exc
        nxt = _find_record(f, (last if last is not None else pos) + 1, magic)
        if last is not None and failure is None and nxt is None and not _complete(f, last, magic):
            # fastwarc yields a record cut by the end of the file with what there is of it
            report(last, "truncated_record", "the file ends inside this record")
        if last is None and pos == 0 and nxt is None:
            if _has_bytes(f, pos):
                report(pos, "not_an_archive", failure or "no record found")
        elif last is None:
            if failure is not None or nxt is not None or unaccounted:
                report(pos, "corrupt_record", failure or "unreadable")
            elif _has_bytes(f, pos):
                report(pos, "truncated_record" if pos else "not_an_archive",
                       "no complete record before the end of the file")
            unaccounted = False
        elif failure is not None:
            if nxt is None:
                report(last + 1, "corrupt_record", failure)
            unaccounted = nxt is not None
        if nxt is None:
            return
        pos = nxt


def _complete(f: IO[bytes], pos: int, magic: bytes, chunk: int = 1 << 16) -> bool:
    """Whether the record at `pos` (the file's last) is whole: its gzip member ends, or its
    block holds `Content-Length` bytes."""
    f.seek(pos)
    if magic == GZIP_MAGIC:
        if f.read(3) != GZIP_MAGIC:
            # one gzip member for many records (not Common Crawl's way): records are not
            # addressable by offset and a cut cannot be told from here
            return True
        f.seek(pos)
        d = zlib.decompressobj(31)
        while not d.eof:
            data = f.read(chunk)
            if not data:
                return False
            try:
                d.decompress(data)
            except zlib.error:
                return False
        return True
    head = f.read(chunk)
    end = head.find(b"\r\n\r\n")
    import re

    m = re.search(rb"\r\ncontent-length:\s*(\d+)", head[: end + 2] if end >= 0 else head, re.I)
    if end < 0 or m is None:
        return False
    need = end + 4 + int(m.group(1))
    f.seek(0, 2)
    return f.tell() - pos >= need


def _has_bytes(f: IO[bytes], pos: int) -> bool:
    f.seek(pos)
    return bool(f.read(1).strip())


def _find_record(f: IO[bytes], start: int, magic: bytes) -> int | None:
    """The next offset at or after `start` where a record begins: the magic bytes (a gzip
    member header, or `WARC/1.` at a line start) whose content starts `WARC/1.`, so that gzip
    magic occurring by chance inside compressed data is passed over."""
    while True:
        at = _find_next(f, start, magic)
        if at is None or magic == WARC_MAGIC:
            return at
        f.seek(at)
        if _gunzip_prefix(f.read(256))[:7] == WARC_MAGIC:
            return at
        start = at + 1


def _find_next(f: IO[bytes], start: int, magic: bytes, chunk: int = 1 << 20) -> int | None:
    pos = start
    f.seek(pos)
    tail = b""
    while True:
        data = f.read(chunk)
        if not data:
            return None
        buf = tail + data
        i = buf.find(magic)
        while i >= 0:
            at = pos - len(tail) + i
            # an uncompressed record starts a line
            if magic != WARC_MAGIC or at == 0 or _prev_byte(f, at) == b"\n":
                return at
            i = buf.find(magic, i + 1)
        tail = buf[-(len(magic) - 1):]
        pos += len(data)
        f.seek(pos)


def _prev_byte(f: IO[bytes], at: int) -> bytes:
    here = f.tell()
    f.seek(at - 1)
    b = f.read(1)
    f.seek(here)
    return b


def _split_status(line: str) -> tuple[str, str]:
    """fastwarc's `HTTP/1.1 200 OK` / `GET /path HTTP/1.1` → warcio's (statusline, protocol):
    (`200 OK`, `HTTP/1.1`) / (`/path HTTP/1.1`, `GET`)."""
    proto, _, rest = (line or "").partition(" ")
    return rest, proto


def _from_fastwarc(raw, uri: str) -> Record:
    headers = Headers(raw.headers.to_tuples(), "", raw.headers.status_line or "")
    status = ctype = charset = None
    http_headers = Headers()
    if raw.is_http and raw.http_headers is not None:
        http_headers = Headers(raw.http_headers.to_tuples(),
                               *_split_status(raw.http_headers.status_line))
        status = raw.http_headers.status_code
        ctype, charset = raw.http_content_type, raw.http_charset
    elif str(raw.record_type) in ("conversion", "resource"):
        ctype = headers.get("Content-Type")
    try:
        date = raw.record_date  # None when WARC-Date does not parse
    except Exception:  # noqa: BLE001 - a malformed WARC-Date is not worth dropping a record
        date = None
    return Record(
        record_type=str(raw.record_type),
        url=headers.get("WARC-Target-URI"),
        headers=headers,
        warc_filename=uri,
        offset=raw.stream_pos,
        http_status=status,
        http_headers=http_headers,
        http_content_type=ctype,
        http_charset=charset,
        date=date,
        _read=raw.reader.read,
    )


def _iter_arc(
    f: IO[bytes], uri: str, types: set[str], counters: Counters, on_error: ErrorHook | None
) -> Iterator[Record]:
    """ARC through warcio (as WARC records, `arc2warc`); offsets and lengths from warcio. A
    failure ends the file (ARC has no record magic to resynchronise on) and is counted."""
    from warcio.archiveiterator import ArchiveIterator

    it = ArchiveIterator(f, arc2warc=True)
    offset = 0
    try:
        for raw in it:
            rtype = raw.rec_type
            # read before asking the iterator for the offset, which moves the stream
            payload = raw.content_stream().read()
            offset, length = it.get_record_offset(), it.get_record_length()
            if rtype not in types:
                continue
            counters["records_read"] += 1
            yield _from_warcio(raw, uri, payload, offset, length)
            offset += length or 0
    except Exception as exc:  # noqa: BLE001 - warcio raises assorted types on bad input
        counters["errors.corrupt_record"] += 1
        if on_error is not None:
            on_error(offset, "corrupt_record")
        log.warning("%s: corrupt ARC record (%s); rest of file skipped", uri, exc)


def _from_warcio(raw, uri: str, payload: bytes, offset: int | None, length: int | None,
                 fmt: str = "arc") -> Record:
    http_headers, status, ctype, charset = Headers(), None, None, None
    if raw.http_headers is not None:
        http_headers = Headers(raw.http_headers.headers, raw.http_headers.statusline,
                               raw.http_headers.protocol)
        code = raw.http_headers.get_statuscode()
        status = int(code) if code and code.isdigit() else None
        ctype = raw.http_headers.get_header("Content-Type")
        if ctype and "charset=" in ctype.lower():
            charset = ctype.lower().split("charset=", 1)[1].split(";")[0].strip() or None
    return Record(
        record_type=raw.rec_type,
        url=raw.rec_headers.get_header("WARC-Target-URI"),
        headers=Headers(raw.rec_headers.headers, "", raw.rec_headers.protocol),
        warc_filename=uri,
        offset=offset,
        http_status=status,
        http_headers=http_headers,
        http_content_type=ctype,
        http_charset=charset,
        date=parse_warc_date(raw.rec_headers.get_header("WARC-Date")),
        format=fmt,
        length=length,
        _payload=payload,
    )


def parse_warc_date(value: str | None):
    """A WARC-Date (ISO 8601, `Z` or an offset) as an aware UTC datetime; None when absent or
    unparseable (real archives hold both)."""
    from datetime import datetime, timezone

    if not value:
        return None
    try:
        d = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (d if d.tzinfo else d.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def read_record_bytes(data: bytes, uri: str = "<bytes>") -> Record:
    """Parses exactly one record from its bytes (a byte-range fetch), WARC or ARC; payload
    read eagerly."""
    import io

    from fastwarc.warc import ArchiveIterator

    head = _gunzip_prefix(data[:4096]) if data[:3] == GZIP_MAGIC else data[:64]
    if not head.lstrip().startswith(WARC_MAGIC):
        from warcio.archiveiterator import ArchiveIterator as WarcioIterator

        try:
            for raw in WarcioIterator(io.BytesIO(data), arc2warc=True):
                if raw.rec_type == "warcinfo":  # an ARC file's own header
                    continue
                return _from_warcio(raw, uri, raw.content_stream().read(), None, len(data))
        except Exception as exc:  # noqa: BLE001 - warcio raises assorted types
            raise OSError(f"not a WARC or ARC record: {exc}") from exc
        raise OSError("no record in the byte range")
    for raw in ArchiveIterator(io.BytesIO(data), parse_http=True):
        rec = _from_fastwarc(raw, uri)
        rec._payload, rec._read = raw.reader.read(), None
        return rec
    raise OSError("no WARC record in the byte range")
