"""Springboard's Python SDK. Names load lazily so `import springboard` stays cheap; each
lives in the room that owns it."""

from __future__ import annotations

import importlib
import os
from typing import Any

__version__ = "0.1.0"

# Torch's OpenMP threads busy-wait (spin) between parallel regions by default. On a machine busier
# than its cores a spinning thread burns the time slice its lagging team mate needs, so every
# parallel region waits a scheduler tick: decoding SmolLM2 ran ~10x slower (74 s instead of 5-6 s
# for 32 tokens at load 10 on 2 cores), on whichever request path's thread owned that spinning
# team (the cause of non-streamed invocations running 4-6x slower than streamed ones). Passive
# waiting sleeps instead. It must be set before torch loads OpenMP; a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_EXPORTS = {
    # errors
    "SpringboardError": "springboard.errors",
    "ValidationError": "springboard.errors",
    "DataError": "springboard.errors",
    "HyperparameterError": "springboard.errors",
    "NotFoundError": "springboard.errors",
    # hub
    "ModelSpec": "springboard.hub",
    "list_models": "springboard.hub",
    "get_model_spec": "springboard.hub",
    "register_model": "springboard.hub",
    "resolve_model": "springboard.hub",
    "retrieve_default_hyperparameters": "springboard.hub",
    "retrieve_default_resources": "springboard.hub",
    "And": "springboard.hub",
    "Or": "springboard.hub",
    # train
    "Estimator": "springboard.train.sdk",
    "TrainingJobAnalytics": "springboard.train.sdk",
    "hyperparameters": "springboard.train.sdk",
    # generate / serve / transform / automl
    "GenerationParams": "springboard.generate",
    "Model": "springboard.serve.sdk",
    "Predictor": "springboard.serve.sdk",
    "Transformer": "springboard.transform.sdk",
    "AutoMLV2": "springboard.automl.sdk",
    "AutoMLTextGenerationConfig": "springboard.automl.sdk",
    "AutoMLDataChannel": "springboard.automl.sdk",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'springboard' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
