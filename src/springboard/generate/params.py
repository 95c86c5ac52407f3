"""GenerationParams: the one validated structure every payload shape (JumpStart, TGI, OpenAI,
batch transform records) maps onto before it reaches the engine."""

from __future__ import annotations

from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from springboard.errors import DataError, first_problem

# Used when a request names neither max_new_tokens nor max_length. HF's own default
# (max_length=20 counting the prompt) leaves a causal model nothing to say after a long prompt.
DEFAULT_MAX_NEW_TOKENS = 64
MAX_STOP_SEQUENCES = 16


class GenerationParams(BaseModel):
    """Decoding parameters, with Hugging Face semantics.

    `max_length` counts the prompt for causal models and the decoder output for seq2seq models;
    `max_new_tokens` wins when both are given. Sampling parameters (temperature, top_k, top_p)
    only act when `do_sample` is true, as in `transformers`. Invalid values and combinations raise
    `springboard.errors.ValidationError` (a `DataError` naming the field)."""

    # Strict: a payload's "8" or true is not a token count, and Infinity/NaN are not numbers
    # (JSON parsers accept them); every payload shape maps onto these fields, so one rule here
    # refuses them everywhere. Floats still accept integers (temperature: 1).
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    max_length: int | None = Field(default=None, ge=1)
    max_new_tokens: int | None = Field(default=None, ge=1)
    num_return_sequences: int = Field(default=1, ge=1, le=64)
    num_beams: int = Field(default=1, ge=1, le=64)
    do_sample: bool = False
    temperature: float | None = Field(default=None, gt=0.0, le=100.0)
    top_k: int | None = Field(default=None, ge=0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1)
    no_repeat_ngram_size: int | None = Field(default=None, ge=0)
    repetition_penalty: float | None = Field(default=None, gt=0.0)
    # OpenAI's additive penalties over the tokens generated so far (not the prompt):
    # logit -= frequency_penalty * count + presence_penalty * (count > 0).
    frequency_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    presence_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    early_stopping: bool | None = None
    length_penalty: float | None = None  # beam search: exponent on the length (FLAN's knob)
    typical_p: float | None = Field(default=None, gt=0.0, le=1.0)
    # TGI's watermark (Kirchenbauer et al.): a green list seeded by the previous token, gamma 0.5,
    # delta 2.0 as TGI's defaults, applied by transformers' WatermarkLogitsProcessor.
    watermark: bool = False
    # A LoRA adapter attached to the engine (Engine.attach_adapter); None = the base model.
    adapter: str | None = Field(default=None, min_length=1, max_length=128)
    stop: tuple[str, ...] = ()
    return_full_text: bool = False
    # Keep only the last `truncate` prompt tokens (TGI's `truncate`).
    truncate: int | None = Field(default=None, ge=1)
    # Log-probabilities to report (they never change decoding): None = none; 0 = the chosen
    # token's; n = also the n most likely alternatives at each step.
    logprobs: int | None = Field(default=None, ge=0, le=20)
    # Also report the prompt tokens' log-probabilities (TGI decoder_input_details, OpenAI echo).
    prompt_logprobs: bool = False
    # Constrained decoding: an llguidance grammar (see generate/constrain.py: from a JSON schema or
    # a regex); every generated token keeps the output inside it.
    grammar: str | None = None

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except pydantic.ValidationError as exc:
            raise params_error(exc) from None

    @classmethod
    def parse(cls, data: dict[str, Any], prefix: str = "") -> GenerationParams:
        """Builds params from a payload dict; errors name the field as `prefix + name`."""
        try:
            return cls.model_validate(data)
        except pydantic.ValidationError as exc:
            raise params_error(exc, prefix) from None
        except DataError as exc:
            if prefix and exc.field:
                raise DataError(exc.reason, field=prefix + exc.field) from None
            raise

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_list(cls, value: Any) -> Any:
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list):  # JSON arrays; strict mode takes only tuples
            return tuple(value)
        return value

    @field_validator("stop")
    @classmethod
    def _stop_nonempty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(value) > MAX_STOP_SEQUENCES:
            raise ValueError(f"at most {MAX_STOP_SEQUENCES} stop sequences")
        if any(s == "" for s in value):
            raise ValueError("stop sequences must be non-empty strings")
        for s in value:
            try:
                s.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate such as "\ud800" (JSON lets them through)
                raise ValueError("stop sequences must be valid Unicode (no lone surrogates)") from None
        return value

    @model_validator(mode="after")
    def _combinations(self) -> GenerationParams:
        if not self.do_sample and self.num_return_sequences > self.num_beams:
            raise DataError(
                f"num_return_sequences ({self.num_return_sequences}) must not exceed num_beams "
                f"({self.num_beams}) unless do_sample is true",
                field="num_return_sequences",
            )
        return self

    # -- how the engine and batchers use it ------------------------------------------------

    def batch_key(self) -> tuple[Any, ...]:
        """Requests whose keys are equal can share one forward pass. Length limits, truncation,
        return_full_text and log-probabilities are left out: the engine honours them per row."""
        sampling = (self.temperature, self.top_k, self.top_p, self.typical_p, self.seed) if self.do_sample else ()
        return (
            self.num_return_sequences,
            self.num_beams,
            self.do_sample,
            sampling,
            self.no_repeat_ngram_size,
            self.repetition_penalty,
            self.frequency_penalty,
            self.presence_penalty,
            self.early_stopping,
            self.length_penalty,
            self.watermark,
            self.adapter,
            self.grammar,
            self.stop,
        )

    @property
    def solo(self) -> bool:
        """A seeded sampling request runs in a batch of its own: its seed seeds the whole pass,
        so sharing the pass with strangers would make its output depend on them."""
        return self.do_sample and self.seed is not None

    def with_overrides(self, **values: Any) -> GenerationParams:
        data = self.model_dump(exclude_unset=True)
        data.update({k: v for k, v in values.items() if v is not None})
        return GenerationParams(**data)


