import random

import pytest
from fsspec.implementations.memory import MemoryFileSystem

from springboard.crawl.fetch import (
    FetchError,
    RecordRef,
    RetryPolicy,
    fetch_range,
    fetch_record,
    fetch_records,
    is_retryable,
)
from springboard.crawl.record import Counters


class SlowDown(OSError):
    """What s3fs/aiohttp surface for an S3 503 SlowDown."""

    def __init__(self) -> None:
        super().__init__("503 SlowDown: Please reduce your request rate.")
        self.status = 503


class FlakyFS(MemoryFileSystem):
    """An in-memory file system whose reads are throttled `failures` times, then succeed."""

    protocol = "flaky"

    def __init__(self, failures: int, error: type[Exception] = SlowDown, **kw) -> None:
        super().__init__(**kw)
        self.failures, self.error, self.calls = failures, error, 0

    def cat_file(self, path, start=None, end=None, **kw):
        self.calls += 1
        if self.failures > 0:
            self.failures -= 1
            raise self.error()
        return super().cat_file(path, start=start, end=end, **kw)


@pytest.fixture
def flaky(cc_sample):
    def make(failures, error=SlowDown):
        fs = FlakyFS(failures, error, skip_instance_cache=True)
        fs.store.clear()
        fs.pipe_file("/cc/sample.warc.gz", cc_sample.read_bytes())
        return fs
    return make


def test_local_byte_range_record(cc_sample):
    rec = fetch_record(str(cc_sample), 940, 10905)
    assert rec.url == "http://003338.cn/l41/481397.html" and rec.http_status == 200
    assert len(rec.payload) == 36331


def test_retries_throttling_then_succeeds(flaky):
    fs = flaky(3)
    sleeps, counters = [], Counters()
    policy = RetryPolicy(max_attempts=5, base_delay=1.0, max_delay=3.0)
    rec = fetch_record("/cc/sample.warc.gz", 940, 10905, fs=fs, policy=policy,
                       sleep=sleeps.append, rng=random.Random(0), counters=counters)
    assert rec.url == "http://003338.cn/l41/481397.html"
    assert fs.calls == 4 and counters["fetch.retries"] == 3 and len(sleeps) == 3
    # full jitter inside an exponentially growing, capped window: [0,1], [0,2], [0,3]
    for wait, cap in zip(sleeps, (1.0, 2.0, 3.0)):
        assert 0.0 <= wait <= cap


def test_gives_up_after_bound(flaky):
    fs = flaky(100)
    sleeps, counters = [], Counters()
    with pytest.raises(FetchError, match="gave up after 4 attempts"):
        fetch_range("/cc/sample.warc.gz", 940, 10905, fs=fs, policy=RetryPolicy(max_attempts=4),
                    sleep=sleeps.append, counters=counters)
    assert fs.calls == 4 and len(sleeps) == 3 and counters["fetch.gave_up"] == 1


def test_timeouts_are_retried_but_missing_files_are_not(flaky):
    fs = flaky(2, TimeoutError)
    data = fetch_range("/cc/sample.warc.gz", 0, 10, fs=fs, sleep=lambda s: None)
    assert len(data) == 10 and fs.calls == 3
    fs = flaky(0)
    with pytest.raises(FetchError):
        fetch_range("/cc/nope.warc.gz", 0, 10, fs=fs, sleep=lambda s: None)
    assert fs.calls == 1


def test_is_retryable_classification():
    class ClientError(Exception):
        def __init__(self, code, status):
            super().__init__(code)
            self.response = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}

    assert is_retryable(ClientError("SlowDown", 503))
    assert not is_retryable(ClientError("AccessDenied", 403))
    wrapped = OSError("read failed")
    wrapped.__cause__ = ConnectionResetError()
    assert is_retryable(wrapped)
    assert not is_retryable(ValueError("bad offset"))


def test_fetch_records_merges_nearby_ranges(cc_sample, flaky):
    from springboard.crawl.index_build import index_rows

    rows = list(index_rows(str(cc_sample), detect_languages=False))
    refs = [RecordRef("/cc/sample.warc.gz", r["warc_record_offset"], r["warc_record_length"])
            for r in rows]
    fs = flaky(0)
    got = list(fetch_records(reversed(refs), fs=fs))
    assert [rec.url for _, rec in got] == [r["url"] for r in rows]  # sorted by offset
    assert fs.calls < len(refs)  # gaps of a request+metadata record get merged


def test_merged_requests_are_capped(cc_sample, flaky):
    """Memory holds one request: merging stops at `max_bytes`, whatever the record list."""
    from springboard.crawl.index_build import index_rows

    rows = list(index_rows(str(cc_sample), detect_languages=False))
    refs = [RecordRef("/cc/sample.warc.gz", r["warc_record_offset"], r["warc_record_length"])
            for r in rows]
    sizes = []

    class Recording(type(flaky(0))):
        def cat_file(self, path, start=None, end=None, **kw):
            sizes.append(end - start)
            return super().cat_file(path, start=start, end=end, **kw)

    fs = Recording(0)
    fs.pipe("/cc/sample.warc.gz", cc_sample.read_bytes())
    cap = 40_000
    got = list(fetch_records(refs, fs=fs, max_bytes=cap))
    assert [rec.url for _, rec in got] == [r["url"] for r in rows]
    biggest = max(r["warc_record_length"] for r in rows)
    assert max(sizes) <= max(cap, biggest) and len(sizes) > 1
    sizes.clear()
    list(fetch_records(refs, fs=fs))  # the default cap (16 MiB) merges this small file to one
    assert len(sizes) == 1
