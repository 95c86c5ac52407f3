"""The catalog: built-in specs (package data) merged with the user's registrations
(`SPRINGBOARD_HOME/hub/<model_id>.json`). Read from disk on every call so a model registered
by another process is seen at once; there are a handful of small files."""

from __future__ import annotations

import difflib
import fnmatch
import json
import logging
import struct
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from springboard import settings
from springboard.errors import NotFoundError, ValidationError, first_problem
from springboard.hub.filters import FilterExpression, matches
from springboard.hub.spec import ModelSpec, ResourceEstimate, Scope

log = logging.getLogger("springboard.hub")

MODEL_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def user_hub_dir() -> Path:
    path = settings.home() / "hub"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _read_json(path: Path | Any) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None


def _validate(data: dict[str, Any], where: Any) -> ModelSpec:
    try:
        return ModelSpec.model_validate(data)
    except PydanticValidationError as exc:
        first = first_problem(exc)
        raise ValidationError(f"{where}: field '{first.field or '(spec)'}': {first.message}") from None


def _builtin_data() -> dict[str, dict[str, Any]]:
    out = {}
    for entry in resources.files("springboard.hub").joinpath("specs").iterdir():
        if entry.name.endswith(".json"):
            data = _read_json(entry)
            out[data["model_id"]] = data
    return out


def all_specs() -> dict[str, ModelSpec]:
    """Every spec by model_id. A user file for a built-in id is an overlay (usually just a
    registered weights path), so upgrading Springboard still updates the rest of the spec."""
    builtin = _builtin_data()
    specs: dict[str, ModelSpec] = {}
    for model_id, data in builtin.items():
        spec = _validate(data, f"built-in spec {model_id}")
        spec.builtin = True
        specs[model_id] = spec
    for path in sorted(user_hub_dir().glob("*.json")):
        data = _read_json(path)
        model_id = data.get("model_id", path.stem)
        if model_id in builtin:
            merged = {**builtin[model_id], **data}
            spec = _validate(merged, path)
            spec.builtin = True
        else:
            spec = _validate(data, path)
        specs[model_id] = spec
    return specs


def find_spec(ref: str) -> ModelSpec | None:
    """A spec by id, alias or source repo id (case-insensitive), or None."""
    key = ref.strip().lower()
    specs = all_specs()
    for spec in specs.values():
        if spec.model_id.lower() == key:
            return spec
    for spec in specs.values():
        names = [a.lower() for a in spec.aliases]
        if spec.source.repo_id:
            names.append(spec.source.repo_id.lower())
        if key in names:
            return spec
    return None


def known_names() -> list[str]:
    names: list[str] = []
    for spec in all_specs().values():
        names += [spec.model_id, *spec.aliases]
    return names


def close_matches(ref: str, candidates: list[str]) -> str:
    found = difflib.get_close_matches(ref, candidates, n=5, cutoff=0.5)
    found += [c for c in candidates if ref.lower() in c.lower() and c not in found][:5]
    return f"; did you mean: {', '.join(found)}?" if found else ""


def get_model_spec(model_id: str, version: str = "*") -> ModelSpec:
    """The spec for an id or alias. `version` is an exact version or a wildcard ("*", "1.*")."""
    spec = find_spec(model_id)
    if spec is None:
        raise NotFoundError(f"no model with id or alias {model_id!r}" + close_matches(model_id, known_names()))
    if not fnmatch.fnmatchcase(spec.version, version):
        raise NotFoundError(
            f"model {spec.model_id!r} has version {spec.version}, which does not match {version!r}"
        )
    return spec


def list_specs(filter: FilterExpression | None = None) -> list[ModelSpec]:
    specs = sorted(all_specs().values(), key=lambda s: s.model_id)
    if filter is None:
        return specs
    return [s for s in specs if matches(filter, s.model_dump(mode="json"))]


def list_models(filter: FilterExpression | None = None) -> list[str]:
    """Model ids, sorted, optionally filtered like `sagemaker.jumpstart.notebook_utils.
    list_jumpstart_models(filter=...)`: "task == text2text", And(...), Or(...)."""
    return [s.model_id for s in list_specs(filter)]


def retrieve_default_hyperparameters(model_id: str, version: str = "*") -> dict[str, str]:
    """JumpStart-style default hyperparameters: a fresh dict of strings."""
    return dict(get_model_spec(model_id, version).default_hyperparameters)


