"""Streaming one generation as text deltas (TGI / OpenAI streaming payloads)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from springboard.generate.params import GenerationParams
from springboard.generate.stopping import FinishCause, FinishReason, held_back, reason_of, trim_at_stop

if TYPE_CHECKING:
    from springboard.generate.engine import Engine


class TextStream(Iterator[str]):
    """Streams one generation. Iterating yields text deltas; the stop sequences are held back
    until it is clear they are not the start of a stop string, and never emitted."""

    def __init__(self, engine: Engine, prompt: str, ids: list[int], params: GenerationParams, limit: int) -> None:
        from transformers import TextIteratorStreamer

        self.prompt = prompt
        self.prompt_tokens = len(ids)
        self.generated_tokens = 0
        self.finish_reason: FinishReason = "length"
        self.finish_cause: FinishCause = "length"
        self.error: BaseException | None = None
        self._engine, self._params, self._limit = engine, params, limit
        self._cancelled = threading.Event()
        self._streamer = TextIteratorStreamer(engine.tokenizer, skip_prompt=True, skip_special_tokens=True)
        self._text = ""
        self._emitted = 0
        self._done = False
        self._pending: list[str] = []
        self._thread = threading.Thread(target=self._run, args=(ids,), daemon=True)
        self._thread.start()

    def _run(self, ids: list[int]) -> None:
        import torch
        from transformers import StoppingCriteria

        engine, params = self._engine, self._params
        cancelled = self._cancelled

        class _Cancel(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                flag = cancelled.is_set()
                return torch.full((input_ids.shape[0],), flag, dtype=torch.bool, device=input_ids.device)

        try:
            batch = {"input_ids": torch.tensor([ids], device=engine.device)}
            batch["attention_mask"] = torch.ones_like(batch["input_ids"])
            config = engine._generation_config(params, self._limit)
            start = 0 if engine.is_seq2seq else len(ids)
            kwargs: dict[str, Any] = {"stopping_criteria": engine._stopping(params, start, [_Cancel()])}
            with engine._lock, torch.inference_mode():
                if params.do_sample and params.seed is not None:
                    torch.manual_seed(params.seed)
                out = engine.model.generate(
                    **batch, generation_config=config, streamer=self._streamer, **kwargs
                )
            row = out[0] if engine.is_seq2seq else out[0, len(ids) :]
            _, self.generated_tokens, cause = engine._finish(row, self._limit, params)
            if self.finish_cause != "stop_sequence":  # a stop seen by the consumer stays so
                self.finish_cause, self.finish_reason = cause, reason_of(cause)
        except BaseException as exc:  # surfaced to the consumer by __next__
            self.error = exc
            self._streamer.on_finalized_text("", stream_end=True)

    def __next__(self) -> str:
        while True:
            if self._pending:
                return self._pending.pop(0)
            if self._done:
                raise StopIteration
            try:
                piece = next(self._streamer)
            except StopIteration:
                self._done = True
                self._thread.join()
                if self.error is not None:
                    raise self.error
                tail, _ = trim_at_stop(self._text, self._params.stop)
                self._queue(tail)
                continue
            self._text += piece
            text, hit = trim_at_stop(self._text, self._params.stop)
            if hit:
                self._queue(text)
                self._done = True
                self.finish_cause, self.finish_reason = "stop_sequence", "stop"
                self.cancel()
                self._thread.join()
                continue
            self._queue(self._text[: len(self._text) - held_back(self._text, self._params.stop)])

    def _queue(self, text: str) -> None:
        if len(text) > self._emitted:
            self._pending.append(text[self._emitted :])
            self._emitted = len(text)

    @property
    def text(self) -> str:
        return self._text[: self._emitted]

    def cancel(self) -> None:
        self._cancelled.set()

    close = cancel
