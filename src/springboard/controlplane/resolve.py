"""Mapping SageMaker's container-centric model locations onto Springboard model references
(what `springboard deploy` and the rooms accept: a hub id, a training job name or a local
artifact directory).

A location (`ModelDataUrl`, `ModelDataSource.S3DataSource.S3Uri`, a `model` training channel)
is, in this order:
1. the output of a Springboard training job (its `S3ModelArtifacts`, its output directory or
   anything under its `<output path>/<job>/output/`): that job's local artifact;
2. with the JumpStart SDK's tag `sagemaker-sdk:jumpstart-model-id`: the catalog model it names
   (the SDK's S3 location of JumpStart's own artifacts is never downloaded); an artifact URI of
   our exported JumpStart specs (`.../springboard-jumpstart/<id>/<version>/inference/`) names its
   catalog model without tags;
3. a local directory or `file://` URI of one: that artifact, in place; a local `model.tar.gz`:
   unpacked into an immutable copy named by its content (`published_copy`);
4. any other `s3://` location (prefix or `model.tar.gz`): downloaded, through storage.py, into
   such a copy;
5. a bare hub model id or alias, or a training job name.
Without a location, the JumpStart tag or `Environment.HF_MODEL_ID` (a catalog id) names it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from springboard import jobs, settings, storage
from springboard.controlplane.common import tag_value
from springboard.controlplane.protocol import validation
from springboard.errors import NotFoundError

JUMPSTART_ID = "sagemaker-sdk:jumpstart-model-id"
JUMPSTART_VERSION = "sagemaker-sdk:jumpstart-model-version"

NEEDS = (
    "Springboard needs to know which model to use: a ModelDataUrl (or ModelDataSource S3Uri) that "
    "is a training job's output, an artifact directory, file:// URI, s3:// prefix or model.tar.gz, "
    "or a catalog model id (as ModelDataUrl, as the tag sagemaker-sdk:jumpstart-model-id, or as "
    "Environment HF_MODEL_ID); `springboard models list` shows the catalog"
)


def container_location(container: dict[str, Any]) -> str | None:
    if container.get("ModelDataUrl"):
        return container["ModelDataUrl"]
    source = (container.get("ModelDataSource") or {}).get("S3DataSource") or {}
    return source.get("S3Uri")


def container_accepts_eula(container: dict[str, Any]) -> bool:
    source = (container.get("ModelDataSource") or {}).get("S3DataSource") or {}
    access = source.get("ModelAccessConfig") or {}
    env = container.get("Environment") or {}
    return bool(access.get("AcceptEula")) or str(env.get("accept_eula", "")).lower() == "true"


def catalog_id(model_id: str, version: str | None, where: str) -> str:
    from springboard import hub

    try:
        spec = hub.get_model_spec(model_id, version or "*")
    except NotFoundError as exc:
        raise validation(f"{where}: {exc}; {NEEDS}") from None
    return spec.model_id


def model_reference(
    location: str | None,
    tags: list[dict[str, str]],
    environment: dict[str, str] | None,
    where: str,
) -> str:
    """The Springboard model reference for a SageMaker model location (see the module doc)."""
    jumpstart = tag_value(tags, JUMPSTART_ID)
    version = tag_value(tags, JUMPSTART_VERSION)
    if location:
        job = training_job_for(location)
        if job is not None:
            return job
        if jumpstart:
            return catalog_id(jumpstart, version, where)
        ours = jumpstart_artifact(location)
        if ours is not None:
            return catalog_id(ours.model_id, ours.version, where)
        return _location(location, where)
    if jumpstart:
        return catalog_id(jumpstart, version, where)
    hf_id = (environment or {}).get("HF_MODEL_ID")
    if hf_id:
        return catalog_id(hf_id, None, f"{where} Environment HF_MODEL_ID")
    raise validation(f"{where}: no model location. {NEEDS}")


def jumpstart_artifact(location: str) -> Any:
    """The catalog model a JumpStart artifact URI from our exported specs names (the SDK sends
    them without tags from `Model.transformer`, for instance), or None."""
    from springboard.hub.jumpstart import parse_artifact_uri

    ref = parse_artifact_uri(location)
    return ref if ref is not None and ref.kind in ("inference", "training") else None


def _location(location: str, where: str) -> str:
    kind = storage.scheme(location)
    if kind == "file":
        path = storage.local_path(location)
        if path.exists():
            if path.is_dir():
                return str(path.resolve())  # the user's own artifact directory, used in place
            return str(published_copy(str(path.resolve())))
        if "/" not in location and not location.startswith("file://"):
            return _named(location, where)
        raise validation(f"{where}: {location} does not exist. {NEEDS}")
    if kind in ("s3", "s3a"):
        if not storage.exists(location):
            raise validation(f"{where}: {location} does not exist (S3 endpoint from AWS_ENDPOINT_URL_S3 / "
                             f"AWS_ENDPOINT_URL / the profile). {NEEDS}")
        return str(published_copy(location))
    raise validation(f"{where}: unsupported location {location!r}. {NEEDS}")


def artifacts_dir() -> Path:
    return settings.home() / "controlplane" / "artifacts"


def published_copy(location: str) -> Path:
    """An immutable local copy of a model.tar.gz or remote prefix, named by its content
    (`artifacts/<sha256 of the unpacked tree>`). It is unpacked into a staging folder and renamed
    into place whole, never rewritten: an endpoint created from it keeps serving those weights
    when a model of the same name is deleted and made again from other files (rewriting the
    folder under a memory-mapped weights file killed the server with SIGBUS). A refused or
    unreadable tarball leaves nothing behind."""
    import shutil
    import tempfile

    root = artifacts_dir()
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    try:
        fetched = storage.fetch(location, staging)
        final = root / tree_digest(fetched)
        if not final.exists():
            try:
                os.rename(fetched, final)
            except OSError:
                if not final.exists():  # not merely a concurrent copy of the same content
                    raise
        return final.resolve()
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def tree_digest(folder: Path) -> str:
    """sha256 over a folder's relative file names and contents (the identity of an artifact)."""
    import hashlib

    total = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        total.update(path.relative_to(folder).as_posix().encode("utf-8") + b"\0")
        with open(path, "rb") as f:
            total.update(hashlib.file_digest(f, "sha256").digest())
    return total.hexdigest()


