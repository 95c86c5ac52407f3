"""The generation engine: load a model once, encode prompts, and route each request to the
backend that runs it (generate/backends: transformers passes, the transformers scheduler,
llama.cpp). Everything that generates — endpoints, batch transform, evaluation — goes through it.
The decoding rules all backends share are generate/decoding.py's."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from springboard.errors import DataError, SpringboardError, ValidationError
from springboard.generate import adapters, decoding
from springboard.generate.backends import Backend
from springboard.generate.backends.static import TransformersStatic
from springboard.generate.cpu import apart
from springboard.generate.loading import context_length, find_spec, resolve_ref, torch_dtype
from springboard.generate.logprobs import TokenLogprob, Vocabulary, score_causal
from springboard.generate.params import GenerationParams
from springboard.generate.requests import (
    GenerationRequest,
    GenerationResult,
    Message,
    Prompt,
    ScheduledRequest,
    is_token_ids,
)
from springboard.generate.stream import TextStream

__all__ = ["Engine", "GenerationRequest", "GenerationResult", "Message", "Prompt", "ScheduledRequest", "apart",
           "is_token_ids", "resolve_ref"]

log = logging.getLogger("springboard.generate")


class Engine:
    def __init__(self, model: Any, tokenizer: Any, model_dir: Path, spec: Any = None, device: str = "cpu") -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.model_dir = Path(model_dir)
        self.spec = spec
        self.device = device
        self.is_seq2seq = bool(getattr(model.config, "is_encoder_decoder", False))
        # One forward pass at a time: torch already uses every core for one pass, and a
        # seeded pass must own the global RNG while it runs.
        self.lock = threading.Lock()
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "right" if self.is_seq2seq else "left"
        self.context_length = context_length(model.config, tokenizer)
        self.vocab = Vocabulary(tokenizer)
        self.static = TransformersStatic(self)
        self.scheduler: Any = None  # a continuous-batching Scheduler, once enabled
        self.backend = "transformers"  # or "llamacpp": llama.cpp runs the rows it can
        self.fast: Any = None  # the LlamaCppBackend when backend == "llamacpp"
        self.precision: Any = None  # the generate.precision.Precision it serves with (Engine.load)
        self.adapters: dict[str, Path] = {}  # name -> adapter dir (attach_adapter)
        self.peft: Any = None  # the PeftModel wrapping self.model once an adapter is attached
        self.lora: Any = None  # its MultiLoRA: per-row adapters in one batch (generate/lora.py)

    @property
    def eos(self) -> set[int]:
        return decoding.eos_ids(self.model, self.tokenizer)

    @property
    def backends(self) -> list[Backend]:
        """The backends running, in order of preference: llama.cpp, the scheduler, static passes."""
        return [b for b in (self.fast, self.scheduler, self.static) if b is not None]

    def enable_continuous_batching(self, max_batch: int = 32, prefill_chunk: int = 256) -> bool:
        """Starts this engine's scheduler (causal models): from then on the requests it covers
        run on it, sharing its running batch."""
        from springboard.generate.scheduler import CAPABILITIES, Scheduler

        if not CAPABILITIES.covers((), self.is_seq2seq):
            return False
        if self.scheduler is None:
            self.scheduler = Scheduler(self, max_batch=max_batch, prefill_chunk=prefill_chunk)
        return True

    def close(self) -> None:
        for name in ("scheduler", "fast"):
            backend = getattr(self, name)
            if backend is not None:
                backend.close()
                setattr(self, name, None)

    def attach_adapter(self, name: str, ref: str | Path) -> Path:
        """Attaches a LoRA adapter under `name` (generate/adapters.py); requests choose it with
        GenerationParams.adapter and run on the scheduler, each row with its own adapter."""
        return adapters.attach(self, name, ref)

    # -- routing ---------------------------------------------------------------------------------

    def route(self, requests: Sequence[GenerationRequest]) -> Backend:
        """The first backend whose capabilities cover what the requests need and which takes
        them now. The scheduler starts when only it covers them (adapters, grammars)."""
        from springboard.generate.scheduler import CAPABILITIES as SCHEDULED

        adapters.check_attached(self, requests)
        wanted = frozenset().union(*(decoding.needs(r.params) for r in requests))
        for backend in self.backends:
            if backend.capabilities.covers(wanted, self.is_seq2seq) and backend.takes(requests):
                return backend
        if self.scheduler is None and SCHEDULED.covers(wanted, self.is_seq2seq):
            self.enable_continuous_batching()
            return self.scheduler
        if "structured_output" in wanted:
            if self.is_seq2seq:
                raise DataError("constrained decoding (a grammar or JSON schema) needs a causal model", field="grammar")
            raise DataError("constrained decoding does not combine with beam search, several greedy sequences "
                            "or prompt log-probabilities", field="grammar")
        raise DataError("an adapter request cannot use beam search, several greedy sequences or prompt "
                        "log-probabilities", field="adapter_id")

    def schedules(self, requests: Sequence[GenerationRequest]) -> bool:
        """Whether these requests run as rows of a continuous backend (a scheduler's or
        llama.cpp's running batch) rather than as a pass of their own."""
        if self.scheduler is None and self.fast is None:
            return False
        try:
            return self.route(requests).capabilities.rows
        except SpringboardError:  # refused: the caller's pass reports it
            return False

    def schedule(self, request: GenerationRequest, on_done: Any = None) -> ScheduledRequest:
        """Submits a request's rows to the backend it routes to; `on_done(scheduled)` runs (on
        the backend's thread) once every row has ended. Validation errors raise here."""
        return self._rows(request, self.route([request]), on_done)

    def _rows(self, request: GenerationRequest, backend: Backend, on_done: Any = None) -> ScheduledRequest:
        encoded = [self.encode(p, request.chat, request.params.truncate) for p in request.prompts]
        limits = [self.new_token_limit(request.params, len(ids)) for _, ids in encoded]

        def open_row(text: str, ids: list[int], limit: int, params: GenerationParams, on_end: Any) -> TextStream:
            return self.open_row(backend, text, ids, limit, params, on_end=on_end)

        return ScheduledRequest(request, encoded, limits, open_row, on_done)

    def open_row(self, backend: Backend, text: str, ids: list[int], limit: int, params: GenerationParams,
                 prompt_logprobs: list[TokenLogprob] | None = None, on_end: Any = None) -> TextStream:
        """One row's TextStream, submitted to `backend`."""
        decoder = decoding.RowDecoder(self.tokenizer, params, self.eos, limit)
        return TextStream(decoder, text, ids, backend.submit, prompt_logprobs=prompt_logprobs, on_end=on_end)

    # -- loading -------------------------------------------------------------------------------

    @classmethod
    def load(cls, ref: str | Path, device: str | None = None, dtype: str | None = None,
             backend: str | None = None, quantize: str | None = None, workload: str = "interactive") -> Engine:
        """Loads a hub model id, a training job name or a local HF directory (artifact).
        `backend` (else $SPRINGBOARD_GENERATE_BACKEND): transformers | llamacpp | auto;
        `dtype` / `quantize`: the precision (generate/precision.py; DTYPE / QUANTIZE);
        `workload`: `interactive` (endpoints) or `batch` (transform jobs, evaluation), which
        `auto` may serve another way (precision.batch_choice)."""
        return apart(lambda: cls._load(ref, device, dtype, backend, quantize, workload), inference=False)

    @classmethod
    def _load(cls, ref: str | Path, device: str | None, dtype: str | None, backend: str | None,
              quantize: str | None = None, workload: str = "interactive") -> Engine:
        import dataclasses

        import torch

        from springboard.generate import precision as prec
        from springboard.generate.llamacpp import backend_for
        from springboard.generate.llamacpp_batch import LlamaCppBackend
        from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

        model_dir = resolve_ref(ref)
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        config = AutoConfig.from_pretrained(model_dir)
        batch_reason = None
        if workload == "batch":
            backend, dtype, batch_reason = prec.batch_choice(backend, dtype, quantize, device, config)
        chosen = backend_for(backend, device, config)
        spec = find_spec(ref, model_dir)
        # llama.cpp computes with the chosen GGUF; the transformers model beside it is float32
        dtype_torch = torch_dtype(None if chosen == "llamacpp" else dtype, device)
        precision = prec.resolve(dtype, quantize, chosen, device, config, model_dir, spec)
        if batch_reason:
            precision = dataclasses.replace(precision, reason=batch_reason)
        auto = AutoModelForSeq2SeqLM if getattr(config, "is_encoder_decoder", False) else AutoModelForCausalLM
        log.info("loading %s (%s, %s on %s)", model_dir, auto.__name__, dtype_torch, device)
        try:
            model = auto.from_pretrained(model_dir, dtype=dtype_torch)
            tokenizer = AutoTokenizer.from_pretrained(model_dir)
        except (OSError, ValueError) as exc:
            raise ValidationError(f"cannot load model from {model_dir}: {exc}") from exc
        model.to(device).eval()
        if device == "cpu":
            from springboard.generate.cpu import pack_if_alone

            pack_if_alone(model)
        engine = cls(model, tokenizer, model_dir, spec=spec, device=device)
        engine.precision = precision
        if chosen == "llamacpp":
            engine.fast, engine.backend = LlamaCppBackend(engine, gguf=precision.gguf), chosen
        log.info("generation backend for %s: %s, %s (%s)", model_dir, engine.backend, precision.label,
                 precision.reason)
        return engine

    # -- prompts ---------------------------------------------------------------------------------

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def render(self, prompt: Prompt, chat: bool = False) -> tuple[str, bool]:
        """The text the model sees, and whether it is already a rendered template (whose special
        tokens are in the text, so the tokenizer must not add them again)."""
        if is_token_ids(prompt):
            return self.tokenizer.decode(prompt, skip_special_tokens=False), True
        if isinstance(prompt, str) and not chat:
            return prompt, False
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        if self.has_chat_template:
            text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            return text, True
        # No template: the model was not tuned for chat; give it the conversation as plain text.
        return "\n".join(m.get("content", "") for m in messages), False

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def encode(self, prompt: Prompt, chat: bool = False, truncate: int | None = None) -> tuple[str, list[int]]:
        """(the text the model sees, its token ids): token-id prompts are used as given;
        `truncate` keeps the last tokens (TGI's truncate)."""
        text: str | None = None
        if is_token_ids(prompt):
            ids = list(prompt)  # type: ignore[arg-type]
            bad = [t for t in ids if not 0 <= t < len(self.tokenizer)]
            if bad:
                raise DataError(f"token id {bad[0]} is outside the vocabulary (0..{len(self.tokenizer) - 1})",
                                field="inputs")
        else:
            text, rendered = self.render(prompt, chat)
            self._check_text(text, truncate)
            ids = self.tokenizer(text, add_special_tokens=not rendered)["input_ids"]
        if truncate is not None and len(ids) > truncate:
            ids, text = ids[-truncate:], None
        if not ids and not self.is_seq2seq:
            raise DataError("the prompt is empty (a causal model needs at least one token)", field="inputs")
        if text is None:
            text = self.tokenizer.decode(ids, skip_special_tokens=False)
        return text, ids

    def _check_text(self, text: str, truncate: int | None) -> None:
        """Refuses, before tokenizing, text the tokenizer cannot take (a lone surrogate such as
        "\\ud800", which JSON lets through) and text certainly longer than the context: no token
        spans more than `max_token_chars` characters, so a prompt over context x that many
        characters cannot fit, and tokenizing all of it (megabytes) would be wasted work."""
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise DataError(f"the prompt is not valid Unicode: {exc.reason} at character {exc.start}",
                            field="inputs") from None
        if truncate is None and self.context_length and len(text) > self.context_length * self.max_token_chars:
            raise DataError(
                f"the prompt has {len(text)} characters, more than this model's context of "
                f"{self.context_length} tokens can hold", field="inputs",
            )

    @functools.cached_property
    def max_token_chars(self) -> int:
        """The most characters one token stands for (its longest vocabulary entry)."""
        return max((len(token) for token in self.tokenizer.get_vocab()), default=1) or 1

    def new_token_limit(self, params: GenerationParams, prompt_len: int) -> int:
        return decoding.new_token_limit(params, prompt_len, self.is_seq2seq, self.context_length)

    def score(self, prompts: Sequence[Prompt], top_n: int = 0, chat: bool = False) -> list[list[TokenLogprob]]:
        """Each prompt's tokens with their log-probabilities (the first one has none): what
        OpenAI `echo` with `max_tokens=0` and log-likelihood evaluation ask for."""
        if self.is_seq2seq:
            raise DataError("prompt log-probabilities need a causal (decoder-only) model", field="echo")
        out = []
        for prompt in prompts:
            _, ids = self.encode(prompt, chat)
            decoding.check_context(len(ids), 0, None, self.is_seq2seq, self.context_length)
            with self.lock:
                scored, _ = apart(lambda ids=ids: score_causal(self.model, self.vocab, ids, [], top_n,
                                                               with_prompt=True))
            out.append(scored or [])
        return out

    # -- generation ------------------------------------------------------------------------------

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams, chat: bool = False,
                 batch_size: int | None = None, cancelled: threading.Event | None = None) -> list[GenerationResult]:
        """One result per prompt. The prompts run in passes of `batch_size` (default: one pass);
        once `cancelled` is set, the running pass stops and no further pass starts."""
        if batch_size is not None and batch_size < 1:
            raise DataError("must be at least 1", field="batch_size")
        size = batch_size or max(1, len(prompts))
        results: list[GenerationResult] = []
        for start in range(0, len(prompts), size):
            if cancelled is not None and cancelled.is_set():
                break
            chunk = GenerationRequest(prompts[start : start + size], params, chat, cancelled)
            results.extend(self.generate_batch([chunk])[0])
        return results

    def generate_batch(self, requests: Sequence[GenerationRequest]) -> list[list[GenerationResult]]:
        """Runs several requests together: as rows of a continuous backend, or as one static
        pass (their params must then share a batch_key(); length limits and return_full_text
        may differ and are honoured per row)."""
        if not requests:
            return []
        backend = self.route(requests)
        if backend.capabilities.rows:
            return [s.wait() for s in [self._rows(r, backend) for r in requests]]
        return self.static.run(requests)

    def stream(self, prompt: Prompt, params: GenerationParams, chat: bool = False) -> TextStream:
        """Text deltas as they are generated (greedy or sampling, one sequence). The returned
        iterator carries finish_reason / generated_tokens once exhausted; close() cancels."""
        if params.num_beams > 1 or params.num_return_sequences > 1:
            field_name = "num_beams" if params.num_beams > 1 else "num_return_sequences"
            raise DataError("streaming supports one sequence without beam search", field=field_name)
        text, ids = self.encode(prompt, chat, params.truncate)
        limit = self.new_token_limit(params, len(ids))
        prompt_logprobs = None
        if params.prompt_logprobs:
            prompt_logprobs = self.score([ids], params.logprobs or 0)[0] if not self.is_seq2seq else []
        backend = self.route([GenerationRequest([prompt], params)])
        return self.open_row(backend, text, ids, limit, params, prompt_logprobs)
