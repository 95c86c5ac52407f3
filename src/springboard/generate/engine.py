"""The generation engine (transformers backend): load a model once, generate for batches of
prompts. Everything that generates — endpoints, batch transform, evaluation — goes through it."""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from springboard import storage
from springboard.errors import DataError, NotFoundError, ValidationError
from springboard.generate.logprobs import TokenLogprob, Vocabulary, score_causal, score_seq2seq
from springboard.generate.params import DEFAULT_MAX_NEW_TOKENS, GenerationParams
from springboard.generate.stopping import (
    FinishCause,
    FinishReason,
    cancelled_class,
    reason_of,
    stop_on_text_class,
    trim_at_stop,
)

if TYPE_CHECKING:
    import torch

    from springboard.generate.stream import TextStream

log = logging.getLogger("springboard.generate")

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


class Engine:
    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        model_dir: Path,
        spec: Any = None,
        device: str = "cpu",
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.model_dir = Path(model_dir)
        self.spec = spec
        self.device = device
        self.is_seq2seq = bool(getattr(model.config, "is_encoder_decoder", False))
        # One forward pass at a time: torch already uses every core for one pass, and a
        # seeded pass must own the global RNG while it runs.
        self._lock = threading.Lock()
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "right" if self.is_seq2seq else "left"
        self.context_length = _context_length(model.config, tokenizer)
        self.vocab = Vocabulary(tokenizer)
        self.scheduler: Any = None  # a continuous-batching Scheduler, once enabled
        self.backend = "transformers"  # or "llamacpp": single-stream decode on llama.cpp
        self.fast: Any = None  # the LlamaCppBackend when backend == "llamacpp"
        self.precision: Any = None  # the generate.precision.Precision it serves with (Engine.load)
        self.adapters: dict[str, Path] = {}  # name -> adapter dir (attach_adapter)
        self.peft: Any = None  # the PeftModel wrapping self.model once an adapter is attached
        self.lora: Any = None  # its MultiLoRA: per-row adapters in one batch (generate/lora.py)

    def enable_continuous_batching(self, max_batch: int = 32, prefill_chunk: int = 256) -> bool:
        """Starts this engine's scheduler (causal models): from then on generate_batch and
        stream run eligible requests through it, sharing its running batch."""
        from springboard.generate.scheduler import Scheduler

        if self.is_seq2seq:
            return False
        if self.scheduler is None:
            self.scheduler = Scheduler(self, max_batch=max_batch, prefill_chunk=prefill_chunk)
        return True

    def close(self) -> None:
        if self.scheduler is not None:
            self.scheduler.close()
            self.scheduler = None
        if self.fast is not None:
            self.fast.close()
            self.fast = None

    def attach_adapter(self, name: str, ref: str | Path) -> Path:
        """Attaches a LoRA adapter (a training job's artifact: `adapter/` + springboard.json, or
        a peft adapter directory) under `name`, on the model already loaded: the base weights are
        not reloaded. Requests choose it with GenerationParams.adapter; they run on the
        scheduler, whose forward passes give each row its own adapter (generate/lora.py).
        The adapter's base model must be this engine's."""
        if not name or name == "__base__" or ":" in name or len(name) > 128:
            raise DataError(f"adapter name {name!r} is not allowed (1-128 characters, no ':', not __base__)",
                            field="name")
        if self.is_seq2seq:
            raise DataError("LoRA adapters are served on causal models only", field="artifact")
        artifact = Path(str(ref)).expanduser()
        if not storage.is_local_dir(artifact):  # a training job's name
            from springboard.hub.resolve import _job_artifact

            job_dir = _job_artifact(str(ref))
            if job_dir is None:
                raise NotFoundError(f"no training job or directory named {str(ref)!r}")
            artifact = Path(job_dir)
        adapter_dir = artifact / "adapter" if (artifact / "adapter" / "adapter_config.json").is_file() else artifact
        if not (adapter_dir / "adapter_config.json").is_file():
            raise DataError(f"{artifact} holds no LoRA adapter (no adapter/adapter_config.json): only LoRA "
                            "training jobs' artifacts can be attached", field="artifact")
        self._check_base(artifact, adapter_dir)
        with self._lock:
            apart(lambda: self._attach(name, adapter_dir))
        log.info("adapter %s attached from %s", name, adapter_dir)
        return adapter_dir

    def _attach(self, name: str, adapter_dir: Path) -> None:
        from peft import PeftModel
        from peft.tuners.tuners_utils import BaseTunerLayer

        from springboard.generate.lora import MultiLoRA

        if name in self.adapters:
            raise DataError(f"adapter {name!r} is already attached (attached: {', '.join(self.adapters)})",
                            field="name")
        try:
            if self.peft is None:
                self.peft = PeftModel.from_pretrained(self.model, str(adapter_dir), adapter_name=name)
                self.lora = MultiLoRA(self.peft)
            else:
                self.peft.load_adapter(str(adapter_dir), adapter_name=name)
        except Exception as exc:  # a corrupt or foreign adapter directory
            raise DataError(f"cannot load the LoRA adapter at {adapter_dir}: {type(exc).__name__}: {exc}",
                            field="artifact") from exc
        self.peft.eval()
        try:
            self.lora.add(name)
        except DataError:
            if not self.lora.names:  # the first adapter: leave the plain model as it was
                self.model = self.peft.unload()
                self.peft = self.lora = None
            raise
        # No adapter is active for plain calls of self.model (generate(), scoring): they stay
        # the base model's; scheduler rows pick theirs through self.lora.rows().
        for module in self.model.modules():
            if isinstance(module, BaseTunerLayer):
                module.set_adapter([])
        self.adapters[name] = adapter_dir

    def _check_base(self, artifact: Path, adapter_dir: Path) -> None:
        names: list[str] = []
        meta = artifact / "springboard.json"
        if meta.is_file():
            base = json.loads(meta.read_text()).get("base_model")
            if base:
                names.append(str(base))
        if not names:
            base = json.loads((adapter_dir / "adapter_config.json").read_text()).get("base_model_name_or_path")
            if base:
                names.append(str(base))
        mine = {str(self.model_dir.resolve()), str(getattr(self.spec, "model_id", "") or "")}
        for base in names:
            if base in mine:
                return
            try:
                if str(resolve_ref(base).resolve()) in mine:
                    return
            except Exception:  # noqa: BLE001 - an unknown base is a mismatch, reported below
                pass
        raise DataError(f"adapter at {adapter_dir} was trained on {names[0] if names else 'an unnamed base model'}, "
                        f"not on this endpoint's model ({self.model_dir})", field="artifact")

    def _adapters(self, requests: Sequence[GenerationRequest]) -> None:
        """Adapter requests run on the scheduler (per-row adapters): checks the names, starts it."""
        from springboard.generate.scheduler import supports

        wanted = [r.params.adapter for r in requests if r.params.adapter is not None]
        if not wanted:
            return
        for name in wanted:
            if name not in self.adapters:
                attached = ", ".join(sorted(self.adapters)) or "none"
                raise DataError(f"adapter {name!r} is not attached to this endpoint (attached: {attached})",
                                field="adapter_id")
        self.enable_continuous_batching()
        if any(not supports(self, r.params) for r in requests if r.params.adapter is not None):
            raise DataError("an adapter request cannot use beam search, several greedy sequences or prompt "
                            "log-probabilities", field="adapter_id")

    def schedules(self, requests: Sequence[GenerationRequest]) -> bool:
        """Whether these requests run on the continuous-batching scheduler."""
        from springboard.generate.scheduler import supports

        return self.scheduler is not None and all(supports(self, r.params) for r in requests)

    def schedule(self, request: GenerationRequest, on_done: Any = None) -> ScheduledRequest:
        """Submits a request's rows to the scheduler; `on_done(scheduled)` runs (on the
        scheduler's thread) once every row has ended. Validation errors raise here."""
        self._adapters([request])
        return ScheduledRequest(self, request, on_done, feed=self._fast_feed([request]))

    def _fast_feed(self, requests: Sequence[GenerationRequest]) -> Any:
        """The llama.cpp backend's feed when it takes these requests (llamacpp.takes), else None."""
        from springboard.generate.llamacpp import takes

        return self.fast.submit if self.fast is not None and takes(self, requests) else None

    # -- loading -------------------------------------------------------------------------------

    @classmethod
    def load(cls, ref: str | Path, device: str | None = None, dtype: str | None = None,
             backend: str | None = None, quantize: str | None = None) -> Engine:
        """Loads a hub model id, a training job name or a local HF directory (artifact).
        `backend` (else $SPRINGBOARD_GENERATE_BACKEND): transformers | llamacpp | auto;
        `dtype` / `quantize`: the precision (generate/precision.py; DTYPE / QUANTIZE)."""
        return apart(lambda: cls._load(ref, device, dtype, backend, quantize), inference=False)

    @classmethod
    def _load(cls, ref: str | Path, device: str | None, dtype: str | None, backend: str | None,
              quantize: str | None = None) -> Engine:
        import torch

        from springboard.generate import precision as prec
        from springboard.generate.llamacpp import backend_for
        from springboard.generate.llamacpp_batch import LlamaCppBackend
        from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

        model_dir = resolve_ref(ref)
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        config = AutoConfig.from_pretrained(model_dir)
        chosen = backend_for(backend, device, config)
        spec = _find_spec(ref, model_dir)
        # llama.cpp computes with the chosen GGUF; the transformers model beside it is float32
        torch_dtype = _dtype(None if chosen == "llamacpp" else dtype, device)
        precision = prec.resolve(dtype, quantize, chosen, device, config, model_dir, spec)
        auto = AutoModelForSeq2SeqLM if getattr(config, "is_encoder_decoder", False) else AutoModelForCausalLM
        log.info("loading %s (%s, %s on %s)", model_dir, auto.__name__, torch_dtype, device)
        try:
            model = auto.from_pretrained(model_dir, dtype=torch_dtype)
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

    def score(self, prompts: Sequence[Prompt], top_n: int = 0, chat: bool = False) -> list[list[TokenLogprob]]:
        """Each prompt's tokens with their log-probabilities (the first one has none): what
        OpenAI `echo` with `max_tokens=0` and log-likelihood evaluation ask for."""
        if self.is_seq2seq:
            raise DataError("prompt log-probabilities need a causal (decoder-only) model", field="echo")
        out = []
        for prompt in prompts:
            _, ids = self.encode(prompt, chat)
            self._check_context(len(ids), 0, None)
            with self._lock:
                scored, _ = apart(lambda ids=ids: score_causal(self.model, self.vocab, ids, [], top_n,
                                                               with_prompt=True))
            out.append(scored or [])
        return out

    # -- generation ------------------------------------------------------------------------------

    def generate(
        self,
        prompts: Sequence[Prompt],
        params: GenerationParams,
        chat: bool = False,
        batch_size: int | None = None,
        cancelled: threading.Event | None = None,
    ) -> list[GenerationResult]:
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
        """Runs several requests as one forward pass. Their params must share a batch_key();
        length limits and return_full_text may differ and are honoured per row."""
        import torch

        if not requests:
            return []
        self._constrained(requests)
        self._adapters(requests)
        fast = self._fast_feed(requests)
        if fast is not None:
            return [s.wait() for s in [ScheduledRequest(self, r, feed=fast) for r in requests]]
        if self.schedules(requests):
            scheduled = [self.schedule(r) for r in requests]
            return [s.wait() for s in scheduled]
        key = requests[0].params.batch_key()
        if any(r.params.batch_key() != key for r in requests):
            raise ValueError("requests in one batch must have batch-compatible params")
        rows = [(r, *self.encode(p, r.chat, r.params.truncate)) for r in requests for p in r.prompts]
        if not rows:
            return [[] for _ in requests]
        encoded = [ids for _, _, ids in rows]
        limits = [self._new_token_limit(req.params, len(ids)) for (req, _, _), ids in zip(rows, encoded)]
        lead = requests[0].params
        batch = self.tokenizer.pad({"input_ids": encoded}, return_tensors="pt").to(self.device)
        config = self._generation_config(lead, max(limits) if limits else 1)
        start = 0 if self.is_seq2seq else batch["input_ids"].shape[1]
        events = [r.cancelled for r in requests]
        cancel = [cancelled_class()(events)] if all(e is not None for e in events) else []
        criteria = self._stopping(lead, start, cancel)

        def run() -> Any:
            if lead.do_sample and lead.seed is not None:
                torch.manual_seed(lead.seed)
            return self.model.generate(**batch, generation_config=config, stopping_criteria=criteria,
                                       logits_processor=self._processors(lead, start))

        with self._lock:
            out = apart(run)
        new_tokens = out if self.is_seq2seq else out[:, batch["input_ids"].shape[1] :]
        n = lead.num_return_sequences
        results: list[GenerationResult] = []
        for i, ((req, text, _), ids, limit) in enumerate(zip(rows, encoded, limits)):
            seqs = [self._finish(new_tokens[i * n + j], limit, req.params) for j in range(n)]
            prefix = text if req.params.return_full_text else ""
            result = GenerationResult(
                prompt=text,
                texts=[prefix + s[0] for s in seqs],
                prompt_tokens=len(ids),
                generated_tokens=sum(s[1] for s in seqs),
                finish_reason=reason_of(seqs[0][2]),
                finish_reasons=[reason_of(s[2]) for s in seqs],
                token_counts=[s[1] for s in seqs],
                finish_causes=[s[2] for s in seqs],
            )
            self._add_logprobs(result, req.params, ids, [s[3] for s in seqs])
            results.append(result)
        grouped: list[list[GenerationResult]] = []
        for req in requests:
            grouped.append(results[: len(req.prompts)])
            results = results[len(req.prompts) :]
        return grouped

    def stream(self, prompt: Prompt, params: GenerationParams, chat: bool = False) -> TextStream:
        """Text deltas as they are generated (greedy or sampling, one sequence). The returned
        iterator carries finish_reason / generated_tokens once exhausted; close() cancels."""
        from springboard.generate.stream import TextStream

        if params.num_beams > 1 or params.num_return_sequences > 1:
            field_name = "num_beams" if params.num_beams > 1 else "num_return_sequences"
            raise DataError("streaming supports one sequence without beam search", field=field_name)
        text, ids = self.encode(prompt, chat, params.truncate)
        limit = self._new_token_limit(params, len(ids))
        prompt_logprobs = None
        if params.prompt_logprobs:
            prompt_logprobs = self.score([ids], params.logprobs or 0)[0] if not self.is_seq2seq else []
        self._constrained([GenerationRequest([prompt], params)])
        self._adapters([GenerationRequest([prompt], params)])
        feed = self._fast_feed([GenerationRequest([prompt], params)])
        if feed is None and self.schedules([GenerationRequest([prompt], params)]):
            feed = self.scheduler.submit
        return TextStream(self, text, ids, params, limit, prompt_logprobs, feed=feed)

    def _constrained(self, requests: Sequence[GenerationRequest]) -> None:
        """Grammar-constrained requests run on the scheduler (per-row masks): start it if needed."""
        from springboard.generate.scheduler import supports

        if not any(r.params.grammar for r in requests):
            return
        if self.is_seq2seq:
            raise DataError("constrained decoding (a grammar or JSON schema) needs a causal model", field="grammar")
        self.enable_continuous_batching()
        bad = next((r.params for r in requests if not supports(self, r.params)), None)
        if bad is not None:
            raise DataError("constrained decoding does not combine with beam search, several greedy sequences "
                            "or prompt log-probabilities", field="grammar")

    def _add_logprobs(self, result: GenerationResult, params: GenerationParams, prompt: list[int],
                      sequences: list[list[int]]) -> None:
        """Scores the prompt and each generated sequence when the request asks for it."""
        if params.logprobs is None and not params.prompt_logprobs:
            return
        top_n = params.logprobs or 0

        def run() -> None:
            for j, generated in enumerate(sequences):
                if self.is_seq2seq:
                    start = self.model.generation_config.decoder_start_token_id
                    scored = score_seq2seq(self.model, self.vocab, prompt, generated, top_n, start)
                    if j == 0 and params.prompt_logprobs:  # the decoder's input: its start token
                        result.prompt_logprobs = [self.vocab.token(start, None)]
                else:
                    with_prompt = j == 0 and params.prompt_logprobs
                    prompt_part, scored = score_causal(self.model, self.vocab, prompt, generated, top_n, with_prompt)
                    if with_prompt:
                        result.prompt_logprobs = prompt_part
                result.tokens.append(scored)

        with self._lock:
            apart(run)

    # -- internals -------------------------------------------------------------------------------

    def _new_token_limit(self, params: GenerationParams, prompt_len: int) -> int:
        if params.max_new_tokens is not None:
            limit = params.max_new_tokens
        elif params.max_length is not None:
            # HF semantics: a causal max_length counts the prompt; a seq2seq one counts the
            # decoder sequence, whose start token is not generated.
            limit = params.max_length - (1 if self.is_seq2seq else prompt_len)
            if limit <= 0:
                counted = "its start token" if self.is_seq2seq else f"the prompt's {prompt_len} tokens"
                raise DataError(
                    f"max_length {params.max_length} leaves no room to generate: it counts {counted} "
                    "(give max_new_tokens to bound only the output)",
                    field="max_length",
                )
        else:
            limit = DEFAULT_MAX_NEW_TOKENS
        self._check_context(prompt_len, limit, params)
        return max(limit, 0)

    def _check_context(self, prompt_len: int, limit: int, params: GenerationParams | None) -> None:
        if self.context_length:
            if prompt_len > self.context_length:
                raise DataError(
                    f"the prompt has {prompt_len} tokens; this model reads at most {self.context_length}",
                    field="inputs",
                )
            if not self.is_seq2seq and prompt_len + limit > self.context_length:
                raise DataError(
                    f"prompt ({prompt_len} tokens) plus {limit} new tokens exceeds the model's "
                    f"context of {self.context_length} tokens",
                    field="max_new_tokens" if params is None or params.max_new_tokens is not None else "max_length",
                )

    def _processors(self, params: GenerationParams, start: int) -> Any:
        from transformers import LogitsProcessorList

        from springboard.generate.stopping import penalties

        return LogitsProcessorList(penalties(params, start))

    def _stopping(self, params: GenerationParams, start: int, extra: Sequence[Any] = ()) -> Any:
        """Stopping criteria: the stop sequences, matched in the generated text only (HF's own
        stop_strings also match across the end of the prompt), plus any extra criteria."""
        from transformers import StoppingCriteriaList

        criteria = list(extra)
        if params.stop:
            criteria.append(stop_on_text_class()(self.tokenizer, params.stop, start))
        return StoppingCriteriaList(criteria)

    def _generation_config(self, params: GenerationParams, max_new_tokens: int) -> Any:
        import copy

        config = copy.deepcopy(self.model.generation_config)
        values: dict[str, Any] = {
            "max_new_tokens": max(max_new_tokens, 1),
            "max_length": None,
            "min_new_tokens": None,
            "num_return_sequences": params.num_return_sequences,
            "num_beams": params.num_beams,
            "do_sample": params.do_sample,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if params.do_sample:
            values["temperature"] = params.temperature if params.temperature is not None else 1.0
            values["top_k"] = params.top_k if params.top_k is not None else config.top_k
            values["top_p"] = params.top_p if params.top_p is not None else config.top_p
            if params.typical_p is not None:
                values["typical_p"] = params.typical_p
        else:  # unset so transformers does not warn that sampling flags are ignored
            values.update(temperature=None, top_k=None, top_p=None, typical_p=None)
        if params.length_penalty is not None:
            values["length_penalty"] = params.length_penalty
        if params.watermark:
            from transformers import WatermarkingConfig

            # TGI's defaults: gamma (green-list share) 0.5, delta (bias) 2.0, previous-token seed.
            values["watermarking_config"] = WatermarkingConfig(greenlist_ratio=0.5, bias=2.0)
        if params.no_repeat_ngram_size is not None:
            values["no_repeat_ngram_size"] = params.no_repeat_ngram_size
        if params.repetition_penalty is not None:
            values["repetition_penalty"] = params.repetition_penalty
        if params.early_stopping is not None:
            values["early_stopping"] = params.early_stopping
        if config.eos_token_id is None:
            values["eos_token_id"] = self.tokenizer.eos_token_id
        config.update(**values)
        return config

    def _eos_ids(self) -> set[int]:
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = self.tokenizer.eos_token_id
        return set(eos if isinstance(eos, list) else [eos]) - {None}

    def _finish(
        self, tokens: torch.Tensor, limit: int, params: GenerationParams
    ) -> tuple[str, int, FinishCause, list[int]]:
        """Decodes one generated row: cut at eos, at this row's own token limit, then at the first
        stop sequence. Returns (text, generated token count, finish cause, the counted ids)."""
        ids = tokens.tolist()
        if self.is_seq2seq and ids and ids[0] == self.model.generation_config.decoder_start_token_id:
            ids = ids[1:]
        eos = self._eos_ids()
        cut = next((pos for pos, tok in enumerate(ids) if tok in eos), None)
        reason: FinishCause
        if cut is not None and cut < limit:
            counted = ids[: cut + 1]
            ids, count, reason = ids[:cut], cut + 1, "eos_token"
        else:
            ids, reason = ids[:limit], "length"
            pad = self.tokenizer.pad_token_id
            while params.stop and ids and ids[-1] == pad:  # a stop string ended it; rest is padding
                ids.pop()
            count = len(ids)
            counted = ids
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        text, hit = trim_at_stop(text, params.stop)
        if hit:
            reason = "stop_sequence"
        return text, count, reason, counted


class ScheduledRequest:
    """A request whose rows (num_return_sequences per prompt) run on the engine's scheduler."""

    def __init__(self, engine: Engine, request: GenerationRequest, on_done: Any = None, feed: Any = None) -> None:
        from springboard.generate.stream import TextStream

        params = request.params
        encoded = [engine.encode(p, request.chat, params.truncate) for p in request.prompts]
        limits = [engine._new_token_limit(params, len(ids)) for _, ids in encoded]
        self.request, self.encoded = request, encoded
        self._on_done = on_done
        self._left = len(encoded) * params.num_return_sequences
        self._lock = threading.Lock()
        self._event = threading.Event()
        self.streams: list[list[TextStream]] = []
        if self._left == 0:
            self._finished()
        for (text, ids), limit in zip(encoded, limits):
            row_params = [params] if params.num_return_sequences == 1 else [
                params.with_overrides(num_return_sequences=1, seed=None if params.seed is None else params.seed + j)
                for j in range(params.num_return_sequences)]
            self.streams.append([TextStream(engine, text, ids, p, limit, feed=feed or engine.scheduler.submit,
                                            on_end=self._row_ended) for p in row_params])

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
        params = self.request.params
        out = []
        for (text, ids), streams in zip(self.encoded, self.streams):
            for stream in streams:
                if stream.error is not None:
                    raise stream.error
            prefix = text if params.return_full_text else ""
            causes = [s.finish_cause for s in streams]
            out.append(GenerationResult(
                prompt=text,
                texts=[prefix + s.text for s in streams],
                prompt_tokens=len(ids),
                generated_tokens=sum(s.generated_tokens for s in streams),
                finish_reason=reason_of(causes[0]),
                finish_reasons=[reason_of(c) for c in causes],
                token_counts=[s.generated_tokens for s in streams],
                finish_causes=causes,
                tokens=[list(s.tokens) for s in streams] if params.logprobs is not None else [],
            ))
        return out


# -- threads -----------------------------------------------------------------------------------


def apart(fn: Any, inference: bool = True) -> Any:
    """Runs `fn()` (torch compute) on a thread of its own that ends with it, and returns or raises
    what it did. A thread's OpenMP pool lives as long as the thread, and libgomp cuts every team's
    spin-wait to almost nothing once the process holds more OpenMP threads than cores: a pool left
    on a long-lived thread (a request's worker, the loader, the main thread after a load) slowed the
    scheduler's decode steps ~1.4x (8 rows of SmolLM2 on 2 cores: 92 ms instead of 64). So the
    scheduler's is the one long-lived thread that computes; the rest computes here."""
    import torch

    box: dict[str, Any] = {}

    def run() -> None:
        try:
            if inference:
                with torch.inference_mode():
                    box["value"] = fn()
            else:
                box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised on the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run, name="springboard-compute", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


# -- resolution helpers ------------------------------------------------------------------------


def resolve_ref(ref: str | Path) -> Path:
    """A model id, job name or path → a local HF directory (via the hub when it is installed)."""
    try:
        from springboard.hub import resolve_model
    except ImportError:
        resolve_model = None
    if resolve_model is not None:
        return Path(resolve_model(str(ref)))
    path = Path(ref).expanduser()
    if not (path / "config.json").is_file():
        raise NotFoundError(f"no model directory at {path} (config.json missing)")
    return path


def _find_spec(ref: str | Path, model_dir: Path) -> Any:
    """The hub spec for a model id, or for the base model an artifact was trained from."""
    try:
        from springboard.hub import get_model_spec
    except ImportError:
        return None
    candidates = [str(ref)]
    meta = model_dir / "springboard.json"
    if meta.is_file():
        try:
            base = json.loads(meta.read_text()).get("base_model")
        except (OSError, ValueError):
            base = None
        if base:
            candidates.append(str(base))
    for candidate in candidates:
        try:
            return get_model_spec(candidate)
        except Exception:  # not a hub id (a path or job name): no spec
            continue
    return None


def _dtype(dtype: str | None, device: str) -> torch.dtype:
    import torch

    if dtype in (None, "auto"):
        return torch.float32 if device == "cpu" else torch.bfloat16
    names = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
             "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}
    if dtype not in names:
        raise DataError(f"unknown dtype {dtype!r}; one of {sorted(names)}", field="dtype")
    return names[dtype]


def _context_length(config: Any, tokenizer: Any) -> int | None:
    for attr in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and 0 < limit < 1_000_000 else None
