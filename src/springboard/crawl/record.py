"""The record a job's `process_record` receives, and the counters every step keeps.

`Record` is one web-archive record (WARC, WET or ARC) seen through one small interface, so a
user's extractor does not care which reader produced it; its payload is read on first use
because most records (requests, metadata) are skipped unread."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable


@dataclass
class Record:
    """One archive record.

    `record_type` is the WARC type name (`response`, `conversion`, `metadata`, ...; ARC records
    appear as `response`). `headers` are the WARC headers, `http_headers` the HTTP response
    headers (empty for WET/metadata). `payload` is the body after the HTTP headers: HTML bytes
    for a response, plain text bytes for a WET conversion record."""

    record_type: str
    url: str | None
    headers: dict[str, str]
    warc_filename: str
    offset: int | None = None
    http_status: int | None = None
    http_headers: dict[str, str] = field(default_factory=dict)
    http_content_type: str | None = None
    http_charset: str | None = None
    date: datetime | None = None
    _read: Callable[[], bytes] | None = field(default=None, repr=False)
    _payload: bytes | None = field(default=None, repr=False)

    @property
    def payload(self) -> bytes:
        if self._payload is None:
            self._payload = self._read() if self._read is not None else b""
            self._read = None
        return self._payload

    @property
    def record_id(self) -> str | None:
        return self.headers.get("WARC-Record-ID")

    @property
    def is_html(self) -> bool:
        ctype = (self.http_content_type or "").lower()
        return "html" in ctype or (not ctype and self.payload[:512].lstrip()[:1] == b"<")

    @property
    def identified_language(self) -> str | None:
        """WET conversion records carry the crawler's language guess (ISO-639-3, primary
        first, comma-separated)."""
        return self.headers.get("WARC-Identified-Content-Language")

    def text(self) -> str:
        """The payload decoded with the HTTP charset, else detected (resiliparse)."""
        from springboard.crawl.extract import decode

        return decode(self.payload, self.http_charset)


class Counters(Counter):
    """Named integer counters (`records_read`, `dropped.gopher_quality.gopher_short_doc`, ...).
    Plain `Counter` so they merge with `+` across processes and Spark partitions."""

    def as_metrics(self) -> dict[str, float]:
        return {k: float(v) for k, v in sorted(self.items())}

    def summary(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in sorted(self.items()))


Row = dict[str, Any]
