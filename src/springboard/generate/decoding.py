"""The decoding rules every backend follows, in one place: the generation config a request's
params make, its logits processors and stopping criteria, the eos ids, its new-token limit, and
the one place a row ends (RowDecoder: eos, stop sequence, token limit or cancellation), which
records why. Backends feed RowDecoder the tokens they choose; none decides an end itself."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from springboard.errors import DataError
from springboard.generate.logprobs import TokenLogprob
from springboard.generate.params import DEFAULT_MAX_NEW_TOKENS, GenerationParams
from springboard.generate.stopping import FinishCause, cancelled_class, held_back, penalties, stop_on_text_class, trim_at_stop

# -- what a request needs of a backend ---------------------------------------------------------

# Fields every backend honours (length limits, plain greedy / temperature-top-k-top-p sampling,
# stop sequences, output shaping). `early_stopping` and `length_penalty` act only in beam search.
CORE_FIELDS = frozenset({"max_length", "max_new_tokens", "do_sample", "temperature", "top_k", "top_p", "seed",
                         "stop", "return_full_text", "truncate", "early_stopping", "length_penalty"})
# Fields named by a feature of their own below rather than by their field name.
_FEATURE_FIELDS = frozenset({"num_beams", "num_return_sequences", "prompt_logprobs", "logprobs", "adapter", "grammar"})
FEATURES = frozenset({"beam_search", "several_greedy", "several_sampled", "prompt_logprobs", "logprobs",
                      "adapters", "structured_output"}) | (
    frozenset(GenerationParams.model_fields) - CORE_FIELDS - _FEATURE_FIELDS)


def needs(params: GenerationParams) -> frozenset[str]:
    """The features a request asks of the backend that runs it (see FEATURES): structural ones
    (beam search, several sequences, log-probabilities, adapters, a grammar), plus the name of
    every other field outside CORE_FIELDS that is not at its default (a penalty, a watermark)."""
    wanted = set()
    if params.num_beams > 1:
        wanted.add("beam_search")
    if params.num_return_sequences > 1:
        wanted.add("several_sampled" if params.do_sample else "several_greedy")
    if params.prompt_logprobs:
        wanted.add("prompt_logprobs")
    if params.logprobs is not None:
        wanted.add("logprobs")
    if params.adapter is not None:
        wanted.add("adapters")
    if params.grammar is not None:
        wanted.add("structured_output")
    for name, info in GenerationParams.model_fields.items():
        if name in CORE_FIELDS or name in _FEATURE_FIELDS:
            continue
        if getattr(params, name) != info.get_default(call_default_factory=True):
            wanted.add(name)
    return frozenset(wanted)


# -- transformers' generate() ------------------------------------------------------------------


def eos_ids(model: Any, tokenizer: Any) -> set[int]:
    """The token ids that end a row: the generation config's eos (one or several), else the
    tokenizer's."""
    eos = model.generation_config.eos_token_id
    if eos is None:
        eos = tokenizer.eos_token_id
    return set(eos if isinstance(eos, list) else [eos]) - {None}


