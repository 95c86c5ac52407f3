"""Springboard's Python SDK. Names load lazily so `import springboard` stays cheap; each
lives in the room that owns it (the SageMaker SDK lookalikes in `springboard.sdk`)."""

from __future__ import annotations

import importlib
import logging
import os
from typing import Any

__version__ = "0.1.0"

# Torch's OpenMP threads spin between parallel regions before they sleep: ~3 ms by default in
# libgomp, ~5 min with OMP_WAIT_POLICY=ACTIVE, not at all with PASSIVE. On a machine busier than its
# cores a long spin burns the slice a lagging team mate needs: decode ran 4-7x slower (25-38 s
# instead of 6 s for 24 tokens of SmolLM2 with 6 busy processes on 2 cores), the cause of
# non-streamed invocations running 4-6x slower than streamed ones. Not spinning at all (PASSIVE)
# costs ~1.5x on an idle machine (a decode step of 8 rows: 96 ms instead of 63 ms): every region
# wakes its threads from sleep. A short bounded spin keeps the idle speed and stays within ~15% of
# PASSIVE under that load: benchmarks/openmp_wait_policy.py. It must be set before torch loads
# OpenMP; a policy or spin count the user set wins (OMP_WAIT_POLICY=PASSIVE on a machine shared
# with busy processes).
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["GOMP_SPINCOUNT"] = "10000"

# bitsandbytes (int8 training) warns at import, which peft triggers in every process, that an
# optional kernel download is missing, and on every int8 product that inputs go to float16.
logging.getLogger("bitsandbytes").setLevel(logging.ERROR)

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
    # generate
    "GenerationParams": "springboard.generate",
    # the SDK lookalikes (springboard.sdk)
    "Estimator": "springboard.sdk.estimator",
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
        raise AttributeError(f"module 'springboard' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
