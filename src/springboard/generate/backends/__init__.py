"""The generation backends behind an Engine, one interface (Backend) for all of them:

- `static.TransformersStatic`: transformers' own `generate()`, a pass at a time (every feature
  but per-row adapters and grammars; the only one for encoder-decoder models);
- `scheduler.Scheduler` (generate/scheduler.py): transformers with continuous batching;
- `LlamaCppBackend` (generate/llamacpp_batch.py): llama.cpp's continuous batching.

Each declares what it runs (Capabilities: the decoding.FEATURES it covers, whether it runs
encoder-decoder models, whether its rows join a running batch); the engine routes a request to
the first backend, in its order of preference, whose capabilities cover what the request needs
(decoding.needs) and which takes it now (`takes`: its own load policy). A new backend (vLLM, say)
is one more implementation of the protocol."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from springboard.generate.engine import GenerationRequest
    from springboard.generate.stream import TextStream


@dataclass(frozen=True)
class Capabilities:
    name: str
    features: frozenset[str]  # the decoding.FEATURES it runs
    seq2seq: bool = False  # runs encoder-decoder models
    rows: bool = True  # rows join a running batch (continuous); else it runs whole passes

    def covers(self, wanted: Iterable[str], seq2seq: bool) -> bool:
        return (self.seq2seq or not seq2seq) and set(wanted) <= self.features

    def lacks(self, wanted: Iterable[str]) -> list[str]:
        return sorted(set(wanted) - self.features)


@runtime_checkable
class Backend(Protocol):
    """What every backend offers: its capabilities, whether it takes these requests now, and
    `submit(stream)`, which runs one row (a TextStream) and feeds it token by token
    (TextStream.advance, ending with TextStream.end)."""

    capabilities: Capabilities

    def takes(self, requests: Sequence[GenerationRequest]) -> bool: ...

    def submit(self, stream: TextStream) -> None: ...

    def close(self) -> None: ...
