"""A training job, end to end: resolve the model, read the data, train, save the artifact.
Runs inside a job worker process (`springboard.jobs`): the job kind `training`, started by
`jobs.submit(TrainingJobConfig(...))`."""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from springboard import jobs
from springboard.errors import HyperparameterError, NotFoundError, ValidationError
from springboard.train import hyperparameters as hps
from springboard.train.artifact import read_artifact

log = logging.getLogger("springboard.train")


class TrainingJobConfig(BaseModel):
    """Everything a training job needs; stored with the job, so `jobs describe` prints it."""

    model: str = Field(description="hub model id, training job name (fine-tune again) or local path")
    train: str
    validation: str | None = None
    test: str | None = Field(None, description="test channel: evaluated after training (test_loss, test_perplexity)")
    hyperparameters: dict[str, str] = Field(default_factory=dict)
    output_path: str | None = None
    output_compression: Literal["gzip", "none"] = Field(
        "gzip", description="on a remote output_path: model.tar.gz (gzip, SageMaker's default) or the "
        "directory as a prefix (none, SageMaker's OutputDataConfig.CompressionType NONE)")
    accept_eula: bool = False
    processes: int = Field(1, ge=1, le=64, description="training processes (SageMaker instance_count); >1 runs under accelerate launch")


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
    if getattr(hp, "int8_quantization", False) and config.processes > 1:
        raise HyperparameterError("hyperparameter 'int8_quantization': True runs on one process only (instance_count=1)")
    for channel, path in (("training", config.train), ("validation", config.validation), ("test", config.test)):
        if path and "://" not in path and not Path(path).exists():
            raise ValidationError(f"{channel} channel: no such file or directory: {path}")
    return hp


@dataclass
class Preflight:
    """What a training request was found to be before its job starts."""

    hyperparameters: hps.Hyperparameters
    train_examples: int
    validation_examples: int
    warnings: list[str]


def preflight(config: TrainingJobConfig) -> Preflight:
    """Every check that needs no training, run before the job exists, so bad input is an
    error in the caller (the CLI exits non-zero with it) and not a failed job: hyperparameters,
    EULA, LoRA target modules against the model's modules (no weights read), and the data
    itself, read and tokenized exactly as the job will (file, line and field on error). The
    warnings say when the schedule cannot teach the model (train/schedule.py)."""
    from transformers import AutoConfig, AutoTokenizer

    from springboard import hub
    from springboard.data import prepare_data
    from springboard.train.modeling import check_lora_targets
    from springboard.train.schedule import schedule_problems

    hp = validate_request(config)
    model_dir = Path(hub.resolve_model(config.model))
    check_lora_targets(model_dir, hp)
    model_config = AutoConfig.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    seq2seq = bool(getattr(model_config, "is_encoder_decoder", False))
    options = data_options(hp, seq2seq, _context_length(model_config, tokenizer))
    data = prepare_data(config.train, tokenizer, options, validation=config.validation)
    if config.test:
        _test_examples(config.test, tokenizer, options)
    warnings = schedule_problems(hp, len(data.train), processes=config.processes)
    return Preflight(hp, len(data.train), len(data.validation), warnings)


def check_job_name(name: str) -> str:
    """A training job's name must not be a hub model id or alias: model references resolve to
    the hub model first, so such a job could never be used by its name."""
    from springboard.hub.catalog import find_spec

    jobs.validate_name(name)
    spec = find_spec(name)
    if spec is not None:
        raise ValidationError(
            f"training job name {name!r} is taken by the hub model {spec.model_id}: a model reference "
            "names the hub model first, so the job's artifact could not be used by this name; choose another"
        )
    return name


def _prepare(config: TrainingJobConfig, name: str | None) -> dict[str, Any]:
    """At submit time: the name (not a hub model's) and the request (`preflight`); the schedule
    warnings are stored in the job's config (`describe` shows them as Warnings)."""
    if name:
        check_job_name(name)
    check = preflight(config)
    return {"warnings": check.warnings} if check.warnings else {}