def retrieve_default_resources(
    model_id: str, scope: Scope = "training", version: str = "*", device: str | None = None
) -> ResourceEstimate:
    if scope not in ("training", "inference"):
        raise ValidationError(f"scope must be 'training' or 'inference', not {scope!r}")
    return get_model_spec(model_id, version).default_resources(scope, device=device)


# --- registration ------------------------------------------------------------------------


def _families() -> dict[str, dict[str, Any]]:
    return json.loads(resources.files("springboard.hub").joinpath("families.json").read_text())


def check_model_dir(path: str | Path) -> Path:
    path = Path(str(path).removeprefix("file://")).expanduser().resolve()
    if not path.is_dir():
        raise NotFoundError(f"{path}: no such directory")
    if not (path / "config.json").is_file():
        raise ValidationError(
            f"{path}: not a Hugging Face model directory (no config.json); save one with "
            "model.save_pretrained(DIR) and tokenizer.save_pretrained(DIR)"
        )
    return path


def count_parameters(path: Path) -> int:
    """Parameter count from safetensors headers (8-byte length + JSON), without loading
    torch or the weights."""
    total = 0
    for file in sorted(path.glob("*.safetensors")):
        with open(file, "rb") as fh:
            (length,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(length))
        for name, info in header.items():
            if name != "__metadata__":
                count = 1
                for dim in info["shape"]:
                    count *= dim
                total += count
    return total


def _write_user_spec(model_id: str, data: dict[str, Any]) -> None:
    target = user_hub_dir() / f"{model_id}.json"
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(target)  # atomic: a reader never sees half a spec


def register_model(model_id: str, path: str | Path, **spec_fields: Any) -> ModelSpec:
    """Registers a local Hugging Face directory.

    For an existing id or alias (e.g. "huggingface-text2text-flan-t5-small") the directory
    becomes that model's weights. Otherwise a new model is added, its architecture and task
    inferred from config.json (`is_encoder_decoder`); `spec_fields` override any field."""
    model_dir = check_model_dir(path)
    existing = find_spec(model_id)
    if existing is not None:
        source = existing.source.model_dump(exclude_none=True) | {"path": str(model_dir)}
        overlay = {"model_id": existing.model_id, "source": source, **spec_fields}
        _validate({**existing.model_dump(mode="json"), **overlay}, f"model {existing.model_id!r}")
        if not existing.builtin:
            overlay = {**existing.model_dump(mode="json"), **overlay}
        _write_user_spec(existing.model_id, overlay)
        log.info("registered %s as the weights of %s", model_dir, existing.model_id)
        return get_model_spec(existing.model_id)

    bad = set(model_id) - MODEL_ID_CHARS
    if not model_id or bad:
        raise ValidationError(
            f"invalid model id {model_id!r}: use letters, digits, '-', '_' and '.'"
        )
    config = _read_json(model_dir / "config.json")
    seq2seq = bool(config.get("is_encoder_decoder"))
    family_name = "flan-t5" if seq2seq else "causal-lm"
    family = _families()[family_name]
    hidden = config.get("d_model") or config.get("hidden_size") or config.get("n_embd")
    layers = config.get("num_hidden_layers") or config.get("n_layer")
    if seq2seq and config.get("num_layers"):
        layers = config["num_layers"] + config.get("num_decoder_layers", config["num_layers"])
    data: dict[str, Any] = {
        "model_id": model_id,
        "version": "1.0.0",
        "display_name": model_id,
        "description": f"registered from {model_dir}",
        "task": family["task"],
        "framework": "huggingface",
        "architecture": family["architecture"],
        "training_supported": True,
        "source": {"type": "local", "path": str(model_dir)},
        "hyperparameter_family": family_name,
        "default_hyperparameters": dict(family["default_hyperparameters"]),
        "parameters": count_parameters(model_dir) or 1,
        "context_length": config.get("max_position_embeddings") or config.get("n_positions"),
        "hidden_size": hidden,
        "num_layers": layers,
        "payload_format": family["payload_format"],
        **spec_fields,
    }
    spec = _validate(data, f"model {model_id!r}")
    _write_user_spec(model_id, spec.model_dump(mode="json"))
    log.info("registered new model %s (%s) from %s", model_id, spec.architecture, model_dir)
    return spec
