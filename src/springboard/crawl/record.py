"""The record a job's `process_record` receives, and the counters every step keeps.

`Record` is one web-archive record (WARC, WET or ARC) seen through one small interface, so a
user's extractor does not care which reader produced it; its payload is read on first use
because most records (requests, metadata) are skipped unread.

It also speaks warcio's record API (`rec_type`, `rec_headers.get_header(...)`, `http_headers`,
`content_stream().read()`, `content_type`), which is how cc-pyspark users write
`process_record`, so their code runs unchanged."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable, Iterator


class Headers(MutableMapping):
    """An ordered list of header (name, value) pairs, looked up case-insensitively, as both a
    mapping (`headers.get("Server")`, `"Server" in headers`) and warcio's `StatusAndHeaders`
    (`get_header`, `get_all`, `headers` as the list of pairs, `statusline`, `protocol`,
    `get_statuscode()`). Repeated headers (two `Server` lines) are kept."""

    def __init__(self, pairs: Iterable[tuple[str, str]] = (), statusline: str = "",
                 protocol: str = "") -> None:
        self.headers: list[tuple[str, str]] = [(str(k), str(v)) for k, v in pairs]
        self.statusline = statusline
        self.protocol = protocol

    # -- warcio's StatusAndHeaders ----------------------------------------------------------
    def get_header(self, name: str, default_value: str | None = None) -> str | None:
        low = name.lower()
        for k, v in self.headers:
            if k.lower() == low:
                return v
        return default_value

    def get_all(self, name: str) -> list[str]:
        low = name.lower()
        return [v for k, v in self.headers if k.lower() == low]

    def replace_header(self, name: str, value: str) -> str | None:
        old = self.get_header(name)
        self.remove_header(name)
        self.headers.append((name, str(value)))
        return old

    def add_header(self, name: str, value: str) -> None:
        self.headers.append((name, str(value)))

    def remove_header(self, name: str) -> bool:
        low = name.lower()
        before = len(self.headers)
        self.headers = [(k, v) for k, v in self.headers if k.lower() != low]
        return len(self.headers) != before

    def get_statuscode(self) -> str:
        return self.statusline.split(" ", 1)[0] if self.statusline else ""

    # -- mapping ------------------------------------------------------------------------------
    def __getitem__(self, name: str) -> str:
        value = self.get_header(name)
        if value is None:
            raise KeyError(name)
        return value

    def __setitem__(self, name: str, value: str) -> None:
        self.replace_header(name, value)

    def __delitem__(self, name: str) -> None:
        if not self.remove_header(name):
            raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get_header(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(k for k, _ in self.headers))

    def __len__(self) -> int:
        return len(dict.fromkeys(k.lower() for k, _ in self.headers))

    def __bool__(self) -> bool:
        return bool(self.statusline or self.headers)

    def __repr__(self) -> str:
        return f"Headers({self.statusline!r}, {self.headers!r})"

    def to_dict(self) -> dict[str, str]:
        return {k: v for k, v in self.headers}


def _headers(value: Any) -> Headers:
    if isinstance(value, Headers):
        return value
    return Headers(value.items() if hasattr(value, "items") else value or ())


@dataclass
class Record:
    """One archive record.

    `record_type` is the WARC type name (`response`, `conversion`, `metadata`, ...; ARC records
    appear as `response`). `headers` are the WARC headers, `http_headers` the HTTP response
    headers (empty and falsy for WET/metadata); both are `Headers`. `payload` is the body after
    the HTTP headers: HTML bytes for a response, plain text bytes for a WET conversion record.
    `length` is the record's length in the file when the reader knows it (ARC), else None."""

    record_type: str
    url: str | None
    headers: Headers
    warc_filename: str
    offset: int | None = None
    http_status: int | None = None
    http_headers: Headers = field(default_factory=Headers)
    http_content_type: str | None = None
    http_charset: str | None = None
    date: datetime | None = None
    format: str = "warc"
    length: int | None = None
    _read: Callable[[], bytes] | None = field(default=None, repr=False)
    _payload: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.headers = _headers(self.headers)
        self.http_headers = _headers(self.http_headers)

    # -- warcio's record API (cc-pyspark's process_record) --------------------------------
    @property
    def rec_type(self) -> str:
        return self.record_type

    @property
    def rec_headers(self) -> Headers:
        return self.headers

    @property
    def content_type(self) -> str | None:
        """The WARC `Content-Type` (`text/plain` for WET text, `application/json` for WAT), as
        warcio's `record.content_type`."""
        return self.headers.get_header("Content-Type")

    def content_stream(self) -> io.BytesIO:
        return io.BytesIO(self.payload)

    @property
    def raw_stream(self) -> io.BytesIO:
        return io.BytesIO(self.payload)

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
        return decode(self.payload, self.http_charset)


def decode(payload: bytes, charset: str | None = None) -> str:
    """Bytes to text: the declared charset when Python knows it, else resiliparse's detector
    (which also reads `<meta charset>`); undecodable bytes are dropped, never fatal."""
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    enc = charset
    if enc:
        try:
            "".encode(enc)
        except LookupError:
            enc = None
    return bytes_to_str(payload, enc or detect_encoding(payload) or "utf-8")


class Counters(Counter):
    """Named integer counters (`records_read`, `dropped.gopher_quality.gopher_short_doc`, ...).
    Plain `Counter` so they merge with `+` across processes and Spark partitions."""

    def as_metrics(self) -> dict[str, float]:
        return {k: float(v) for k, v in sorted(self.items())}

    def summary(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in sorted(self.items()))


Row = dict[str, Any]
