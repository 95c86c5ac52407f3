"""Batch transform: jobs that run every record of JSON Lines / CSV / text files through a model,
with SageMaker's knobs (split, batch strategy, payload, assemble, join and filters)."""

from springboard.transform.api import transform_config
from springboard.transform.config import TransformConfig, hyper_params
from springboard.transform.jsonpath import JSONPath

__all__ = [
    "JSONPath",
    "TransformConfig",
    "hyper_params",
    "transform_config",
]
