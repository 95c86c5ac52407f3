"""Writing the model artifact: a Hugging Face directory (merged weights for LoRA, the adapter
under `adapter/`), the tokenizer with its chat template, and `springboard.json`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

ARTIFACT_FILE = "springboard.json"


def save_artifact(
    model,
    tokenizer,
    base_model_dir: Path,
    out: Path,
    *,
    merge: bool,
    record: dict[str, Any],
) -> Path:
    """Saves into `out` (replaced if present). The tokenizer is saved from the object that
    trained, so its chat template travels with the weights and the model generates after
    reload exactly as it was trained."""
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    is_peft = hasattr(model, "peft_config")
    if is_peft:
        model.save_pretrained(tmp / "adapter")
        tokenizer.save_pretrained(tmp / "adapter")
    if is_peft and merge:
        merged = model.merge_and_unload()
        merged.config.use_cache = True
        merged.save_pretrained(tmp)
    elif not is_peft:
        model.config.use_cache = True
        model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    gen_cfg = base_model_dir / "generation_config.json"
    if gen_cfg.exists() and (merge or not is_peft):
        shutil.copy(gen_cfg, tmp / "generation_config.json")
    (tmp / ARTIFACT_FILE).write_text(json.dumps(record, indent=2, default=str))
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out


def read_artifact(path: Path) -> dict[str, Any] | None:
    f = Path(path) / ARTIFACT_FILE
    return json.loads(f.read_text()) if f.exists() else None
