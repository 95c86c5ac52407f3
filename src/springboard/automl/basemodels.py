"""Autopilot's `BaseModelName` values mapped to hub models.

Autopilot names its fine-tunable LLMs (Falcon7BInstruct, Llama2-7B, ...); the hub names models by
JumpStart ids. A name is looked up as a hub id or alias first (so `smollm2-135m-instruct`, or a
model registered with `springboard models register`, works directly), then in this table. An
Autopilot name whose model has no hub spec here fails naming the way to add one."""

from __future__ import annotations

from dataclasses import dataclass

from springboard.errors import ModelUnavailableError, NotFoundError, ValidationError

# Autopilot's default; offline, Springboard's default model stands in when no name is given.
AWS_DEFAULT = "Falcon7BInstruct"
OFFLINE_DEFAULT = "smollm2-135m-instruct"

# Every BaseModelName Autopilot accepts -> the hub model id with the same weights (None: no
# built-in spec; register the weights under the Autopilot name or a hub id to use it).
AUTOPILOT_MODELS: dict[str, str | None] = {
    "Falcon7BInstruct": "huggingface-llm-falcon-7b-instruct-bf16",
    "Falcon7B": None,
    "Falcon40BInstruct": None,
    "Falcon40B": None,
    "FlanT5L": "huggingface-text2text-flan-t5-large",
    "FlanT5XL": "huggingface-text2text-flan-t5-xl",
    "FlanT5XXL": None,
    "Llama2-7B": "meta-textgeneration-llama-2-7b",
    "Llama2-13B": None,
    "Llama2-70B": None,
    "Mistral7B": "huggingface-llm-mistral-7b",
    "Dolly3B": None,
    "Dolly7B": None,
    "Dolly12B": None,
    "MPT7B": None,
    "MPT7BInstruct": None,
    "MPT30B": None,
    "MPT30BInstruct": None,
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
        model_id = AUTOPILOT_MODELS[name]
        if model_id is None:
            raise NotFoundError(
                f"{field} {name!r} is an Autopilot model without a built-in Springboard spec; register "
                f"its Hugging Face weights under that name with `springboard models register {name} "
                f"--path DIR`, or pick a hub model (`springboard models list`)"
            )
        spec = find_spec(model_id)
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