def _named(name: str, where: str) -> str:
    from springboard.hub.catalog import find_spec

    spec = find_spec(name)
    if spec is not None:
        return spec.model_id
    store = jobs.JobStore()
    if store.exists(name):
        return _completed_artifact(store.get(name), where)
    raise validation(f"{where}: {name!r} is not a path, catalog model id or training job. {NEEDS}")


def _completed_artifact(job: jobs.Job, where: str) -> str:
    job = jobs.refresh(job.name)
    if job.kind != "training":
        raise validation(f"{where}: {job.name!r} is a {job.kind} job, not a training job")
    if job.status != "Completed":
        raise validation(f"{where}: training job {job.name} is {job.status}; its model is ready once it is Completed")
    return job.output_dir


def output_locations(job: jobs.Job) -> list[str]:
    """Where a training job's model is found: its local artifact and its published copy."""
    out = [job.output_dir]
    path = job.config.get("output_path")
    if path:
        out.append(storage.join(path, job.name, "output"))
    return out


def training_job_for(location: str) -> str | None:
    """The local artifact of the training job whose output `location` names, if any."""
    wanted = location.rstrip("/").removeprefix("file://")
    store = jobs.JobStore()
    for job in store.list(kind="training"):
        for known in output_locations(job):
            known = known.rstrip("/").removeprefix("file://")
            if wanted == known or wanted.startswith(known + "/"):
                return _completed_artifact(job, f"model location {location}")
    return None
