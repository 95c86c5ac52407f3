"""Batch transform: jobs that run every record of JSON Lines / CSV / text files through a model,
with SageMaker's knobs (split, batch strategy, payload, assemble, join and filters)."""

from springboard.transform.api import job_metrics, run_transform, watch
from springboard.transform.config import TransformConfig, default_job_name, hyper_params
from springboard.transform.jsonpath import JSONPath

__all__ = [
    "JSONPath",
    "TransformConfig",
    "default_job_name",
    "hyper_params",
    "job_metrics",
    "run_transform",
    "watch",
]
