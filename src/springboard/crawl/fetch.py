"""Fetching single records by (filename, offset, length) byte ranges, locally or from a remote
URI through fsspec, with bounded retries and exponential backoff with full jitter on throttling
(HTTP 503 / S3 `SlowDown` / 429) and timeouts. The public Common Crawl bucket answers 503
SlowDown under load; hammering it harder is what made the seed pipeline stall."""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from springboard import storage
from springboard.crawl.reader import read_record_bytes
from springboard.crawl.record import Counters, Record
from springboard.errors import SpringboardError

if TYPE_CHECKING:
    import fsspec

log = logging.getLogger("springboard.crawl")

DEFAULT_WARC_PREFIX = "https://data.commoncrawl.org/"
_THROTTLE_CODES = {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout",
                   "ServiceUnavailable", "TooManyRequests", "RequestLimitExceeded", "503", "429"}
_RETRY_STATUS = {429, 500, 502, 503, 504}
_THROTTLE_TEXT = ("slowdown", "slow down", "too many requests",
                  "reduce your request rate", "service unavailable", "timed out", "timeout")


class FetchError(SpringboardError):
    """A byte range that could not be fetched (not retryable, or retries exhausted)."""


@dataclass(frozen=True)
class RetryPolicy:
    """`max_attempts` includes the first try; the n-th retry waits a uniform random time in
    [0, min(max_delay, base_delay * 2**(n-1))] ("full jitter")."""

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, retry: int, rng: random.Random | None = None) -> float:
        cap = min(self.max_delay, self.base_delay * (2 ** (retry - 1)))
        return (rng or random).uniform(0.0, cap)


def is_retryable(exc: BaseException) -> bool:
    """Throttling (503, SlowDown, 429) and timeouts/connection drops, looked for along the
    exception's cause chain because fsspec backends wrap the original error."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, (TimeoutError, ConnectionError)):
            return True
        for attr in ("status", "status_code", "code"):
            val = getattr(e, attr, None)
            if isinstance(val, int) and val in _RETRY_STATUS:
                return True
        response = getattr(e, "response", None)
        if isinstance(response, dict):  # botocore ClientError
            code = str(response.get("Error", {}).get("Code", ""))
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in _THROTTLE_CODES or status in _RETRY_STATUS:
                return True
        if not isinstance(e, (FileNotFoundError, PermissionError)):
            text = str(e).lower()
            if any(t in text for t in _THROTTLE_TEXT):
                return True
        e = e.__cause__ or e.__context__
    return False


def resolve_uri(filename: str, prefix: str = DEFAULT_WARC_PREFIX) -> str:
    """Common Crawl's index names files relative to the bucket (`crawl-data/...`); local indexes
    built here hold absolute paths or URIs, which pass through."""
    if "://" in filename or filename.startswith("/"):
        return filename
    if filename.startswith("crawl-data/"):
        return prefix.rstrip("/") + "/" + filename
    return filename


def fetch_range(
    uri: str,
    offset: int,
    length: int,
    *,
    policy: RetryPolicy = RetryPolicy(),
    fs: fsspec.AbstractFileSystem | None = None,
    sleep: Callable[[float], Any] = time.sleep,
    rng: random.Random | None = None,
    counters: Counters | None = None,
) -> bytes:
    """Bytes [offset, offset+length) of `uri`, retried on throttling and timeouts."""
    if fs is None:
        try:
            fs, path = storage.filesystem(uri)
        except SpringboardError as exc:
            raise FetchError(f"{uri}: {exc}") from exc
    else:
        path = fs._strip_protocol(uri)
    for attempt in range(1, policy.max_attempts + 1):
        try:
            data = fs.cat_file(path, start=offset, end=offset + length)
        except Exception as exc:  # noqa: BLE001 - classified below
            if not is_retryable(exc):
                raise FetchError(f"{uri} bytes {offset}+{length}: {exc}") from exc
            if attempt == policy.max_attempts:
                if counters is not None:
                    counters["fetch.gave_up"] += 1
                raise FetchError(
                    f"{uri} bytes {offset}+{length}: gave up after {attempt} attempts: {exc}"
                ) from exc
            wait = policy.delay(attempt, rng)
            if counters is not None:
                counters["fetch.retries"] += 1
            log.warning("%s: %s; retry %d/%d in %.2fs", uri, exc, attempt,
                        policy.max_attempts - 1, wait)
            sleep(wait)
            continue
        if len(data) != length:
            raise FetchError(f"{uri} bytes {offset}+{length}: got {len(data)} bytes (file shorter?)")
        return data
    raise AssertionError("unreachable")


def fetch_record(uri: str, offset: int, length: int, **kwargs: Any) -> Record:
    """One record by byte range. Each Common Crawl record is its own gzip member, so the range
    decompresses alone."""
    data = fetch_range(uri, offset, length, **kwargs)
    try:
        return read_record_bytes(data, uri)
    except OSError as exc:
        raise FetchError(f"{uri} bytes {offset}+{length}: not a WARC record: {exc}") from exc


@dataclass(frozen=True)
class RecordRef:
    """A record's location, as a cc-index row gives it."""

    warc_filename: str
    warc_record_offset: int
    warc_record_length: int


MAX_MERGED_BYTES = 16 << 20


def fetch_records(
    refs: Iterable[RecordRef], *, max_gap: int = 64 << 10, max_bytes: int = MAX_MERGED_BYTES,
    **kwargs: Any,
) -> Iterator[tuple[RecordRef, Record]]:
    """Records of many refs, read file by file in offset order, merging ranges that lie within
    `max_gap` bytes of each other into one request (far fewer requests than one per record),
    as long as the merged request stays within `max_bytes` (memory holds one request; a single
    record larger than that is fetched alone)."""
    by_file: dict[str, list[RecordRef]] = {}
    for ref in refs:
        by_file.setdefault(ref.warc_filename, []).append(ref)
    for uri, group in by_file.items():
        group.sort(key=lambda r: r.warc_record_offset)
        i = 0
        while i < len(group):
            j, end = i, group[i].warc_record_offset + group[i].warc_record_length
            start = group[i].warc_record_offset
            while (j + 1 < len(group) and group[j + 1].warc_record_offset - end <= max_gap
                   and max(end, group[j + 1].warc_record_offset
                           + group[j + 1].warc_record_length) - start <= max_bytes):
                j += 1
                end = max(end, group[j].warc_record_offset + group[j].warc_record_length)
            start = group[i].warc_record_offset
            data = fetch_range(uri, start, end - start, **kwargs)
            for ref in group[i : j + 1]:
                lo = ref.warc_record_offset - start
                chunk = data[lo : lo + ref.warc_record_length]
                try:
                    yield ref, read_record_bytes(chunk, uri)
                except OSError as exc:
                    raise FetchError(
                        f"{uri} bytes {ref.warc_record_offset}+{ref.warc_record_length}: "
                        f"not a WARC record: {exc}"
                    ) from exc
            i = j + 1
