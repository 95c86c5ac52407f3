"""Reading web archives: WARC and WET with fastwarc, legacy ARC with warcio (fastwarc reads
WARC only), gzip or uncompressed, from a local path or any fsspec URI.

A corrupt record does not end the file: the reader counts it, logs it, looks for the next
record start (the next gzip member, or the next `WARC/1.` line in an uncompressed file) and
goes on. Common Crawl writes one gzip member per record, which is what makes this work."""

from __future__ import annotations

import logging
import zlib
from typing import IO, Iterable, Iterator

import fsspec

from springboard.crawl.record import Counters, Record

log = logging.getLogger("springboard.crawl")

GZIP_MAGIC = b"\x1f\x8b\x08"
WARC_MAGIC = b"WARC/1."
ALL_TYPES = (
    "warcinfo", "response", "resource", "request", "metadata", "revisit", "conversion",
    "continuation",
)


def open_uri(uri: str, **storage_options) -> IO[bytes]:
    """A seekable binary file for a path or URI (`s3://`, `https://`, `file://`, ...)."""
    return fsspec.open(uri, "rb", **storage_options).open()


def iter_records(
    uri: str,
    record_types: Iterable[str] | None = ("response",),
    counters: Counters | None = None,
    fileobj: IO[bytes] | None = None,
) -> Iterator[Record]:
    """Yields the records of one archive file. `record_types=None` yields every type; WET
    files hold `conversion` records, ARC files `response` records."""
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
            yield from _iter_arc(f, uri, types, counters)
        else:
            yield from _iter_warc(f, uri, types, counters, GZIP_MAGIC if gz else WARC_MAGIC)
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
    f: IO[bytes], uri: str, types: set[str], counters: Counters, magic: bytes
) -> Iterator[Record]:
    from fastwarc.warc import ArchiveIterator

    mask = _type_mask(types)
    start, last_yielded = 0, -1
    while True:
        f.seek(start)
        # every record type passes through so that a resync knows how far it got
        it = ArchiveIterator(f, parse_http=True)
        try:
            for raw in it:
                last_yielded = raw.stream_pos
                if not (int(raw.record_type) & mask):
                    continue
                counters["records_read"] += 1
                yield _from_fastwarc(raw, uri)
            return
        except OSError as exc:
            counters["errors.corrupt_record"] += 1
            after = max(last_yielded, start) + 1
            nxt = _find_next(f, after, magic)
            log.warning("%s: corrupt record after offset %d (%s); %s", uri, max(last_yielded, start),
                        exc, f"resuming at {nxt}" if nxt is not None else "no further record")
            if nxt is None:
                return
            start, last_yielded = nxt, -1


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


def _from_fastwarc(raw, uri: str) -> Record:
    headers = dict(raw.headers.to_tuples())
    status = ctype = charset = None
    http_headers: dict[str, str] = {}
    if raw.is_http and raw.http_headers is not None:
        http_headers = dict(raw.http_headers.to_tuples())
        status = raw.http_headers.status_code
        ctype, charset = raw.http_content_type, raw.http_charset
    elif str(raw.record_type) in ("conversion", "resource"):
        ctype = headers.get("Content-Type")
    try:
        date = raw.record_date
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


def _iter_arc(f: IO[bytes], uri: str, types: set[str], counters: Counters) -> Iterator[Record]:
    from warcio.archiveiterator import ArchiveIterator

    it = ArchiveIterator(f, arc2warc=True)
    try:
        for raw in it:
            rtype = raw.rec_type
            if rtype not in types:
                continue
            counters["records_read"] += 1
            # read before asking the iterator for the offset, which moves the stream
            payload = raw.content_stream().read()
            headers = dict(raw.rec_headers.headers)
            http_headers, status, ctype, charset = {}, None, None, None
            if raw.http_headers is not None:
                http_headers = dict(raw.http_headers.headers)
                code = raw.http_headers.get_statuscode()
                status = int(code) if code and code.isdigit() else None
                ctype = raw.http_headers.get_header("Content-Type")
                if ctype and "charset=" in ctype.lower():
                    charset = ctype.lower().split("charset=", 1)[1].split(";")[0].strip() or None
            yield Record(
                record_type=rtype,
                url=raw.rec_headers.get_header("WARC-Target-URI"),
                headers=headers,
                warc_filename=uri,
                offset=it.get_record_offset(),
                http_status=status,
                http_headers=http_headers,
                http_content_type=ctype,
                http_charset=charset,
                _payload=payload,
            )
    except Exception as exc:  # noqa: BLE001 - warcio raises assorted types on bad input
        counters["errors.corrupt_record"] += 1
        log.warning("%s: corrupt ARC record (%s); rest of file skipped", uri, exc)


def read_record_bytes(data: bytes, uri: str = "<bytes>") -> Record:
    """Parses exactly one record from its bytes (a byte-range fetch); payload read eagerly."""
    import io

    from fastwarc.warc import ArchiveIterator

    for raw in ArchiveIterator(io.BytesIO(data), parse_http=True):
        rec = _from_fastwarc(raw, uri)
        rec._payload, rec._read = raw.reader.read(), None
        return rec
    raise OSError("no WARC record in the byte range")
