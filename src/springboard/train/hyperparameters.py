"""Hyperparameter schemas, one per model family. Values arrive as strings, SageMaker style; the
defaults are data in each model's hub spec, the types and ranges live here. A seed notebook's
dict works unchanged: JumpStart's names for each family are accepted, `epoch` and `epochs` alike.

    >>> from springboard import hyperparameters
    >>> hyperparameters.retrieve_default("smollm2-135m-instruct")["epoch"]
    '2'
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from springboard.errors import HyperparameterError, Problem, first_problem
from springboard.errors import problems as problems_of

_NONE = {"none", "null", ""}
# Step counts above this are typos (a 2-core CPU does a few steps a second).
MAX_STEPS = 10_000_000


class _Base(BaseModel):
    """Fields every family shares. Internal names are canonical (`epochs`); see ALIASES."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    epochs: int = Field(1, ge=1, le=1000)
    max_steps: int = Field(-1, ge=-1, le=MAX_STEPS, description="-1: run all epochs")
    learning_rate: float = Field(1e-4, gt=0, le=1)
    per_device_train_batch_size: int = Field(4, ge=1, le=1024)
    per_device_eval_batch_size: int = Field(8, ge=1, le=1024)
    gradient_accumulation_steps: int = Field(1, ge=1, le=1024)
    max_input_length: int = Field(1024, ge=-1, le=1_048_576, description="-1: the model's context")
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    warmup_steps: int = Field(0, ge=0, le=MAX_STEPS)
    lr_scheduler_type: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "linear"
    weight_decay: float = Field(0.0, ge=0, le=1)
    max_grad_norm: float = Field(1.0, gt=0)
    seed: int = Field(42, ge=0, le=2**32 - 1)
    peft_type: Literal["lora", "none"] = "lora"
    precision: Literal["auto", "float32", "bfloat16"] = Field(
        "auto", description="auto: bf16 mixed precision where the GPU has bf16 or this CPU's bf16 GEMM "
        "measures faster (a run-time probe), float32 otherwise"
    )
    torch_compile: bool = Field(
        False, description="torch.compile (inductor, dynamic shapes) of the training forward: the model body "
        "for causal LMs, the whole model for seq2seq; compile time is paid once per job"
    )
    gradient_checkpointing: bool = Field(
        False, description="keep only each layer's input during the forward and recompute the rest in the "
        "backward (transformers' gradient checkpointing, non-reentrant): the activations of a 7B at "
        "sequence 512 fall from ~4 GB to under 1 GB for ~1.3x the step time; the same losses and gradients"
    )
    lora_r: int = Field(8, ge=1, le=1024)
    lora_alpha: float = Field(32, gt=0, le=4096)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    lora_target_modules: str = Field(
        "auto", description="'auto' (peft's per-architecture default), 'all-linear', or a comma list"
    )
    merge_weights: bool = Field(
        True, description="always True: the artifact holds the merged model and the adapter (adapter/)"
    )
    validation_split_ratio: float = Field(0.2, ge=0, lt=1)
    train_data_split_seed: int = Field(0, ge=0)
    max_train_samples: int = Field(-1, ge=-1)
    max_val_samples: int = Field(-1, ge=-1)
    use_chat_template: bool = False
    train_on_inputs: bool = False
    preprocessing_num_workers: int | None = Field(None, ge=1, le=256)
    logging_steps: int = Field(5, ge=1, le=MAX_STEPS)
    save_steps: int = Field(0, ge=0, le=MAX_STEPS, description="checkpoint every N optimizer steps; 0: each epoch only")
    eval_steps: int = Field(0, ge=0, le=MAX_STEPS, description="validate every N optimizer steps; 0: each epoch only")

    @field_validator("merge_weights")
    @classmethod
    def _merged(cls, value: bool) -> bool:
        # An adapter-only artifact could be neither deployed nor fine-tuned again by name, so
        # every LoRA artifact holds the merged model; the adapter is saved beside it (adapter/).
        if not value:
            raise ValueError(
                "must be True: a LoRA artifact always holds the merged model (deployable and "
                "reusable by name) and the adapter alone under adapter/"
            )
        return value

    @field_validator("preprocessing_num_workers", "packing", mode="before", check_fields=False)
    @classmethod
    def _none_string(cls, value: Any) -> Any:
        # SageMaker passes Python's None as the string "None".
        if isinstance(value, str) and value.strip().lower() in _NONE:
            return None
        return value

    @field_validator("max_train_samples", "max_val_samples")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("must be -1 (all) or at least 1")
        return value


class CausalLMHyperparameters(_Base):
    """Llama / Mistral / Falcon / SmolLM2 (JumpStart's text-generation names)."""

    instruction_tuned: bool = False
    chat_dataset: bool = False
    packing: bool | None = None
    int8_quantization: bool = Field(
        False, description="8-bit base weights for LoRA (bitsandbytes, CPU or CUDA); the adapter and "
        "the merged artifact stay float32"
    )
    enable_fsdp: bool = True
    chunked_loss: int = Field(
        0, ge=0, le=1_048_576, description="0: the LM head and cross-entropy over all label positions at "
        "once; N: over N label positions at a time, the gradient computed in the same pass, so the full "
        "logits (label tokens x vocabulary, float32) are never held; one process (no FSDP)"
    )

    @field_validator("int8_quantization")
    @classmethod
    def _int8_backend(cls, value: bool, info: ValidationInfo) -> bool:
        from springboard.hardware import INT8_INSTALL, int8_backend

        if not value:
            return value
        if info.data.get("peft_type") != "lora":  # peft_type (a base field) is validated first
            raise ValueError("True needs peft_type='lora': 8-bit base weights are frozen, only an adapter trains")
        if int8_backend() is None:
            raise ValueError(f"True needs bitsandbytes >= 0.49 (its CPU backend), not installed here: {INT8_INSTALL}")
        return value


