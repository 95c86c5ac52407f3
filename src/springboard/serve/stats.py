"""What an endpoint answered lately: per request its latency and generated tokens, so a person
(Studio's endpoint page, GET /springboard/endpoints/{name}) sees how fast it serves. Kept in
memory only: a restarted server, or an updated endpoint, starts counting again."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

KEEP = 20  # the recent requests kept (and summarised)


@dataclass(frozen=True)
class Served:
    at: float  # when it ended (epoch seconds)
    seconds: float  # request arrival to its last token
    tokens: int  # generated tokens, over every prompt and sequence of the request
    streamed: bool


class RecentRequests:
    """The last KEEP answered requests of one endpoint and a count of all of them. Failed or
    cancelled requests are not counted: they say nothing about speed."""

    def __init__(self, keep: int = KEEP) -> None:
        self._recent: deque[Served] = deque(maxlen=keep)
        self._total = 0
        self._lock = threading.Lock()  # streams end on their consumer's thread

    def add(self, seconds: float, tokens: int, streamed: bool) -> None:
        with self._lock:
            self._recent.append(Served(time.time(), seconds, tokens, streamed))
            self._total += 1

    def timed(self, events: Iterator[Any], stream: Any, started: float) -> Iterator[Any]:
        """`events` (a TextStream's) passed through; once they end normally the request counts."""
        yield from events
        self.add(time.monotonic() - started, stream.generated_tokens, streamed=True)

    def summary(self) -> dict[str, Any]:
        """{"requests": all answered, "recent": the last ones (newest last), "median_latency_ms",
        "tokens_per_second": generated tokens over the time spent on the recent ones}."""
        with self._lock:
            recent, total = list(self._recent), self._total
        out: dict[str, Any] = {"requests": total, "recent": [asdict(r) for r in recent],
                               "median_latency_ms": None, "tokens_per_second": None}
        if recent:
            latencies = sorted(r.seconds for r in recent)
            middle = len(latencies) // 2
            median = latencies[middle] if len(latencies) % 2 else (latencies[middle - 1] + latencies[middle]) / 2
            out["median_latency_ms"] = round(median * 1000, 1)
            spent = sum(r.seconds for r in recent)
            out["tokens_per_second"] = round(sum(r.tokens for r in recent) / spent, 2) if spent > 0 else None
        return out