def params_error(exc: pydantic.ValidationError, prefix: str = "") -> DataError:
    """The first pydantic error as a DataError naming its field (`parameters.top_p`)."""
    err = first_problem(exc)
    # Union members appear in the location as type tags ('str', 'list[str]'): not field names.
    loc = ".".join(str(p) for p in err.loc if not isinstance(p, int) and str(p) not in _TYPE_TAGS and "[" not in str(p))
    message = err.message
    if err.type == "extra_forbidden":
        message = "unknown parameter"
    if err.has_input and err.type != "extra_forbidden":
        message += f" (got {_short(err.input)})"
    return DataError(message, field=(prefix + loc) if loc else (prefix.rstrip(".") or None))


_TYPE_TAGS = {"str", "int", "float", "bool", "list", "dict", "none", "function-after", "function-before"}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def text2text_params(data: dict[str, Any], prefix: str = "") -> GenerationParams:
    """GenerationParams for a JumpStart text2text (`text_inputs`) payload or transform record.

    In those payloads `max_length` bounds the OUTPUT on every model, as FLAN-T5's container does
    (Hugging Face seq2seq `max_length` counts the decoder sequence: the start token plus the
    generated tokens). So it maps onto `max_new_tokens = max_length - 1` for causal models too,
    instead of counting the prompt (which made every causal answer empty). `max_new_tokens`, when
    given, wins as in transformers. A `max_length` that leaves no token to generate is an error."""
    data = dict(data)
    max_length = data.get("max_length")
    if max_length is not None and isinstance(max_length, int) and not isinstance(max_length, bool):
        if data.get("max_new_tokens") is None:
            if max_length <= 1:
                raise DataError(
                    f"max_length {max_length} leaves no room to generate: it counts the output "
                    "sequence including its start token, so it must be at least 2 "
                    "(or give max_new_tokens)",
                    field=prefix + "max_length",
                )
            data["max_new_tokens"] = max_length - 1
        data.pop("max_length")
    return GenerationParams.parse(data, prefix=prefix)
