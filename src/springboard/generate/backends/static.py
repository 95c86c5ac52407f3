"""The transformers backend without a scheduler: transformers' own `generate()`, one pass per
call. It runs every feature but per-row adapters and grammars (beam search, several greedy
sequences, prompt log-probabilities, encoder-decoder models), and every request when an engine
runs no scheduler. `run` generates a batch of requests as one pass; `submit` streams one row on a
thread of its own."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from springboard.generate import decoding
from springboard.generate.backends import Capabilities
from springboard.generate.cpu import apart
from springboard.generate.logprobs import StepLogits, from_logprob_rows, score_causal, score_seq2seq
from springboard.generate.requests import GenerationResult, result_of

if TYPE_CHECKING:
    from springboard.generate.engine import Engine
    from springboard.generate.params import GenerationParams
    from springboard.generate.requests import GenerationRequest
    from springboard.generate.stream import TextStream

CAPABILITIES = Capabilities("transformers", decoding.FEATURES - {"adapters", "structured_output"},
                            seq2seq=True, rows=False)


class TransformersStatic:
    capabilities = CAPABILITIES

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def takes(self, requests: Sequence[GenerationRequest]) -> bool:
        return True

    def close(self) -> None:
        """Nothing to release: each pass and each streamed row ends with its own thread."""

    # -- a pass ----------------------------------------------------------------------------------

    def run(self, requests: Sequence[GenerationRequest]) -> list[list[GenerationResult]]:
        """Runs several requests as one forward pass. Their params must share a batch_key();
        length limits and return_full_text may differ and are honoured per row."""
        import torch

        engine = self.engine
        key = requests[0].params.batch_key()
        if any(r.params.batch_key() != key for r in requests):
            raise ValueError("requests in one batch must have batch-compatible params")
        rows = [(r, *engine.encode(p, r.chat, r.params.truncate)) for r in requests for p in r.prompts]
        if not rows:
            return [[] for _ in requests]
        limits = [engine.new_token_limit(req.params, len(ids)) for req, _, ids in rows]
        lead = requests[0].params
        batch = engine.tokenizer.pad({"input_ids": [ids for _, _, ids in rows]}, return_tensors="pt").to(engine.device)
        start = 0 if engine.is_seq2seq else batch["input_ids"].shape[1]
        events = [r.cancelled for r in requests]
        config = decoding.generation_config(engine.model, engine.tokenizer, lead, max(limits))
        criteria = decoding.stopping_criteria(engine.tokenizer, lead, start, decoding.cancel_criterion(events))

        def run() -> Any:
            if lead.do_sample and lead.seed is not None:
                torch.manual_seed(lead.seed)
            return engine.model.generate(**batch, generation_config=config, stopping_criteria=criteria,
                                         logits_processor=decoding.logits_processors(lead, start))

        with engine.lock:
            out = apart(run)
        new_tokens = out[:, start:].tolist()
        n = lead.num_return_sequences
        cancelled = bool(events) and all(e is not None and e.is_set() for e in events)
        results: list[GenerationResult] = []
        for i, ((req, text, ids), limit) in enumerate(zip(rows, limits)):
            decoders = [self._decode(new_tokens[i * n + j], limit, req.params, cancelled) for j in range(n)]
            result = result_of(text, ids, req.params, decoders)
            self._add_logprobs(result, req.params, ids, [[t.id for t in d.tokens] for d in decoders])
            results.append(result)
        grouped: list[list[GenerationResult]] = []
        for req in requests:
            grouped.append(results[: len(req.prompts)])
            results = results[len(req.prompts) :]
        return grouped

    def _decode(self, generated: list[int], limit: int, params: GenerationParams, cancelled: bool) -> Any:
        engine = self.engine
        if engine.is_seq2seq and generated and generated[0] == engine.model.generation_config.decoder_start_token_id:
            generated = generated[1:]
        return decoding.decode_row(engine.tokenizer, engine.vocab, params, engine.eos, limit, generated, cancelled)

    def _add_logprobs(self, result: GenerationResult, params: GenerationParams, prompt: list[int],
                      sequences: list[list[int]]) -> None:
        """Scores the prompt and each generated sequence when the request asks for it."""
        if params.logprobs is None and not params.prompt_logprobs:
            return
        engine, top_n = self.engine, params.logprobs or 0
        result.tokens = []

        def run() -> None:
            for j, generated in enumerate(sequences):
                if engine.is_seq2seq:
                    start = engine.model.generation_config.decoder_start_token_id
                    scored = score_seq2seq(engine.model, engine.vocab, prompt, generated, top_n, start)
                    if j == 0 and params.prompt_logprobs:  # the decoder's input: its start token
                        result.prompt_logprobs = [engine.vocab.token(start, None)]
                else:
                    with_prompt = j == 0 and params.prompt_logprobs
                    prompt_part, scored = score_causal(engine.model, engine.vocab, prompt, generated, top_n,
                                                       with_prompt)
                    if with_prompt:
                        result.prompt_logprobs = prompt_part
                result.tokens.append(scored)

        with engine.lock:
            apart(run)

    # -- one streamed row ------------------------------------------------------------------------

    def submit(self, stream: TextStream) -> None:
        """Streams a row: `generate()` on a thread of its own, each token handed to the stream
        as it comes; the row's end (or its cancellation) stops the pass at the next step."""
        if stream.decoder.done:  # max_length left no room after the prompt
            stream.end()
            return
        threading.Thread(target=self._stream, args=(stream,), daemon=True).start()

    def _stream(self, stream: TextStream) -> None:
        import torch
        from transformers import StoppingCriteria
        from transformers.generation.streamers import BaseStreamer

        engine, params = self.engine, stream.params
        capture = StepLogits(engine.model) if params.logprobs is not None else None

        class _Ended(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                flag = stream.ended or stream.cancelled
                return torch.full((input_ids.shape[0],), flag, dtype=torch.bool, device=input_ids.device)

        class _Tokens(BaseStreamer):
            first = True

            def put(self, value: Any) -> None:
                if self.first:  # the prompt (or the decoder's start token)
                    self.first = False
                    return
                for token_id in value.reshape(-1).tolist():
                    row = capture.latest if capture is not None else None
                    token = (engine.vocab.token(token_id, None) if row is None else
                             from_logprob_rows(engine.vocab, row[None, :], [token_id], params.logprobs or 0)[0])
                    stream.advance(token)

            def end(self) -> None:
                pass

        error: BaseException | None = None
        try:
            ids = stream.prompt_ids
            batch = {"input_ids": torch.tensor([ids], device=engine.device)}
            batch["attention_mask"] = torch.ones_like(batch["input_ids"])
            config = decoding.generation_config(engine.model, engine.tokenizer, params, stream.limit)
            start = 0 if engine.is_seq2seq else len(ids)
            criteria = decoding.stopping_criteria(engine.tokenizer, params, start, [_Ended()])
            processors = decoding.logits_processors(params, start)
            with engine.lock, torch.inference_mode():
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
            stream.end(error)
