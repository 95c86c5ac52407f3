"""LoRA adapters attached to a loaded Engine (Engine.attach_adapter): checks what is attached
and that it was trained on the engine's model, and loads it into the engine's PeftModel, whose
MultiLoRA (generate/lora.py) gives each row of a scheduler batch its own adapter. The engine
holds the state: `adapters` (name -> directory), `peft`, `lora`."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from springboard import storage
from springboard.errors import DataError, NotFoundError
from springboard.generate.cpu import apart

if TYPE_CHECKING:
    from springboard.generate.engine import Engine
    from springboard.generate.requests import GenerationRequest

log = logging.getLogger("springboard.generate")


def attach(engine: Engine, name: str, ref: str | Path) -> Path:
    """Attaches a LoRA adapter (a training job's artifact: `adapter/` + springboard.json, or a
    peft adapter directory) under `name`, on the model already loaded: the base weights are not
    reloaded. The adapter's base model must be the engine's."""
    if not name or name == "__base__" or ":" in name or len(name) > 128:
        raise DataError(f"adapter name {name!r} is not allowed (1-128 characters, no ':', not __base__)",
                        field="name")
    if engine.is_seq2seq:
        raise DataError("LoRA adapters are served on causal models only", field="artifact")
    artifact = Path(str(ref)).expanduser()
    if not storage.is_local_dir(artifact):  # a training job's name
        from springboard.hub.resolve import job_artifact

        job_dir = job_artifact(str(ref))
        if job_dir is None:
            raise NotFoundError(f"no training job or directory named {str(ref)!r}")
        artifact = Path(job_dir)
    adapter_dir = artifact / "adapter" if (artifact / "adapter" / "adapter_config.json").is_file() else artifact
    if not (adapter_dir / "adapter_config.json").is_file():
        raise DataError(f"{artifact} holds no LoRA adapter (no adapter/adapter_config.json): only LoRA "
                        "training jobs' artifacts can be attached", field="artifact")
    check_base(engine, artifact, adapter_dir)
    with engine.lock:
        apart(lambda: load(engine, name, adapter_dir))
    log.info("adapter %s attached from %s", name, adapter_dir)
    return adapter_dir


def load(engine: Engine, name: str, adapter_dir: Path) -> None:
    """Loads the adapter's weights into the engine's PeftModel (made on the first one)."""
    from peft import PeftModel
    from peft.tuners.tuners_utils import BaseTunerLayer

    from springboard.generate.lora import MultiLoRA

    if name in engine.adapters:
        raise DataError(f"adapter {name!r} is already attached (attached: {', '.join(engine.adapters)})",
                        field="name")
    try:
        if engine.peft is None:
            engine.peft = PeftModel.from_pretrained(engine.model, str(adapter_dir), adapter_name=name)
            engine.lora = MultiLoRA(engine.peft)
        else:
            engine.peft.load_adapter(str(adapter_dir), adapter_name=name)
    except Exception as exc:  # a corrupt or foreign adapter directory
        raise DataError(f"cannot load the LoRA adapter at {adapter_dir}: {type(exc).__name__}: {exc}",
                        field="artifact") from exc
    engine.peft.eval()
    try:
        engine.lora.add(name)
    except DataError:
        if not engine.lora.names:  # the first adapter: leave the plain model as it was
            engine.model = engine.peft.unload()
            engine.peft = engine.lora = None
        raise
    # No adapter is active for plain calls of engine.model (generate(), scoring): they stay the
    # base model's; scheduler rows pick theirs through engine.lora.rows().
    for module in engine.model.modules():
        if isinstance(module, BaseTunerLayer):
            module.set_adapter([])
    engine.adapters[name] = adapter_dir


def check_base(engine: Engine, artifact: Path, adapter_dir: Path) -> None:
    """Refuses an adapter whose recorded base model is not the engine's."""
    from springboard.generate.loading import resolve_ref

    names: list[str] = []
    meta = artifact / "springboard.json"
    if meta.is_file():
        base = json.loads(meta.read_text()).get("base_model")
        if base:
            names.append(str(base))
    if not names:
        base = json.loads((adapter_dir / "adapter_config.json").read_text()).get("base_model_name_or_path")
        if base:
            names.append(str(base))
    mine = {str(engine.model_dir.resolve()), str(getattr(engine.spec, "model_id", "") or "")}
    for base in names:
        if base in mine:
            return
        try:
            if str(resolve_ref(base).resolve()) in mine:
                return
        except Exception:  # noqa: BLE001 - an unknown base is a mismatch, reported below
            pass
    raise DataError(f"adapter at {adapter_dir} was trained on {names[0] if names else 'an unnamed base model'}, "
                    f"not on this endpoint's model ({engine.model_dir})", field="artifact")


def check_attached(engine: Engine, requests: Sequence[GenerationRequest]) -> None:
    """Every adapter the requests name is attached to the engine."""
    for request in requests:
        name = request.params.adapter
        if name is not None and name not in engine.adapters:
            attached = ", ".join(sorted(engine.adapters)) or "none"
            raise DataError(f"adapter {name!r} is not attached to this endpoint (attached: {attached})",
                            field="adapter_id")
