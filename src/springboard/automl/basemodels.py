"""Autopilot's `BaseModelName` values mapped to hub models.

Autopilot names its fine-tunable LLMs (Falcon7BInstruct, Llama2-7B, ...); the hub names models by
JumpStart ids. A name is looked up as a hub id or alias first (so `smollm2-135m-instruct`, or a
model registered with `springboard models register`, works directly), then in this table, whose
every entry is a built-in hub spec."""

from __future__ import annotations

from dataclasses import dataclass

from springboard.errors import ModelUnavailableError, NotFoundError, ValidationError

# Autopilot's default; offline, Springboard's default model stands in when no name is given.
AWS_DEFAULT = "Falcon7BInstruct"
OFFLINE_DEFAULT = "smollm2-135m-instruct"

# Every BaseModelName CreateAutoMLJobV2 documents for text generation (AWS's "Supported large
# language models for fine-tuning" table) -> the JumpStart model id it names, a built-in hub spec.
# The weights are not shipped: they resolve as for any hub model (the local Hugging Face cache, or
# `springboard models register <id> --path DIR`), and check_weights says so before a job starts.
AUTOPILOT_MODELS: dict[str, str] = {
    "Dolly3B": "huggingface-textgeneration-dolly-v2-3b-bf16",
    "Dolly7B": "huggingface-textgeneration-dolly-v2-7b-bf16",
    "Dolly12B": "huggingface-textgeneration-dolly-v2-12b-bf16",
    "Falcon7B": "huggingface-llm-falcon-7b-bf16",
    "Falcon7BInstruct": "huggingface-llm-falcon-7b-instruct-bf16",
    "Falcon40B": "huggingface-llm-falcon-40b-bf16",
    "Falcon40BInstruct": "huggingface-llm-falcon-40b-instruct-bf16",
    "FlanT5L": "huggingface-text2text-flan-t5-large",
    "FlanT5XL": "huggingface-text2text-flan-t5-xl",
    "FlanT5XXL": "huggingface-text2text-flan-t5-xxl",
    "Llama2-7B": "meta-textgeneration-llama-2-7b",
    "Llama2-13B": "meta-textgeneration-llama-2-13b",
    "Llama2-70B": "meta-textgeneration-llama-2-70b",
    "Llama2-7BChat": "meta-textgeneration-llama-2-7b-f",
    "Llama2-13BChat": "meta-textgeneration-llama-2-13b-f",
    "Llama2-70BChat": "meta-textgeneration-llama-2-70b-f",
    "Mistral7B": "huggingface-llm-mistral-7b",
    "Mistral7BInstruct": "huggingface-llm-mistral-7b-instruct",
    "MPT7B": "huggingface-textgeneration1-mpt-7b-bf16",
    "MPT7BInstruct": "huggingface-textgeneration1-mpt-7b-instruct-bf16",
    "MPT30B": "huggingface-textgeneration1-mpt-30b-bf16",
    "MPT30BInstruct": "huggingface-textgeneration1-mpt-30b-instruct-bf16",
}


@dataclass(frozen=True)
class BaseModel:
    name: str  # as the request gave it
    model_id: str  # hub id
    architecture: str  # causal | seq2seq
    family: str  # hyperparameter family
    defaults: dict[str, str]
    requires_eula: bool
    license: str


def resolve_base_model(name: str, field: str = "BaseModelName") -> BaseModel:
    """The hub model behind a BaseModelName; NotFoundError / ValidationError name the field."""
    from springboard import hub
    from springboard.hub.catalog import find_spec

    spec = find_spec(name)
    if spec is None and name in AUTOPILOT_MODELS:
        spec = find_spec(AUTOPILOT_MODELS[name])
    if spec is None:
        try:
            spec = hub.get_model_spec(name)  # raises with the hub's close matches
        except NotFoundError as exc:
            raise NotFoundError(f"{field}: {exc}") from None
    if not spec.training_supported:
        raise ValidationError(f"{field} {name!r}: model {spec.model_id} does not support fine-tuning")
    return BaseModel(
        name=name,
        model_id=spec.model_id,
        architecture=spec.architecture,
        family=spec.hyperparameter_family,
        defaults=dict(spec.default_hyperparameters),
        requires_eula=spec.requires_eula,
        license=spec.license,
    )


def check_weights(model: BaseModel) -> None:
    """Fails now, with the hub's message, when the model's weights are not on this machine,
    rather than minutes later inside a candidate. Never downloads or converts."""
    from springboard.hub import get_model_spec, local_weights, resolve_model
    from springboard.hub.resolve import gguf_available

    spec = get_model_spec(model.model_id)
    if local_weights(spec) is not None:
        return
    if spec.source.type == "gguf_package" and not spec.source.path:
        if gguf_available(spec):
            return  # converted on first use by the candidate's training job
    try:
        resolve_model(spec.model_id)
    except ModelUnavailableError as exc:
        raise ModelUnavailableError(f"BaseModelName {model.name!r}: {exc}") from None
