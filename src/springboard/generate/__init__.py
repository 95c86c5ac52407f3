"""The generation engine: one model loaded once, batches of prompts, one validated
GenerationParams. Used by endpoints, batch transform and evaluation alike."""

from springboard.generate.engine import Engine, GenerationRequest, GenerationResult
from springboard.generate.params import DEFAULT_MAX_NEW_TOKENS, GenerationParams
from springboard.generate.stopping import trim_at_stop
from springboard.generate.stream import TextStream

__all__ = [
    "DEFAULT_MAX_NEW_TOKENS",
    "Engine",
    "GenerationParams",
    "GenerationRequest",
    "GenerationResult",
    "TextStream",
    "trim_at_stop",
]
