"""resolve_model: any model reference a user may type → a local Hugging Face directory.

A reference is, in this order: a directory; a hub id or alias (or the model's HF repo id);
a training job name (its artifact); an HF repo id already in the local HF cache. Nothing is
downloaded: offline is the default, so a missing model fails with how to provide it."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from springboard import settings, storage
from springboard.errors import ModelUnavailableError, NotFoundError, ValidationError
from springboard.hub.catalog import check_model_dir, close_matches, find_spec, known_names
from springboard.hub.spec import ModelSpec

log = logging.getLogger("springboard.hub")

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def resolve_model(ref: str | Path) -> Path:
    """The local HF directory for `ref` (config.json, safetensors, tokenizer files).

    Converts the packaged GGUF on first use of the default model (torch is imported only
    then). Raises NotFoundError for an unknown reference (with close matches) and
    ModelUnavailableError for a known model whose weights are not on this machine."""
    text = str(ref).strip()
    if not text:
        raise ValidationError("empty model reference")
    path = Path(text.removeprefix("file://")).expanduser()
    if storage.is_local_dir(path):
        return check_model_dir(path)
    if isinstance(ref, Path) or text.startswith(("/", "./", "../", "~", "file://")):
        raise NotFoundError(f"{path}: no such model directory")

    spec = find_spec(text)
    if spec is not None:
        return weights_dir(spec)

    job_dir = job_artifact(text)
    if job_dir is not None:
        return job_dir

    if _REPO_ID.match(text):
        cached = _hf_cache(text)
        if cached is not None:
            return check_model_dir(cached)
        raise ModelUnavailableError(
            f"{text!r} is not a Springboard model and is not in the local Hugging Face cache. "
            + _how_to_provide(text, text)
        )
    raise NotFoundError(
        f"no model directory, model id/alias or training job named {text!r}"
        + close_matches(text, known_names() + _training_job_names())
    )


def weights_dir(spec: ModelSpec) -> Path:
    src = spec.source
    if src.path:
        path = Path(src.path)
        if not path.is_dir():
            raise ModelUnavailableError(
                f"model {spec.model_id!r} is registered at {path}, which no longer exists; "
                f"register it again with `springboard models register {spec.model_id} --path DIR`"
            )
        return check_model_dir(path)
    if src.type == "gguf_package":
        from springboard.hub.convert import ensure_converted

        return ensure_converted(spec)
    if src.type == "hf_hub" and src.repo_id:
        cached = _hf_cache(src.repo_id)
        if cached is not None:
            return check_model_dir(cached)
        eula = (
            f" {spec.model_id} is gated: accept its license ({spec.license}) on the Hugging Face "
            f"page of {src.repo_id} before downloading."
            if spec.requires_eula
            else ""
        )
        raise ModelUnavailableError(
            f"weights for {spec.model_id!r} ({src.repo_id}) are not on this machine and "
            f"Springboard does not download models. {_how_to_provide(spec.model_id, src.repo_id)}"
            + eula
        )
    raise ModelUnavailableError(f"model {spec.model_id!r} has no usable source")


def local_weights(spec: ModelSpec) -> Path | None:
    """The weights directory if it is already on this machine, without converting or
    raising: for listings."""
    from springboard.hub.convert import gguf_path, is_current, source_fingerprint

    src = spec.source
    if src.path:
        return Path(src.path) if (Path(src.path) / "config.json").is_file() else None
    if src.type == "gguf_package":
        try:
            gguf = gguf_path(spec)
        except ModelUnavailableError:
            return None
        target = settings.models_dir() / spec.model_id
        return target if is_current(target, source_fingerprint(spec, gguf)) else None
    if src.type == "hf_hub" and src.repo_id:
        return _hf_cache(src.repo_id)
    return None


def gguf_available(spec: ModelSpec) -> bool:
    from springboard.hub.convert import gguf_path

    try:
        gguf_path(spec)
    except ModelUnavailableError:
        return False
    return True


def _how_to_provide(model_id: str, repo_id: str) -> str:
    return (
        "Provide the weights either way: (1) register a local Hugging Face directory with "
        f"`springboard models register {model_id} --path DIR`; or (2) on a connected machine run "
        f"`huggingface-cli download {repo_id}` and copy its Hugging Face cache "
        "(~/.cache/huggingface/hub, or HF_HOME/HF_HUB_CACHE) to this machine."
    )


def _hf_cache(repo_id: str) -> Path | None:
    """A complete snapshot of `repo_id` in the local HF cache, or None. Never downloads."""
    try:
        from huggingface_hub import snapshot_download

        path = Path(snapshot_download(repo_id, local_files_only=True))
    except Exception as exc:  # noqa: BLE001 - any hub error means "not cached"; keep it quiet
        log.debug("%s not in the local HF cache: %s", repo_id, exc)
        return None
    return path if (path / "config.json").is_file() else None


def _training_job_names() -> list[str]:
    if not settings.jobs_db().exists():
        return []
    from springboard.jobs import JobStore

    return [job.name for job in JobStore().list(kind="training")]


def job_artifact(name: str) -> Path | None:
    # Don't create a job database just to look a name up.
    if not settings.jobs_db().exists():
        return None
    from springboard.jobs import JobStore

    store = JobStore()
    if not store.exists(name):
        return None
    job = store.get(name)
    if job.kind != "training":
        raise ValidationError(
            f"job {name!r} is a {job.kind} job, not a training job, so it has no model artifact"
        )
    if job.status != "Completed":
        reason = f" ({job.failure_reason})" if job.failure_reason else ""
        raise ModelUnavailableError(
            f"training job {name!r} is {job.status}{reason}; only a Completed training job has "
            "a model artifact to use"
        )
    output = Path(job.output_dir)
    if not (output / "config.json").is_file():
        raise ModelUnavailableError(
            f"training job {name!r} is Completed but its artifact {output} has no config.json"
        )
    return output
