"""The Python SDK lookalikes, one module per class family, over the job kinds and the endpoint
registry: `Estimator` and `TrainingJobAnalytics` (estimator), `Model` and `Predictor` (model),
`Transformer` (transformer), `AutoMLV2` and its configs (automl). `springboard` re-exports them;
names load on first use, so importing one family does not load the others' rooms."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Estimator": "springboard.sdk.estimator",
    "TrainingJob": "springboard.sdk.estimator",
    "TrainingJobAnalytics": "springboard.sdk.estimator",
    "hyperparameters": "springboard.sdk.estimator",
    "Model": "springboard.sdk.model",
    "Predictor": "springboard.sdk.model",
    "Transformer": "springboard.sdk.transformer",
    "AutoMLV2": "springboard.sdk.automl",
    "AutoMLTextGenerationConfig": "springboard.sdk.automl",
    "AutoMLDataChannel": "springboard.sdk.automl",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'springboard.sdk' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
