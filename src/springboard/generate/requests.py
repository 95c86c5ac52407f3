"""What an Engine takes and gives: prompts, a GenerationRequest (prompts sharing params), a
GenerationResult per prompt, and ScheduledRequest: a request's rows running on a row backend."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

from springboard.generate.logprobs import TokenLogprob
from springboard.generate.params import GenerationParams
from springboard.generate.stopping import FinishCause, FinishReason, reason_of
from springboard.generate.stream import TextStream

Message = dict[str, str]
# A plain prompt, chat messages rendered by the template, or token ids taken as they are.
Prompt = Union[str, list[Message], list[int]]


def is_token_ids(prompt: Any) -> bool:
    return isinstance(prompt, list) and bool(prompt) and all(isinstance(t, int) and not isinstance(t, bool) for t in prompt)


@dataclass
class GenerationResult:
    """One prompt's outcome. `texts` holds num_return_sequences strings; `finish_reasons` and
    `token_counts` are per sequence, `finish_reason` is the first sequence's and
    `generated_tokens` the sum over sequences (what an OpenAI `usage` counts)."""

    prompt: str
    texts: list[str]
    prompt_tokens: int
    generated_tokens: int
    finish_reason: FinishReason
    finish_reasons: list[FinishReason] = field(default_factory=list)
    token_counts: list[int] = field(default_factory=list)
    finish_causes: list[FinishCause] = field(default_factory=list)
    # With params.logprobs set: each sequence's generated tokens (eos included), scored.
    tokens: list[list[TokenLogprob]] = field(default_factory=list)
    # With params.prompt_logprobs: the prompt's tokens, the first one unscored.
    prompt_logprobs: list[TokenLogprob] | None = None


@dataclass
class GenerationRequest:
    """Prompts that share one GenerationParams; the unit the engine (and a batcher) batches."""

    prompts: Sequence[Prompt]
    params: GenerationParams
    chat: bool = False
    # Set by a server when the client went away: a pass whose requests are all cancelled stops
    # at its next step (stopping.cancelled_class).
    cancelled: threading.Event | None = None


def result_of(prompt: str, prompt_ids: list[int], params: GenerationParams, rows: Sequence[Any]) -> GenerationResult:
    """A prompt's result from its rows (RowDecoders or TextStreams: text, count, cause, tokens)."""
    prefix = prompt if params.return_full_text else ""
    causes = [row.finish_cause for row in rows]
    return GenerationResult(
        prompt=prompt,
        texts=[prefix + row.text for row in rows],
        prompt_tokens=len(prompt_ids),
        generated_tokens=sum(row.generated_tokens for row in rows),
        finish_reason=reason_of(causes[0]),
        finish_reasons=[reason_of(c) for c in causes],
        token_counts=[row.generated_tokens for row in rows],
        finish_causes=causes,
        tokens=[list(row.tokens) for row in rows] if params.logprobs is not None else [],
    )


def row_params(params: GenerationParams) -> list[GenerationParams]:
    """The params of each row a prompt makes: several sampled sequences are rows of their own,
    seeded seed + j."""
    if params.num_return_sequences == 1:
        return [params]
    return [params.with_overrides(num_return_sequences=1, seed=None if params.seed is None else params.seed + j)
            for j in range(params.num_return_sequences)]


class ScheduledRequest:
    """A request whose rows (num_return_sequences per prompt) run on a row backend.
    `open_row(text, ids, limit, params, on_end)` makes and submits one row's TextStream."""

    def __init__(self, request: GenerationRequest, encoded: list[tuple[str, list[int]]], limits: list[int],
                 open_row: Callable[..., TextStream], on_done: Any = None) -> None:
        params = request.params
        self.request, self.encoded = request, encoded
        self._on_done = on_done
        self._left = len(encoded) * params.num_return_sequences
        self._lock = threading.Lock()
        self._event = threading.Event()
        self.streams: list[list[TextStream]] = []
        if self._left == 0:
            self._finished()
        for (text, ids), limit in zip(encoded, limits):
            self.streams.append([open_row(text, ids, limit, p, self._row_ended) for p in row_params(params)])

    def _row_ended(self, stream: Any) -> None:
        with self._lock:
            self._left -= 1
            last = self._left == 0
        if last:
            self._finished()

    def _finished(self) -> None:
        self._event.set()
        if self._on_done is not None:
            self._on_done(self)

    def cancel(self) -> None:
        for row in self.streams:
            for stream in row:
                stream.cancel()

    def done(self) -> bool:
        """Whether every row has ended (wait() returns at once)."""
        return self._event.is_set()

    def wait_done(self, timeout: float | None = None) -> bool:
        """Whether every row has ended, waiting at most `timeout` seconds for it."""
        return self._event.wait(timeout)

    def wait(self) -> list[GenerationResult]:
        """The results once every row ended; the request's `cancelled` event (its client went
        away) cancels the rows still running, as an abandoned stream's are."""
        cancelled = self.request.cancelled
        while not self._event.wait(None if cancelled is None else 0.05):
            if cancelled is not None and cancelled.is_set():
                self.cancel()
                cancelled = None
        return self.results()

    def results(self) -> list[GenerationResult]:
        out = []
        for (text, ids), streams in zip(self.encoded, self.streams):
            for stream in streams:
                if stream.error is not None:
                    raise stream.error
            out.append(result_of(text, ids, self.request.params, streams))
        return out
