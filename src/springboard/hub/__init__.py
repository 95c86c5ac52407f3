"""The model hub: the catalog of ModelSpecs (built-in JSON data files plus user
registrations), the JumpStart filter language, default hyperparameters and resources, and
resolving any model reference to a local Hugging Face directory."""

from springboard.hub.catalog import (
    get_model_spec,
    list_models,
    list_specs,
    register_model,
    retrieve_default_hyperparameters,
    retrieve_default_resources,
)
from springboard.hub.filters import And, ModelFilter, Not, Or, parse_filter_string
from springboard.hub.resolve import local_weights, resolve_model
from springboard.hub.spec import ModelSpec, ResourceEstimate, Source, estimate_memory_gb

DEFAULT_MODEL_ID = "smollm2-135m-instruct"

__all__ = [
    "DEFAULT_MODEL_ID",
    "And",
    "ModelFilter",
    "ModelSpec",
    "Not",
    "Or",
    "ResourceEstimate",
    "Source",
    "estimate_memory_gb",
    "get_model_spec",
    "list_models",
    "list_specs",
    "local_weights",
    "parse_filter_string",
    "register_model",
    "resolve_model",
    "retrieve_default_hyperparameters",
    "retrieve_default_resources",
]
