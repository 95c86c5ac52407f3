"""Streaming one generation token by token (TGI / OpenAI streaming payloads).

A TextStream is fed either by its own thread running `model.generate` (seq2seq models, engines
without a scheduler) or by the engine's continuous-batching Scheduler, which decodes the row
itself and hands over finished StreamEvents."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from springboard.generate.logprobs import StepLogits, TokenLogprob, from_logprob_rows
from springboard.generate.params import GenerationParams
from springboard.generate.stopping import FinishCause, FinishReason, held_back, reason_of, trim_at_stop

if TYPE_CHECKING:
    from springboard.generate.engine import Engine

_END = object()
_END_LOCK = threading.Lock()


@dataclass
class StreamEvent:
    """One generated token and the text it made final (often all of its own text; empty while
    it may be the start of a stop sequence or half a UTF-8 character). `token` is None for the
    last flush of held-back text."""

    text: str
    token: TokenLogprob | None


class RowDecoder:
    """One row's generated tokens → final text: it ends at eos (not part of the text), at a stop
    sequence (cut before it) or at the token limit; text that may begin a stop sequence, or half
    a UTF-8 character, is held back until it is decided."""

    def __init__(self, tokenizer: Any, params: GenerationParams, eos: set[int], limit: int) -> None:
        self.tokenizer, self.params, self.eos, self.limit = tokenizer, params, eos, limit
        self.ids: list[int] = []  # text tokens (eos excluded)
        self.tokens: list[TokenLogprob] = []  # every generated token, eos included
        self.cause: FinishCause | None = None
        self._text = ""
        self._emitted = 0

    @property
    def count(self) -> int:
        return len(self.tokens)

    @property
    def done(self) -> bool:
        return self.cause is not None

    @property
    def text(self) -> str:
        return self._text[: self._emitted]

    def push(self, token: TokenLogprob) -> str:
        """Takes the next generated token; returns the text that became final."""
        self.tokens.append(token)
        if token.id in self.eos:
            self.cause = "eos_token"
            return self.flush()
        self.ids.append(token.id)
        decoded = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        text, hit = trim_at_stop(decoded, self.params.stop)
        if hit:
            self._text, self.cause = text, "stop_sequence"
            return self.flush()
        if not decoded.endswith("\ufffd"):
            self._text = decoded
        if self.count >= self.limit:
            self.cause = "length"
            return self.flush()
        return self._release(len(self._text) - held_back(self._text, self.params.stop))

    def flush(self) -> str:
        return self._release(len(self._text))

    def _release(self, end: int) -> str:
        if end <= self._emitted:
            return ""
        piece = self._text[self._emitted : end]
        self._emitted = end
        return piece


class TextStream(Iterator[str]):
    """Streams one generation. Iterating yields non-empty text deltas; `events()` yields one
    StreamEvent per token (id, text, logprob when params.logprobs is set). Stop sequences are
    held back until it is clear they are not the start of one, and never emitted.

    `feed`, when given, is a scheduler's submit function: it takes the stream and generates for
    it; otherwise the stream runs `model.generate` on its own thread. `on_end` is called (on the
    generating thread) once the row is finished, failed or cancelled."""

    def __init__(self, engine: Engine, prompt: str, ids: list[int], params: GenerationParams, limit: int,
                 prompt_logprobs: list[TokenLogprob] | None = None,
                 feed: Callable[[TextStream], None] | None = None,
                 on_end: Callable[[TextStream], None] | None = None) -> None:
        self.prompt = prompt
        self.prompt_ids = ids
        self.prompt_tokens = len(ids)
        self.prompt_logprobs = prompt_logprobs
        self.params, self.limit = params, limit
        self.error: BaseException | None = None
        self.decoder = RowDecoder(engine.tokenizer, params, engine._eos_ids(), limit)
        self.on_end = on_end
        self._engine = engine
        self._cancelled = threading.Event()
        self._queue: queue.Queue[Any] = queue.Queue()
        self._ended = False
        self._done = False
        self._thread: threading.Thread | None = None
        if feed is not None:
            feed(self)
        else:
            self._thread = threading.Thread(target=self._run, args=(ids,), daemon=True)
            self._thread.start()

    # -- what the generating side calls -----------------------------------------------------------

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def deliver(self, event: StreamEvent) -> None:
        self._queue.put(event)

    def end(self, error: BaseException | None = None) -> None:
        """Ends the stream (with `error`: it failed); a second call does nothing."""
        with _END_LOCK:
            if self._ended:
                return
            self._ended = True
        if error is not None and self.error is None:
            self.error = error
        self._queue.put(_END)
        if self.on_end is not None:
            self.on_end(self)

    def _run(self, ids: list[int]) -> None:
        import torch
        from transformers import StoppingCriteria
        from transformers.generation.streamers import BaseStreamer

        engine, params, out = self._engine, self.params, self._queue
        cancelled = self._cancelled
        capture = StepLogits(engine.model) if params.logprobs is not None else None

        class _Cancel(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                flag = cancelled.is_set()
                return torch.full((input_ids.shape[0],), flag, dtype=torch.bool, device=input_ids.device)

        class _Tokens(BaseStreamer):
            first = True

            def put(self, value: Any) -> None:
                if self.first:  # the prompt (or the decoder's start token)
                    self.first = False
                    return
                for token in value.reshape(-1).tolist():
                    out.put((token, capture.latest if capture is not None else None))

            def end(self) -> None:
                pass

        error: BaseException | None = None
        try:
            batch = {"input_ids": torch.tensor([ids], device=engine.device)}
            batch["attention_mask"] = torch.ones_like(batch["input_ids"])
            config = engine._generation_config(params, self.limit)
            start = 0 if engine.is_seq2seq else len(ids)
            criteria = engine._stopping(params, start, [_Cancel()])
            processors = engine._processors(params, start)
            with engine._lock, torch.inference_mode():
                if params.do_sample and params.seed is not None:
                    torch.manual_seed(params.seed)
                if capture is not None:
                    with capture:
                        engine.model.generate(**batch, generation_config=config, streamer=_Tokens(),
                                              stopping_criteria=criteria, logits_processor=processors)
                else:
                    engine.model.generate(**batch, generation_config=config, streamer=_Tokens(),
                                          stopping_criteria=criteria, logits_processor=processors)
        except BaseException as exc:  # surfaced to the consumer
            error = exc
        finally:
            self.end(error)

    # -- the consumer ----------------------------------------------------------------------------

    def events(self) -> Iterator[StreamEvent]:
        """One event per generated token, then (if any text was held back) a last flush."""
        while not self._done:
            item = self._queue.get()
            if item is _END:
                self._join()
                if self.error is not None:
                    raise self.error
                break
            if isinstance(item, StreamEvent):  # decoded by the scheduler
                yield item
                continue
            token_id, row = item
            if self.limit <= 0:  # max_length left no room after the prompt
                self._finish()
                break
            token = self._token(token_id, row)
            text = self.decoder.push(token)
            if self.decoder.done:
                self._finish()
                yield StreamEvent(text, token)
                return
            yield StreamEvent(text, token)
        tail = self.decoder.flush()
        if tail:
            yield StreamEvent(tail, None)

    def _token(self, token_id: int, row: Any) -> TokenLogprob:
        vocab = self._engine.vocab
        if row is None:
            return vocab.token(token_id, None)
        return from_logprob_rows(vocab, row[None, :], [token_id], self.params.logprobs or 0)[0]

    def _finish(self) -> None:
        """Ends generation early (eos, stop sequence or limit seen here) and waits for the end."""
        self.cancel()
        while self._queue.get() is not _END:  # drain what was generated past the end
            pass
        self._join()
        if self.error is not None:
            raise self.error

    def _join(self) -> None:
        self._done = True
        if self._thread is not None:
            self._thread.join()

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
