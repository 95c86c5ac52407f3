"""A training job, end to end: resolve the model, read the data, train, save the artifact.
Runs inside a job worker process (`springboard.jobs`); `submit_training` starts one."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from springboard import jobs
from springboard.errors import HyperparameterError, NotFoundError, ValidationError
from springboard.train import hyperparameters as hps
from springboard.train.artifact import read_artifact

log = logging.getLogger("springboard.train")
ENTRYPOINT = "springboard.train.job:run"


class TrainingJobConfig(BaseModel):
    """Everything a training job needs; stored with the job, so `jobs describe` prints it."""

    model: str = Field(description="hub model id, training job name (fine-tune again) or local path")
    train: str
    validation: str | None = None
    hyperparameters: dict[str, str] = Field(default_factory=dict)
    output_path: str | None = None
    accept_eula: bool = False
    processes: int = Field(1, ge=1, le=64, description="training processes (SageMaker instance_count); >1 runs under accelerate launch")


def default_job_name(base: str) -> str:
    """SageMaker's `<base>-YYYY-MM-DD-HH-MM-SS-mmm`, within the 63-character rule."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d-%H-%M-%S-%f")[:-3]
    base = "".join(c if c.isalnum() else "-" for c in base).strip("-") or "job"
    base = base[: 63 - len(stamp) - 1].rstrip("-")
    return f"{base}-{stamp}"


def model_facts(model: str) -> tuple[str, str, dict[str, str], bool, str | None]:
    """(family, architecture, default hyperparameters, requires_eula, hub model id) for a model
    reference, without loading weights."""
    from springboard import hub

    try:
        spec = hub.get_model_spec(model)
    except NotFoundError:  # not a hub id: a path or a job's artifact
        spec = None
    if spec is not None:
        return (
            spec.hyperparameter_family,
            spec.architecture,
            dict(spec.default_hyperparameters),
            spec.requires_eula,
            spec.model_id,
        )
    path = hub.resolve_model(model)
    config = json.loads((Path(path) / "config.json").read_text())
    arch = "seq2seq" if config.get("is_encoder_decoder") else "causal"
    record = read_artifact(path) or {}
    base = record.get("base_model")
    defaults: dict[str, str] = {}
    if base:
        try:
            defaults = dict(hub.get_model_spec(base).default_hyperparameters)
        except NotFoundError:  # base no longer registered: the schema's defaults
            defaults = {}
    return hps.family_for(arch), arch, defaults, False, base


def validate_request(config: TrainingJobConfig) -> hps.Hyperparameters:
    """Checks what can be checked before a process starts: hyperparameters, EULA, paths."""
    family, _arch, defaults, eula, model_id = model_facts(config.model)
    if eula and not config.accept_eula:
        raise ValidationError(
            f"model {model_id} requires accepting its end-user license agreement: pass "
            "environment={'accept_eula': 'true'} (SDK) or --accept-eula (CLI)"
        )
    hp = hps.parse(family, config.hyperparameters, defaults)
    from springboard.train.distributed import plan_launch

    plan_launch(config.processes, bool(getattr(hp, "enable_fsdp", False)))  # refuses more processes than GPUs
    for channel, path in (("training", config.train), ("validation", config.validation)):
        if path and "://" not in path and not Path(path).exists():
            raise ValidationError(f"{channel} channel: no such file or directory: {path}")
    return hp


def submit_training(config: TrainingJobConfig, name: str | None = None, wait: bool = False) -> jobs.Job:
    validate_request(config)
    name = name or default_job_name(config.model.split("/")[-1])
    return jobs.submit("training", name, ENTRYPOINT, config.model_dump(), wait=wait)


def run(ctx: jobs.JobContext) -> None:
    """Job entrypoint (runs in the worker process). More than one process: the worker starts
    `accelerate launch`, whose ranks each run `train` (springboard.train.distributed)."""
    from springboard.train import distributed

    config = TrainingJobConfig(**ctx.config)
    family, _arch, defaults, _eula, _model_id = model_facts(config.model)
    hp = hps.parse(family, config.hyperparameters, defaults)
    plan = distributed.plan_launch(config.processes, bool(getattr(hp, "enable_fsdp", False)))
    for note in plan.notes:
        ctx.log.info("%s", note)
    if plan.distributed:
        ctx.update_config(launch=plan.describe())
        distributed.launch(ctx, plan)
    else:
        train(ctx, distributed.single())


