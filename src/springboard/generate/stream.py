"""Streaming one generation token by token (TGI / OpenAI streaming payloads)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from springboard.generate.logprobs import StepLogits, TokenLogprob, from_logprob_rows
from springboard.generate.params import GenerationParams
from springboard.generate.stopping import FinishCause, FinishReason, held_back, reason_of, trim_at_stop

if TYPE_CHECKING:
    from springboard.generate.engine import Engine

_END = object()


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
    held back until it is clear they are not the start of one, and never emitted."""

    def __init__(self, engine: Engine, prompt: str, ids: list[int], params: GenerationParams, limit: int,
                 prompt_logprobs: list[TokenLogprob] | None = None) -> None:
        self.prompt = prompt
        self.prompt_ids = ids
        self.prompt_tokens = len(ids)
        self.prompt_logprobs = prompt_logprobs
        self.generated_tokens = 0
        self.finish_reason: FinishReason = "length"
        self.finish_cause: FinishCause = "length"
        self.error: BaseException | None = None
        self.tokens: list[TokenLogprob] = []
        self._engine, self._params, self._limit = engine, params, limit
        self._eos = engine._eos_ids()
        self._cancelled = threading.Event()
        self._queue: queue.Queue[Any] = queue.Queue()
        self._ids: list[int] = []
        self._text = ""  # the decoded text so far, trimmed at a stop sequence
        self._emitted = 0
        self._done = False
        self._thread = threading.Thread(target=self._run, args=(ids,), daemon=True)
        self._thread.start()

    # -- the generating thread -----------------------------------------------------------------

    def _run(self, ids: list[int]) -> None:
        import torch
        from transformers import StoppingCriteria
        from transformers.generation.streamers import BaseStreamer

        engine, params, out = self._engine, self._params, self._queue
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

        try:
            batch = {"input_ids": torch.tensor([ids], device=engine.device)}
            batch["attention_mask"] = torch.ones_like(batch["input_ids"])
            config = engine._generation_config(params, self._limit)
            start = 0 if engine.is_seq2seq else len(ids)
            criteria = engine._stopping(params, start, [_Cancel()])
            with engine._lock, torch.inference_mode():
                if params.do_sample and params.seed is not None:
                    torch.manual_seed(params.seed)
                if capture is not None:
                    with capture:
                        engine.model.generate(**batch, generation_config=config, streamer=_Tokens(),
                                              stopping_criteria=criteria)
                else:
                    engine.model.generate(**batch, generation_config=config, streamer=_Tokens(),
                                          stopping_criteria=criteria)
        except BaseException as exc:  # surfaced to the consumer
            self.error = exc
        finally:
            out.put(_END)

    # -- the consumer ----------------------------------------------------------------------------

    def events(self) -> Iterator[StreamEvent]:
        """One event per generated token, then (if any text was held back) a last flush."""
        while not self._done:
            item = self._queue.get()
            if item is _END:
                self._thread.join()
                self._done = True
                if self.error is not None:
                    raise self.error
                break
            token_id, row = item
            if self._limit <= 0:  # max_length left no room after the prompt
                self._finish()
                break
            token = self._token(token_id, row)
            self.tokens.append(token)
            self.generated_tokens += 1
            if token_id in self._eos:
                self.finish_cause = "eos_token"
                self._finish()
                yield StreamEvent(self._release(final=True), token)
                return
            self._ids.append(token_id)
            decoded = self._engine.tokenizer.decode(self._ids, skip_special_tokens=True)
            text, hit = trim_at_stop(decoded, self._params.stop)
            if hit:
                self._text = text
                self.finish_cause = "stop_sequence"
                self._finish()
                yield StreamEvent(self._release(final=True), token)
                return
            if not decoded.endswith("\ufffd"):  # half a UTF-8 character waits for the rest
                self._text = decoded
            if self.generated_tokens >= self._limit:
                self.finish_cause = "length"
                self._finish()
                yield StreamEvent(self._release(final=True), token)
                return
            yield StreamEvent(self._release(final=False), token)
        tail = self._release(final=True)
        self.finish_reason = reason_of(self.finish_cause)
        if tail:
            yield StreamEvent(tail, None)

    def _token(self, token_id: int, row: Any) -> TokenLogprob:
        vocab = self._engine.vocab
        if row is None:
            return vocab.token(token_id, None)
        return from_logprob_rows(vocab, row[None, :], [token_id], self._params.logprobs or 0)[0]

    def _release(self, final: bool) -> str:
        """The text that became final since the last call."""
        end = len(self._text) if final else len(self._text) - held_back(self._text, self._params.stop)
        if end <= self._emitted:
            return ""
        piece = self._text[self._emitted : end]
        self._emitted = end
        return piece

    def _finish(self) -> None:
        """Ends generation early (eos, stop sequence or limit seen here) and waits for the thread."""
        self.finish_reason = reason_of(self.finish_cause)
        self._done = True
        self.cancel()
        while self._queue.get() is not _END:  # drain what was generated past the end
            pass
        self._thread.join()
        if self.error is not None:
            raise self.error

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if not hasattr(self, "_text_events"):
            self._text_events = (e.text for e in self.events() if e.text)
        return next(self._text_events)

    @property
    def text(self) -> str:
        return self._text[: self._emitted]

    @property
    def logprob_sum(self) -> float:
        return sum(t.logprob or 0.0 for t in self.tokens)

    def cancel(self) -> None:
        self._cancelled.set()

    def abort(self, error: BaseException) -> None:
        """Stops generating at the next token; the consumer then raises `error` (say, the
        endpoint serving it was deleted) instead of ending as if the text were complete."""
        self.error = error
        self._cancelled.set()

    close = cancel
