"""Loading helpers: a model reference to a local directory, its hub spec, the torch dtype and
the context length the engine serves with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from springboard.errors import DataError, NotFoundError

if TYPE_CHECKING:
    import torch


def resolve_ref(ref: str | Path) -> Path:
    """A model id, job name or path → a local HF directory (via the hub when it is installed)."""
    try:
        from springboard.hub import resolve_model
    except ImportError:
        resolve_model = None
    if resolve_model is not None:
        return Path(resolve_model(str(ref)))
    path = Path(ref).expanduser()
    if not (path / "config.json").is_file():
        raise NotFoundError(f"no model directory at {path} (config.json missing)")
    return path


def find_spec(ref: str | Path, model_dir: Path) -> Any:
    """The hub spec for a model id, or for the base model an artifact was trained from."""
    try:
        from springboard.hub import get_model_spec
    except ImportError:
        return None
    candidates = [str(ref)]
    meta = model_dir / "springboard.json"
    if meta.is_file():
        try:
            base = json.loads(meta.read_text()).get("base_model")
        except (OSError, ValueError):
            base = None
        if base:
            candidates.append(str(base))
    for candidate in candidates:
        try:
            return get_model_spec(candidate)
        except Exception:  # not a hub id (a path or job name): no spec
            continue
    return None


def torch_dtype(dtype: str | None, device: str) -> torch.dtype:
    import torch

    if dtype in (None, "auto"):
        return torch.float32 if device == "cpu" else torch.bfloat16
    names = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
             "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}
    if dtype not in names:
        raise DataError(f"unknown dtype {dtype!r}; one of {sorted(names)}", field="dtype")
    return names[dtype]


def context_length(config: Any, tokenizer: Any) -> int | None:
    for attr in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and 0 < limit < 1_000_000 else None