class FlanT5Hyperparameters(_Base):
    """FLAN-T5 (JumpStart's text2text names; `batch_size` is its per-device batch size)."""

    max_output_length: int = Field(128, ge=1, le=65536)
    peft_type: Literal["lora", "none"] = "none"
    label_smoothing_factor: float = Field(0.0, ge=0, lt=1)


FAMILIES: dict[str, type[_Base]] = {
    "causal-lm": CausalLMHyperparameters,
    "flan-t5": FlanT5Hyperparameters,
}

# Spellings users bring from other families' notebooks and tools -> canonical field.
ALIASES = {
    "epoch": "epochs",
    "batch_size": "per_device_train_batch_size",
    "train_batch_size": "per_device_train_batch_size",
    "eval_batch_size": "per_device_eval_batch_size",
    "max_eval_samples": "max_val_samples",
}

Hyperparameters = _Base


def family_for(architecture: str) -> str:
    return "flan-t5" if architecture == "seq2seq" else "causal-lm"


def parse(family: str, values: dict[str, Any], defaults: dict[str, Any] | None = None) -> _Base:
    """Validates `defaults` overlaid with `values` (both string-valued, SageMaker style).
    Errors name the key and the allowed range or choices."""
    schema = FAMILIES.get(family)
    if schema is None:
        raise HyperparameterError(f"unknown hyperparameter family {family!r}; known: {sorted(FAMILIES)}")
    merged: dict[str, Any] = {}
    given_as: dict[str, str] = {}  # canonical field -> the spelling the user gave
    for origin, given in (("default", defaults or {}), ("given", values or {})):
        for key, value in given.items():
            canon = ALIASES.get(key, key)
            if canon not in schema.model_fields:
                known = sorted(set(schema.model_fields) | {a for a, c in ALIASES.items() if c in schema.model_fields})
                raise HyperparameterError(
                    f"unknown hyperparameter {key!r} for {family} models; valid: {', '.join(known)}"
                )
            if origin == "given":
                if canon in given_as and str(merged[canon]) != str(value):
                    raise HyperparameterError(
                        f"hyperparameter {key!r} given twice with different values "
                        f"(also as {given_as[canon]!r})"
                    )
                given_as[canon] = key
            merged[canon] = value
    try:
        return schema(**merged)
    except ValidationError as exc:
        err = first_problem(exc)
        field = str(err.loc[0]) if err.loc else "?"
        shown = given_as.get(field, field)
        raise HyperparameterError(
            f"hyperparameter {shown!r}: {_describe(schema, field, err)} (got {merged.get(field)!r})"
        ) from None


def problems(family: str, values: dict[str, Any], defaults: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    """Every error `parse` would raise, not only the first: (the key as given, message) pairs,
    so a form can show each beside its field. Empty when `parse` accepts the values."""
    schema = FAMILIES.get(family)
    if schema is None:
        return [("", f"unknown hyperparameter family {family!r}; known: {sorted(FAMILIES)}")]
    out: list[tuple[str, str]] = []
    merged: dict[str, Any] = {}
    given_as: dict[str, str] = {}
    for origin, given in (("default", defaults or {}), ("given", values or {})):
        for key, value in given.items():
            canon = ALIASES.get(key, key)
            if canon not in schema.model_fields:
                known = sorted(set(schema.model_fields) | {a for a, c in ALIASES.items() if c in schema.model_fields})
                out.append((key, f"unknown hyperparameter {key!r} for {family} models; valid: {', '.join(known)}"))
                continue
            if origin == "given":
                if canon in given_as and str(merged[canon]) != str(value):
                    out.append((key, f"hyperparameter {key!r} given twice with different values "
                                     f"(also as {given_as[canon]!r})"))
                    continue
                given_as[canon] = key
            merged[canon] = value
    try:
        schema(**merged)
    except ValidationError as exc:
        for err in problems_of(exc):
            name = str(err.loc[0]) if err.loc else ""
            shown = given_as.get(name, name)
            out.append((shown, f"hyperparameter {shown!r}: {_describe(schema, name, err)} (got {merged.get(name)!r})"))
    return out


def _describe(schema: type[_Base], field: str, err: Problem) -> str:
    """A human sentence for one pydantic error: the type and the range or choices."""
    info = schema.model_fields.get(field)
    if info is None or err.type.startswith("literal"):
        return err.message.replace("Input should be", "must be one of")
    if err.type.startswith("bool"):
        return "must be True or False"
    ann = str(info.annotation)
    kind = "an integer" if "int" in ann else "a number" if "float" in ann else err.message
    symbols = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    bounds = [
        f"{symbols[name]} {getattr(meta, name)}"
        for meta in info.metadata
        for name in symbols
        if getattr(meta, name, None) is not None
    ]
    if err.type == "value_error":
        return err.message
    return f"must be {kind}" + (f" {' and '.join(bounds)}" if bounds else "")


def retrieve_default(model_id: str, model_version: str = "*") -> dict[str, str]:
    """The model's default hyperparameters, as strings (SageMaker's `hyperparameters.retrieve_default`)."""
    from springboard.hub import retrieve_default_hyperparameters

    return retrieve_default_hyperparameters(model_id, version=model_version)