def train(ctx: jobs.JobContext, dist) -> None:
    """The training itself, on one process or as one rank of several (`dist`)."""
    import torch

    from springboard import hub
    from springboard.data import DataOptions, prepare_data
    from springboard.train.artifact import save_artifact
    from springboard.train.loop import fit, load_model

    config = TrainingJobConfig(**ctx.config)
    family, arch, defaults, _eula, model_id = model_facts(config.model)
    hp = hps.parse(family, config.hyperparameters, defaults)

    ctx.set_secondary_status("Downloading", f"resolving model {config.model} and reading {config.train}")
    model_dir = Path(hub.resolve_model(config.model))
    device = dist.device
    model, tokenizer, seq2seq = load_model(model_dir, hp, device)

    context = _context_length(model, tokenizer)
    max_len = hp.max_input_length if hp.max_input_length > 0 else context
    if max_len > context:
        log.info("max_input_length %d capped at the model's context %d", max_len, context)
        max_len = context
    instruction = getattr(hp, "instruction_tuned", True) if not seq2seq else True
    chat = getattr(hp, "chat_dataset", False)
    if seq2seq and (getattr(hp, "instruction_tuned", True) is False):
        raise HyperparameterError("hyperparameter 'instruction_tuned': domain adaptation needs a causal model")
    options = DataOptions(
        architecture="seq2seq" if seq2seq else "causal",
        instruction_tuned=bool(instruction or chat),
        chat_dataset=bool(chat),
        use_chat_template=hp.use_chat_template,
        max_input_length=max_len,
        max_output_length=getattr(hp, "max_output_length", 128),
        validation_split_ratio=hp.validation_split_ratio,
        split_seed=hp.train_data_split_seed,
        max_train_samples=hp.max_train_samples,
        max_val_samples=hp.max_val_samples,
        packing=getattr(hp, "packing", None),
        train_on_inputs=hp.train_on_inputs,
        preprocessing_num_workers=hp.preprocessing_num_workers,
    )
    data = prepare_data(config.train, tokenizer, options, validation=config.validation)
    ctx.update_config(resolved_hyperparameters=hp.model_dump(), data_stats=_plain(data.stats))

    ctx.set_secondary_status("Training", f"{len(data.train)} training / {len(data.validation)} validation examples")
    started = time.time()
    model = dist.prepare_model(model)
    result = fit(
        model, tokenizer, data.train, data.validation, hp, ctx, ctx.checkpoint_dir, seq2seq, device, dist
    )
    model = dist.model_for_saving(model, rebuild=lambda: load_model(model_dir, hp, torch.device("cpu"))[0])
    if model is None:  # not rank 0: rank 0 writes the artifact
        return

    ctx.set_secondary_status("Uploading", "saving the model artifact")
    out = Path(ctx.output_dir)
    record: dict[str, Any] = {
        "base_model": model_id or config.model,
        "base_model_path": str(model_dir),
        "method": "lora" if hp.peft_type == "lora" else "full",
        "architecture": arch,
        "task": "text2text" if seq2seq else "text-generation",
        "hyperparameters": hp.model_dump(),
        "data_fingerprint": data.fingerprint,
        "training_job": ctx.name,
        "processes": dist.world_size,
        "metrics": {
            "train_loss": result.train_loss,
            "val_loss": result.val_loss,
            "perplexity": result.perplexity,
            "initial_val_loss": result.initial_val_loss,
            "tokens_per_second": result.tokens_per_second,
            "train_tokens": result.train_tokens,
            "global_step": result.global_step,
            "training_seconds": time.time() - started,
        },
    }
    save_artifact(model, tokenizer, model_dir, out, merge=hp.merge_weights, record=record)
    if config.output_path:
        _upload(out, config.output_path, ctx.name)
    ctx.log.info("artifact written to %s", out)


def _context_length(model, tokenizer) -> int:
    cfg = model.config
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(cfg, key, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and 0 < limit < 1_000_000 else 512


def _plain(stats: Any) -> Any:
    from dataclasses import asdict, is_dataclass

    return asdict(stats) if is_dataclass(stats) else stats


def _upload(local: Path, target: str, name: str) -> None:
    """Copies the artifact to the user's output location (any fsspec URI), SageMaker's
    `<output_path>/<job name>/output/model` layout."""
    import fsspec

    dest = target.rstrip("/") + f"/{name}/output/model"
    fs, root = fsspec.core.url_to_fs(dest)
    fs.put(str(local), root, recursive=True)
