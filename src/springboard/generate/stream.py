"""Streaming one generation token by token (TGI / OpenAI streaming payloads).

A TextStream is one row. The backend that runs it (generate/backends) chooses its tokens and
hands each to `advance`, which decodes it (decoding.RowDecoder: the one place a row ends) and
queues a StreamEvent for the consumer; `end` finishes the row (cancelled, failed, or out of
tokens). The consumer iterates text deltas or events."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from springboard.generate.decoding import RowDecoder
from springboard.generate.logprobs import TokenLogprob
from springboard.generate.params import GenerationParams
from springboard.generate.stopping import FinishCause, FinishReason, reason_of

_END = object()
_END_LOCK = threading.Lock()


@dataclass
class StreamEvent:
    """One generated token and the text it made final (often all of its own text; empty while
    it may be the start of a stop sequence or half a UTF-8 character). `token` is None for the
    last flush of held-back text."""

    text: str
    token: TokenLogprob | None


class TextStream(Iterator[str]):
    """Streams one generation. Iterating yields non-empty text deltas; `events()` yields one
    StreamEvent per token (id, text, logprob when params.logprobs is set). Stop sequences are
    held back until it is clear they are not the start of one, and never emitted.

    `feed` is the submit function of the backend that runs the row: it takes the stream and
    generates for it. `on_end` is called (on the generating thread) once the row is finished,
    failed or cancelled."""

    def __init__(self, decoder: RowDecoder, prompt: str, ids: list[int],
                 feed: Callable[[TextStream], None],
                 prompt_logprobs: list[TokenLogprob] | None = None,
                 on_end: Callable[[TextStream], None] | None = None) -> None:
        self.prompt = prompt
        self.prompt_ids = ids
        self.prompt_tokens = len(ids)
        self.prompt_logprobs = prompt_logprobs
        self.decoder = decoder
        self.params: GenerationParams = decoder.params
        self.limit = decoder.limit
        self.error: BaseException | None = None
        self.on_end = on_end
        self._cancelled = threading.Event()
        self._queue: queue.Queue[Any] = queue.Queue()
        self._ended = False
        feed(self)

    # -- what the generating side calls -----------------------------------------------------------

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    @property
    def ended(self) -> bool:
        return self._ended

    def advance(self, token: TokenLogprob) -> bool:
        """Takes the row's next token; True once the row has ended (and the stream with it):
        the decoder saw eos, a stop sequence or the limit, or the consumer cancelled."""
        if self._ended:
            return True
        self._queue.put(StreamEvent(self.decoder.push(token), token))
        if self.decoder.done or self.cancelled:
            self.end()
            return True
        return False

    def end(self, error: BaseException | None = None) -> None:
        """Ends the stream (with `error`: it failed); a second call does nothing."""
        with _END_LOCK:
            if self._ended:
                return
            self._ended = True
        if error is not None and self.error is None:
            self.error = error
        tail = self.decoder.close(self.cancelled)
        if tail:
            self._queue.put(StreamEvent(tail, None))
        self._queue.put(_END)
        if self.on_end is not None:
            self.on_end(self)

    # -- the consumer ----------------------------------------------------------------------------

    def events(self) -> Iterator[StreamEvent]:
        """One event per generated token, then (if any text was held back) a last flush."""
        while True:
            item = self._queue.get()
            if item is _END:
                if self.error is not None:
                    raise self.error
                return
            yield item

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if not hasattr(self, "_text_events"):
            self._text_events = (e.text for e in self.events() if e.text)
        return next(self._text_events)

    @property
    def text(self) -> str:
        return self.decoder.text

    @property
    def tokens(self) -> list[TokenLogprob]:
        return self.decoder.tokens

    @property
    def generated_tokens(self) -> int:
        return self.decoder.count

    @property
    def finish_cause(self) -> FinishCause:
        return self.decoder.cause or "length"

    @property
    def finish_reason(self) -> FinishReason:
        return reason_of(self.finish_cause)

    def cancel(self) -> None:
        self._cancelled.set()

    def abort(self, error: BaseException) -> None:
        """Stops generating at the next token; the consumer then raises `error` (say, the
        endpoint serving it was deleted) instead of ending as if the text were complete."""
        self.error = error
        self._cancelled.set()

    close = cancel