def run(ctx: jobs.JobContext, config: TrainingJobConfig) -> None:
    """The job's body (runs in the worker process). More than one process: the worker starts
    `accelerate launch`, whose ranks each run `train` (springboard.train.distributed)."""
    from springboard.train import distributed

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
    from springboard.data import prepare_data
    from springboard.train.artifact import save_artifact
    from springboard.train.forward import evaluate
    from springboard.train.loop import fit
    from springboard.train.modeling import adapter_state, load_model, merge_base, precision_for, stores_reduced_base
    from springboard.train.schedule import schedule_problems

    config = TrainingJobConfig(**ctx.config)
    family, arch, defaults, _eula, model_id = model_facts(config.model)
    hp = hps.parse(family, config.hyperparameters, defaults)

    ctx.set_secondary_status("Downloading", f"resolving model {config.model} and reading {config.train}")
    model_dir = Path(hub.resolve_model(config.model))
    device = dist.device
    precision = agreed_precision(precision_for(hp, device), dist)
    ctx.log.info("%s", precision.describe())
    model, tokenizer, seq2seq = load_model(model_dir, hp, device, precision)

    options = data_options(hp, seq2seq, _context_length(model.config, tokenizer))
    data = prepare_data(config.train, tokenizer, options, validation=config.validation)
    test = _test_examples(config.test, tokenizer, options) if config.test else []
    ctx.update_config(resolved_hyperparameters=hp.model_dump(), data_stats=_plain(data.stats),
                      precision={"name": precision.name, "requested": precision.requested, "reason": precision.reason})
    for problem in schedule_problems(hp, len(data.train), processes=config.processes):
        ctx.warn(problem)

    # DescribeTrainingJob shows this message in SecondaryStatusTransitions (the Training entry).
    ctx.set_secondary_status(
        "Training", f"{len(data.train)} training / {len(data.validation)} validation examples; {precision.describe()}"
    )
    started = time.time()
    model = dist.prepare_model(model)
    result = fit(
        model, tokenizer, data.train, data.validation, hp, ctx, ctx.checkpoint_dir, seq2seq, device, dist, precision
    )
    test_metrics: dict[str, float] = {}
    if test:
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
        test_loss = evaluate(model, test, hp, seq2seq, pad_id, device, dist, precision)
        if test_loss is not None:
            test_metrics = {"test_loss": test_loss, "test_perplexity": math.exp(min(test_loss, 50.0))}
            ctx.log_metrics(step=result.global_step, values=test_metrics)
            ctx.log.info("test channel (%d examples): test_loss %.4f", len(test), test_loss)
    model = dist.model_for_saving(model, rebuild=lambda: load_model(model_dir, hp, torch.device("cpu"))[0])
    if model is None:  # not rank 0: rank 0 writes the artifact
        return
    if stores_reduced_base(hp, device, precision):
        adapter = adapter_state(model)
        del model  # the training model goes before the base is read again (a 7B twice does not fit)
        model = merge_base(adapter, model_dir, hp)

    # From here a stop request is refused: the job ends Completed with its whole artifact.
    ctx.enter_final("Uploading", "saving the model artifact")
    out = Path(ctx.output_dir)
    from springboard.generate.prompting import recorded_format

    record: dict[str, Any] = {
        "base_model": model_id or config.model,
        "base_model_path": str(model_dir),
        "method": "lora" if hp.peft_type == "lora" else "full",
        "architecture": arch,
        "task": "text2text" if seq2seq else "text-generation",
        "hyperparameters": hp.model_dump(),
        # how plain prompts are rendered when this artifact serves (generate/prompting.py)
        "prompt_format": recorded_format(bool(getattr(hp, "chat_dataset", False)),
                                         bool(getattr(hp, "use_chat_template", False)), seq2seq),
        "precision": {"name": precision.name, "requested": precision.requested, "reason": precision.reason},
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
            **test_metrics,
        },
    }
    save_artifact(model, tokenizer, model_dir, out, merge=hp.merge_weights, record=record)
    if config.output_path:
        _upload(out, config.output_path, ctx.name, compress=config.output_compression == "gzip")
    ctx.log.info("artifact written to %s", out)


def agreed_precision(precision, dist):
    """Every rank computes in one precision: each probes its own CPU, and a rank whose probe
    said float32 (a busy core while it measured) makes all of them float32."""
    from springboard.hardware import Precision

    if dist.world_size == 1:
        return precision
    (float32_ranks,) = dist.sum([0.0 if precision.bf16 else 1.0])
    if precision.bf16 and float32_ranks:
        return Precision("float32", precision.requested, "another training process found bf16 no faster")
    return precision


def data_options(hp: hps.Hyperparameters, seq2seq: bool, context: int):
    """How the job reads its data, from the hyperparameters and the model."""
    from springboard.data import DataOptions

    max_len = hp.max_input_length if hp.max_input_length > 0 else context
    if max_len > context:
        log.info("max_input_length %d capped at the model's context %d", max_len, context)
        max_len = context
    instruction = getattr(hp, "instruction_tuned", True) if not seq2seq else True
    chat = getattr(hp, "chat_dataset", False)
    if seq2seq and (getattr(hp, "instruction_tuned", True) is False):
        raise HyperparameterError("hyperparameter 'instruction_tuned': domain adaptation needs a causal model")
    return DataOptions(
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


def _test_examples(path: str, tokenizer, options) -> list:
    """The whole test channel, tokenized as training data (no split, no sampling cap)."""
    from dataclasses import replace

    from springboard.data import prepare_data

    test_options = replace(options, validation_split_ratio=0.0, max_train_samples=-1, max_val_samples=-1)
    return prepare_data(path, tokenizer, test_options).train


def _context_length(cfg, tokenizer) -> int:
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(cfg, key, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and 0 < limit < 1_000_000 else 512


def _plain(stats: Any) -> Any:
    from dataclasses import asdict, is_dataclass

    return asdict(stats) if is_dataclass(stats) else stats


def _upload(local: Path, target: str, name: str, compress: bool = True) -> None:
    """Publishes the artifact at the user's output location, SageMaker's layout: on S3 (any
    remote store) `<output_path>/<job name>/output/model.tar.gz`, as ModelArtifacts reports it;
    a local output path, or compress=False, gets the directory `<output_path>/<job name>/output/model`."""
    from springboard import storage

    if storage.is_remote(target) and compress:
        storage.publish_tarball(local, storage.join(target, name, "output", "model.tar.gz"))
    else:
        storage.upload_dir(local, storage.join(target, name, "output", "model"))


def _progress(job: jobs.Job, metrics: list[jobs.Metric]) -> tuple[float, float | None]:
    steps = [m.step for m in metrics if m.name == "train_loss" and m.step is not None]
    return (steps[-1] if steps else 0), job.config.get("total_steps")


def _notes(job: jobs.Job) -> list[str]:
    return [f"model artifact: {job.output_dir}"] if job.status == "Completed" else []


JOB_KIND = jobs.register(jobs.JobKind(
    "training", TrainingJobConfig, run, name_base=lambda config: config.model, prepare=_prepare,
    progress=_progress, headline=("train_loss", "val_loss", "tokens_per_second"), notes=_notes,
))