def generation_config(model: Any, tokenizer: Any, params: GenerationParams, max_new_tokens: int) -> Any:
    """The model's generation config with a request's params applied (max_new_tokens at least 1)."""
    config = copy.deepcopy(model.generation_config)
    values: dict[str, Any] = {
        "max_new_tokens": max(max_new_tokens, 1),
        "max_length": None,
        "min_new_tokens": None,
        "num_return_sequences": params.num_return_sequences,
        "num_beams": params.num_beams,
        "do_sample": params.do_sample,
        "pad_token_id": tokenizer.pad_token_id,
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
    for name in ("no_repeat_ngram_size", "repetition_penalty", "early_stopping"):
        if getattr(params, name) is not None:
            values[name] = getattr(params, name)
    if config.eos_token_id is None:
        values["eos_token_id"] = tokenizer.eos_token_id
    config.update(**values)
    return config


def logits_processors(params: GenerationParams, start: int) -> Any:
    """Processors beyond the generation config's: OpenAI's frequency and presence penalties over
    the tokens from column `start` on."""
    from transformers import LogitsProcessorList

    return LogitsProcessorList(penalties(params, start))


def stopping_criteria(tokenizer: Any, params: GenerationParams, start: int, extra: Sequence[Any] = ()) -> Any:
    """Stopping criteria: the stop sequences, matched in the generated text only (HF's own
    stop_strings also match across the end of the prompt), plus any extra criteria."""
    from transformers import StoppingCriteriaList

    criteria = list(extra)
    if params.stop:
        criteria.append(stop_on_text_class()(tokenizer, params.stop, start))
    return StoppingCriteriaList(criteria)


def cancel_criterion(events: Sequence[Any]) -> list[Any]:
    """A criterion ending a pass once every one of `events` is set (none when one is missing)."""
    return [cancelled_class()(events)] if events and all(e is not None for e in events) else []


# -- limits ------------------------------------------------------------------------------------


def new_token_limit(params: GenerationParams, prompt_len: int, seq2seq: bool, context: int | None) -> int:
    """How many tokens a row may generate: max_new_tokens, else what max_length leaves (HF
    semantics: a causal max_length counts the prompt, a seq2seq one the decoder's start token),
    else the default; checked against the model's context."""
    if params.max_new_tokens is not None:
        limit = params.max_new_tokens
    elif params.max_length is not None:
        limit = params.max_length - (1 if seq2seq else prompt_len)
        if limit <= 0:
            counted = "its start token" if seq2seq else f"the prompt's {prompt_len} tokens"
            raise DataError(
                f"max_length {params.max_length} leaves no room to generate: it counts {counted} "
                "(give max_new_tokens to bound only the output)",
                field="max_length",
            )
    else:
        limit = DEFAULT_MAX_NEW_TOKENS
    check_context(prompt_len, limit, params, seq2seq, context)
    return max(limit, 0)


def check_context(prompt_len: int, limit: int, params: GenerationParams | None, seq2seq: bool,
                  context: int | None) -> None:
    """Refuses a prompt longer than the context, or (causal) prompt plus limit beyond it."""
    if not context:
        return
    if prompt_len > context:
        raise DataError(f"the prompt has {prompt_len} tokens; this model reads at most {context}", field="inputs")
    if not seq2seq and prompt_len + limit > context:
        raise DataError(
            f"prompt ({prompt_len} tokens) plus {limit} new tokens exceeds the model's context of {context} tokens",
            field="max_new_tokens" if params is None or params.max_new_tokens is not None else "max_length",
        )


# -- the end of a row --------------------------------------------------------------------------


class RowDecoder:
    """One row's generated tokens → final text, and the one place a row ends: at eos (not part
    of the text), at a stop sequence (cut before it), at the token limit, or cancelled (`close`).
    Text that may begin a stop sequence, or half a UTF-8 character, is held back until decided."""

    def __init__(self, tokenizer: Any, params: GenerationParams, eos: set[int], limit: int) -> None:
        self.tokenizer, self.params, self.eos, self.limit = tokenizer, params, eos, limit
        self.ids: list[int] = []  # text tokens (eos excluded)
        self.tokens: list[TokenLogprob] = []  # every generated token, eos included
        self.cause: FinishCause | None = None
        self._text = ""
        self._emitted = 0
        if limit <= 0:
            self.cause = "length"

    @property
    def count(self) -> int:
        return len(self.tokens)

    @property
    def done(self) -> bool:
        return self.cause is not None

    @property
    def text(self) -> str:
        return self._text[: self._emitted]

    @property
    def generated_tokens(self) -> int:
        return self.count

    @property
    def finish_cause(self) -> FinishCause:
        return self.cause or "length"

    def push(self, token: TokenLogprob) -> str:
        """Takes the next generated token; returns the text that became final."""
        if self.done:
            return ""
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

    def close(self, cancelled: bool) -> str:
        """Ends a row its generator stopped feeding: cancelled (its client went away) or out of
        tokens (the pass ended: the limit). Returns the held-back text, now final."""
        if self.cause is None:
            self.cause = "cancelled" if cancelled else "length"
        return self.flush()

    def flush(self) -> str:
        return self._release(len(self._text))

    def _release(self, end: int) -> str:
        if end <= self._emitted:
            return ""
        piece = self._text[self._emitted : end]
        self._emitted = end
        return piece


def decode_row(tokenizer: Any, vocab: Any, params: GenerationParams, eos: set[int], limit: int,
               generated: Sequence[int], cancelled: bool = False) -> RowDecoder:
    """A whole generated row (one static pass's output) run through RowDecoder, as a streamed
    row's tokens are: the same end, the same text, the same count."""
    decoder = RowDecoder(tokenizer, params, eos, limit)
    for token_id in generated:
        if decoder.done:
            break
        decoder.push(vocab.token(int(token_id), None))
    decoder.close(cancelled)
    return decoder
