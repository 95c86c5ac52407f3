"""serve/stats.py: an endpoint's recent requests summarised (what Studio's endpoint page shows)."""

from __future__ import annotations

from springboard.serve.stats import RecentRequests


def test_summary_keeps_the_last_requests_and_counts_all():
    stats = RecentRequests(keep=3)
    assert stats.summary() == {"requests": 0, "recent": [], "median_latency_ms": None, "tokens_per_second": None}
    for seconds, tokens in ((9.0, 1), (0.5, 10), (1.0, 20), (0.25, 5)):
        stats.add(seconds, tokens, streamed=False)
    summary = stats.summary()
    assert summary["requests"] == 4
    assert [r["tokens"] for r in summary["recent"]] == [10, 20, 5]  # the oldest dropped, newest last
    assert summary["median_latency_ms"] == 500.0
    assert summary["tokens_per_second"] == round(35 / 1.75, 2)


def test_a_stream_counts_once_it_ends_normally():
    class Stream:
        generated_tokens = 4

    stats = RecentRequests()
    events = stats.timed(iter(["a", "b"]), Stream(), started=0.0)
    assert next(events) == "a" and stats.summary()["requests"] == 0
    assert list(events) == ["b"]
    summary = stats.summary()
    assert summary["requests"] == 1 and summary["recent"][0]["tokens"] == 4 and summary["recent"][0]["streamed"]
