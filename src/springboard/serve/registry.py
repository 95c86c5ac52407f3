"""The endpoint registry: one JSON file per endpoint under `settings.endpoints_dir()`, so the
endpoints a server hosts survive it and `springboard endpoints list` works without it.

A name becomes a path only through `_path`, which checks it against SageMaker's endpoint name
rule first (`endpoint_name`): `../decoy` or `a/b` never reach the file system."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from springboard import settings
from springboard.errors import ConflictError, NotFoundError
from springboard.jobs import validate_name


def endpoint_name(name: str) -> str:
    """`name` if it follows SageMaker's endpoint name rule (1-63 letters, digits and hyphens);
    otherwise a ValidationError. The one check every endpoint name passes before use."""
    return validate_name(name, "endpoint")


EndpointStatus = Literal["Creating", "InService", "Updating", "Failed", "Deleting"]


class EndpointConfig(BaseModel):
    """What `deploy` asks for (the body of POST /springboard/endpoints)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    name: str
    model: str  # a hub model id, training job name or local path, as the user gave it
    batching: bool = True
    max_batch_size: int = Field(default=16, ge=1, le=256)
    max_wait_ms: float = Field(default=10.0, ge=0.0, le=10_000.0)
    device: str | None = None
    dtype: str | None = None  # DTYPE: float32 | bfloat16 | auto (generate/precision.py)
    quantize: str | None = None  # QUANTIZE: a GGUF type (q8_0, q4_1, ...) | auto
    # SPRINGBOARD_PROMPT_FORMAT: how plain-text prompts are rendered (generate/prompting.py);
    # None or "auto": the model's own format
    prompt_format: Literal["auto", "chat", "raw"] | None = None
    accept_eula: bool = False  # accepted at deploy time, like JumpStartModel.deploy(accept_eula=True)
    # LoRA adapters attached to the base model: name -> training job name or artifact path
    adapters: dict[str, str] = Field(default_factory=dict)


class AdapterAttach(BaseModel):
    """The body of POST /springboard/endpoints/{name}/adapters."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(min_length=1, max_length=128)
    artifact: str = Field(min_length=1, max_length=4096)  # a training job name or artifact path


class EndpointRecord(EndpointConfig):
    model_config = ConfigDict(extra="ignore", strict=True, allow_inf_nan=False)  # files of other versions load
    status: EndpointStatus = "Creating"
    failure_reason: str | None = None
    model_dir: str | None = None
    model_id: str | None = None  # the hub spec it was recognised as, if any
    # what the engine serves with and why: "<backend>:<weights> - <reason>" (generate/precision.py)
    precision: str | None = None
    creation_time: float = Field(default_factory=time.time)
    last_modified_time: float = Field(default_factory=time.time)


class EndpointRegistry:
    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root else settings.endpoints_dir()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, name: str) -> Path:
        return self.root / f"{endpoint_name(name)}.json"

    def create(self, config: EndpointConfig) -> EndpointRecord:
        if self._path(config.name).exists():
            existing = self.get(config.name)
            if existing.status != "Failed":
                raise ConflictError(f"endpoint {config.name!r} already exists (status {existing.status})")
        record = EndpointRecord(**config.model_dump())
        self.save(record)
        return record

    def save(self, record: EndpointRecord) -> EndpointRecord:
        record.last_modified_time = time.time()
        # A temp name per writer: the loader thread and a request may save the same endpoint.
        tmp = self._path(record.name).with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp")
        tmp.write_text(record.model_dump_json(indent=2))
        os.replace(tmp, self._path(record.name))
        return record

    def get(self, name: str) -> EndpointRecord:
        try:
            return EndpointRecord.model_validate(json.loads(self._path(name).read_text()))
        except FileNotFoundError:
            raise NotFoundError(f"Could not find endpoint \"{name}\".") from None

    def list(self) -> list[EndpointRecord]:
        records = []
        for path in sorted(self.root.glob("*.json")):
            try:
                records.append(EndpointRecord.model_validate(json.loads(path.read_text())))
            except (OSError, ValueError):
                continue  # half-written or foreign file
        return sorted(records, key=lambda r: r.creation_time)

    def delete(self, name: str) -> None:
        try:
            self._path(name).unlink()
        except FileNotFoundError:
            raise NotFoundError(f"Could not find endpoint \"{name}\".") from None
