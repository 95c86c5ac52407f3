"""From a request to a plan: the rules between fields (checked before any process starts), the
hyperparameter mapping onto the trainer, and the search space.

Hyperparameters, Autopilot's names -> the trainer's (causal-lm / flan-t5 families):
    epochCount -> epoch, batchSize -> per_device_train_batch_size,
    learningRate -> learning_rate, learningRateWarmupSteps -> warmup_steps
and, in a search only, loraRank -> lora_r. Causal models also get instruction_tuned=True: the
records are prompt/response pairs and only the response is trained on."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from springboard.automl.basemodels import OFFLINE_DEFAULT, check_weights, resolve_base_model
from springboard.automl.request import (
    CSV,
    PARQUET,
    CreateAutoMLJobV2Request,
    ParameterRange,
    member_path,
)
from springboard.errors import HyperparameterError, ValidationError

TG = ("AutoMLProblemTypeConfig", "TextGenerationJobConfig")
HP_LOC = (*TG, "TextGenerationHyperParameters")
RANGES_LOC = (*TG, "CandidateGenerationConfig", "HyperParameterRanges")


@dataclass(frozen=True)
class HyperParameter:
    name: str  # Autopilot's key
    target: str  # the trainer's key
    kind: Literal["int", "float"]
    low: float
    high: float
    low_open: bool = False  # learningRate: AWS allows "0", the trainer needs > 0

    def parse(self, value: str) -> float | int:
        """The number in `value`, or ValueError with the constraint in words."""
        text = value.strip()
        try:
            number: float | int = int(text) if self.kind == "int" else float(text)
        except ValueError:
            number = math.nan
        bad_low = number <= self.low if self.low_open else number < self.low
        if math.isnan(number) or math.isinf(number) or bad_low or number > self.high:
            raise ValueError(self.rule())
        return number

    def rule(self) -> str:
        what = "an integer" if self.kind == "int" else "a number"
        low = f"greater than {_fmt(self.low)}" if self.low_open else f"from {_fmt(self.low)}"
        return f"Member must be {what} {low} {'and at most' if self.low_open else 'to'} {_fmt(self.high)}"


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


HYPERPARAMETERS = {
    "epochCount": HyperParameter("epochCount", "epoch", "int", 1, 10),
    "batchSize": HyperParameter("batchSize", "per_device_train_batch_size", "int", 1, 64),
    "learningRate": HyperParameter("learningRate", "learning_rate", "float", 0, 1, low_open=True),
    "learningRateWarmupSteps": HyperParameter("learningRateWarmupSteps", "warmup_steps", "int", 0, 250),
}
SEARCH_ONLY = {"loraRank": HyperParameter("loraRank", "lora_r", "int", 1, 256)}
SEARCHABLE = {**HYPERPARAMETERS, **SEARCH_ONLY}

# Searched when MaxCandidates > 1 for every key the request neither fixes nor ranges.
DEFAULT_RANGES: dict[str, ParameterRange] = {
    "learningRate": ParameterRange(MinValue="0.00001", MaxValue="0.001", ScalingType="Logarithmic"),
    "epochCount": ParameterRange(MinValue="1", MaxValue="3"),
    "batchSize": ParameterRange(Values=["2", "4", "8"]),
    "learningRateWarmupSteps": ParameterRange(MinValue="0", MaxValue="20"),
    "loraRank": ParameterRange(Values=["4", "8", "16"]),
}

# Objective metrics (AWS's standard metric names for LLMs) and their direction.
OBJECTIVES: dict[str, Literal["Minimize", "Maximize"]] = {
    "ValidationLoss": "Minimize",
    "TrainingLoss": "Minimize",
    "Perplexity": "Minimize",
    "Rouge1": "Maximize",
    "Rouge2": "Maximize",
    "RougeL": "Maximize",
    "RougeLSum": "Maximize",
}
DEFAULT_OBJECTIVE = "ValidationLoss"


class PlanModel(BaseModel):
    name: str  # as requested
    model_id: str
    architecture: str
    family: str
    defaults: dict[str, str]


class Dimension(BaseModel):
    """One searched hyperparameter: an int/float range or categorical values (strings)."""

    name: str
    kind: Literal["int", "float", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    values: list[str] | None = None


class Plan(BaseModel):
    """Everything the AutoML job needs besides the request; stored in the job's config."""

    job_name: str
    base_models: list[PlanModel]
    fixed: dict[str, str] = Field(description="Autopilot-named hyperparameters every candidate uses")
    search: list[Dimension]
    max_candidates: int
    max_runtime_per_training_job: int | None
    max_job_runtime: int | None
    objective: str
    direction: Literal["Minimize", "Maximize"]
    validation_fraction: float | None = Field(description="None when a validation channel is given")
    accept_eula: bool
    seed: int
    pruning: bool
    max_evaluation_records: int
    output_path: str | None
    deploy: bool
    endpoint_name: str | None

    @property
    def searching(self) -> bool:
        return self.max_candidates > 1

    def model(self, model_id: str) -> PlanModel:
        return next(m for m in self.base_models if m.model_id == model_id)


def training_hyperparameters(model: PlanModel, values: dict[str, str]) -> dict[str, str]:
    """Autopilot-named values -> the trainer's string hyperparameters for `model`."""
    out = {SEARCHABLE[key].target: str(value) for key, value in values.items()}
    if model.family == "causal-lm":
        out["instruction_tuned"] = "True"
    return out


def build_plan(request: CreateAutoMLJobV2Request, check_models: bool = True) -> Plan:
    """Checks the rules between fields and resolves names; raises ValidationError listing
    every broken rule, AWS style, or the hub's NotFound/ModelUnavailable error for a model."""
    errors: list[str] = []

    def bad(loc: tuple[Any, ...], value: Any, rule: str) -> None:
        shown = "null" if value is None else f"'{value}'"
        errors.append(f"Value {shown} at '{member_path(loc)}' failed to satisfy constraint: {rule}")

    _require_text_generation(request)
    tg = request.text_generation
    gen = tg.CandidateGenerationConfig
    _check_channels(request, bad, errors)
    fraction = _validation_fraction(request, bad, errors)
    deploy = request.ModelDeployConfig
    _check_deploy(deploy, errors)
    fixed = _check_hyperparameters(tg.TextGenerationHyperParameters or {}, bad)
    criteria = request.criteria
    max_candidates = criteria.MaxCandidates or 1
    search = _search_space(gen, max_candidates, fixed, bad, errors)
    objective = _objective(request, gen, bad, errors)
    if errors:
        n = len(errors)
        raise ValidationError(f"{n} validation error{'s' if n != 1 else ''} detected: " + "; ".join(errors))

    accept = bool(tg.ModelAccessConfig and tg.ModelAccessConfig.AcceptEula)
    models = _base_models(tg, max_candidates, fixed, accept, check_models)
    output = request.OutputDataConfig.S3OutputPath if request.OutputDataConfig else None
    return Plan(
        job_name=request.AutoMLJobName,
        base_models=models,
        fixed=fixed,
        search=search,
        max_candidates=max_candidates,
        max_runtime_per_training_job=criteria.MaxRuntimePerTrainingJobInSeconds,
        max_job_runtime=criteria.MaxAutoMLJobRuntimeInSeconds,
        objective=objective,
        direction=OBJECTIVES[objective],
        validation_fraction=fraction,
        accept_eula=accept,
        seed=gen.Seed if gen else 0,
        pruning=(gen.EnablePruning if gen else True) and objective in ("ValidationLoss", "Perplexity"),
        max_evaluation_records=gen.MaxEvaluationRecords if gen else 32,
        output_path=output,
        deploy=bool(deploy and (deploy.AutoGenerateEndpointName or deploy.EndpointName)),
        endpoint_name=deploy.EndpointName if deploy else None,
    )


def _require_text_generation(request: CreateAutoMLJobV2Request) -> None:
    problem = request.AutoMLProblemTypeConfig
    others = [k for k in ("ImageClassificationJobConfig", "TextClassificationJobConfig",
                          "TimeSeriesForecastingJobConfig", "TabularJobConfig") if getattr(problem, k) is not None]
    if others or problem.TextGenerationJobConfig is None:
        raise ValidationError(
            "1 validation error detected: AutoMLProblemTypeConfig must hold exactly one problem type, "
            "and Springboard runs TextGenerationJobConfig only"
            + (f" (got {', '.join(others)})" if others else "")
        )


def _validation_fraction(request: CreateAutoMLJobV2Request, bad, errors: list[str]) -> float | None:
    """The part of the training channel held out for validation; None with a validation channel."""
    split = request.DataSplitConfig.ValidationFraction if request.DataSplitConfig else None
    has_validation = any(c.channel_type == "validation" for c in request.AutoMLJobInputDataConfig)
    if split is not None and has_validation:
        errors.append(
            "DataSplitConfig.ValidationFraction cannot be set when a validation channel is given "
            "in AutoMLJobInputDataConfig: the validation channel is the validation set"
        )
    fraction = None if has_validation else (0.2 if split is None else split)
    if fraction is not None and not 0 < fraction < 1:
        bad(("DataSplitConfig", "ValidationFraction"), split,
            "Member must be greater than 0 and less than 1 without a validation channel "
            "(the candidates need validation data to be ranked, and training data to learn)")
    return fraction


def _check_deploy(deploy: Any, errors: list[str]) -> None:
    if deploy is not None and deploy.AutoGenerateEndpointName and deploy.EndpointName:
        errors.append(
            "ModelDeployConfig: set either AutoGenerateEndpointName to true or EndpointName, not both"
        )


def _search_space(gen: Any, max_candidates: int, fixed: dict[str, str], bad, errors: list[str]) -> list[Dimension]:
    """The hyperparameter ranges the candidates are drawn from (none for a single candidate)."""
    if gen is not None and max_candidates == 1:
        errors.append(
            "TextGenerationJobConfig.CandidateGenerationConfig (a Springboard extension) configures a "
            "search: set CompletionCriteria.MaxCandidates greater than 1"
        )
    if max_candidates <= 1:
        return []
    ranges = dict(gen.HyperParameterRanges or {}) if gen else {}
    return _check_ranges(ranges, fixed, bad, errors)


def _objective(request: CreateAutoMLJobV2Request, gen: Any, bad, errors: list[str]) -> str:
    objective = request.AutoMLJobObjective.MetricName if request.AutoMLJobObjective else DEFAULT_OBJECTIVE
    if objective not in OBJECTIVES:
        bad(("AutoMLJobObjective", "MetricName"), objective,
            f"Member must satisfy enum value set: [{', '.join(OBJECTIVES)}] for the TextGeneration problem type")
    elif objective.startswith("Rouge") and gen is not None and gen.MaxEvaluationRecords == 0:
        errors.append(f"AutoMLJobObjective {objective} needs CandidateGenerationConfig.MaxEvaluationRecords > 0")
    return objective


def _base_models(tg: Any, max_candidates: int, fixed: dict[str, str], accept: bool,
                 check_models: bool) -> list[PlanModel]:
    """The base models the candidates fine-tune, each resolved in the hub, its license accepted,
    its weights present (with `check_models`) and the fixed hyperparameters checked against it."""
    gen = tg.CandidateGenerationConfig
    names = list(gen.BaseModelNames) if gen and gen.BaseModelNames else []
    if tg.BaseModelName and names and tg.BaseModelName not in names:
        raise ValidationError(
            f"BaseModelName {tg.BaseModelName!r} is not among CandidateGenerationConfig.BaseModelNames {names}"
        )
    if not names:
        names = [tg.BaseModelName or OFFLINE_DEFAULT]
    if len(names) > 1 and max_candidates == 1:
        raise ValidationError("several BaseModelNames need CompletionCriteria.MaxCandidates greater than 1")
    models = []
    for i, name in enumerate(dict.fromkeys(names)):
        field = "BaseModelName" if not (gen and gen.BaseModelNames) else f"BaseModelNames[{i}]"
        base = resolve_base_model(name, field)
        if base.requires_eula and not accept:
            raise ValidationError(
                f"{field} {name!r} ({base.model_id}, license {base.license}) requires accepting its end-user "
                "license agreement: set AutoMLProblemTypeConfig.TextGenerationJobConfig.ModelAccessConfig."
                "AcceptEula to true"
            )
        if check_models:
            check_weights(base)
        model = PlanModel(name=name, model_id=base.model_id, architecture=base.architecture,
                          family=base.family, defaults=base.defaults)
        _preflight(model, fixed)
        models.append(model)
    return models


def _check_channels(request: CreateAutoMLJobV2Request, bad, errors: list[str]) -> None:
    channels = request.AutoMLJobInputDataConfig
    kinds = [c.channel_type for c in channels]
    if kinds.count("training") != 1:
        errors.append(
            f"AutoMLJobInputDataConfig must have exactly one channel with ChannelType 'training' "
            f"(a channel without ChannelType is a training channel); found {kinds.count('training')}"
        )
    for i, channel in enumerate(channels):
        loc = ("AutoMLJobInputDataConfig", i)
        if channel.DataSource.S3DataSource.S3DataType != "S3Prefix":
            bad((*loc, "DataSource", "S3DataSource", "S3DataType"), channel.DataSource.S3DataSource.S3DataType,
                "Member must satisfy enum value set: [S3Prefix] for the TextGeneration problem type")
        if channel.ContentType is not None and normalize_content_type(channel.ContentType) is None:
            bad((*loc, "ContentType"), channel.ContentType,
                f"Member must satisfy enum value set: [{CSV}, {PARQUET}] (text/csv is read as {CSV}: "
                "the header row names the input and output columns)")
        if not channel.uri.strip():
            bad((*loc, "DataSource", "S3DataSource", "S3Uri"), channel.uri, "Member must not be empty")
    types_given = {normalize_content_type(c.ContentType) for c in channels if c.ContentType}
    if len(types_given) > 1:
        errors.append("the training and validation channels must share the same ContentType")


def normalize_content_type(value: str | None) -> str | None:
    if value is None:
        return None
    text = value.replace(" ", "").lower()
    if text in (CSV, "text/csv"):
        # Plain text/csv (as seed 003's request says) is read the same way: the header row is
        # required anyway, since it names the `input` and `output` columns.
        return CSV
    return PARQUET if text == PARQUET else None


def _check_hyperparameters(values: dict[str, str], bad) -> dict[str, str]:
    fixed: dict[str, str] = {}
    for key, value in values.items():
        spec = HYPERPARAMETERS.get(key)
        if spec is None:
            bad((*HP_LOC, key), value, f"Member must be one of the keys: {', '.join(HYPERPARAMETERS)}")
            continue
        try:
            spec.parse(value)
        except ValueError as exc:
            bad((*HP_LOC, key), value, str(exc))
            continue
        fixed[key] = value.strip()
    return fixed


def _check_ranges(ranges: dict[str, ParameterRange], fixed: dict[str, str], bad, errors: list[str]) -> list[Dimension]:
    dims: list[Dimension] = []
    for key, rng in ranges.items():
        loc = (*RANGES_LOC, key)
        spec = SEARCHABLE.get(key)
        if spec is None:
            bad(loc, key, f"Member must be one of the keys: {', '.join(SEARCHABLE)}")
            continue
        if key in fixed:
            errors.append(f"hyperparameter {key} is both fixed in TextGenerationHyperParameters and "
                          "searched in CandidateGenerationConfig.HyperParameterRanges; keep one")
            continue
        dim = _dimension(key, spec, rng, loc, bad)
        if dim is not None:
            dims.append(dim)
    for key, rng in DEFAULT_RANGES.items():
        if key not in fixed and key not in ranges:
            dim = _dimension(key, SEARCHABLE[key], rng, (*RANGES_LOC, key), bad)
            if dim is not None:
                dims.append(dim)
    return dims


def _dimension(key: str, spec: HyperParameter, rng: ParameterRange, loc, bad) -> Dimension | None:
    if rng.Values is not None:
        if rng.MinValue is not None or rng.MaxValue is not None:
            bad(loc, key, "Member must give either Values or MinValue and MaxValue")
            return None
        for i, value in enumerate(rng.Values):
            try:
                spec.parse(value)
            except ValueError as exc:
                bad((*loc, "Values", i), value, str(exc))
                return None
        return Dimension(name=key, kind="categorical", values=[v.strip() for v in rng.Values])
    if rng.MinValue is None or rng.MaxValue is None:
        bad(loc, key, "Member must give either Values or both MinValue and MaxValue")
        return None
    bounds = []
    for part in ("MinValue", "MaxValue"):
        try:
            bounds.append(spec.parse(getattr(rng, part)))
        except ValueError as exc:
            bad((*loc, part), getattr(rng, part), str(exc))
            return None
    low, high = bounds
    if low > high:
        bad((*loc, "MinValue"), rng.MinValue, f"Member must be less than or equal to MaxValue {rng.MaxValue}")
        return None
    log = rng.ScalingType == "Logarithmic" or (rng.ScalingType == "Auto" and spec.kind == "float" and high / max(low, 1e-12) >= 100)
    if log and low <= 0:
        bad((*loc, "MinValue"), rng.MinValue, "Member must be greater than 0 for Logarithmic scaling")
        return None
    return Dimension(name=key, kind=spec.kind, low=float(low), high=float(high), log=log)


def _preflight(model: PlanModel, fixed: dict[str, str]) -> None:
    """The trainer's own schema check on the mapped values, so a value the trainer refuses
    fails now, naming the Autopilot key."""
    from springboard.train import hyperparameters as hps

    try:
        hps.parse(model.family, training_hyperparameters(model, fixed), model.defaults)
    except HyperparameterError as exc:
        raise ValidationError(f"TextGenerationHyperParameters for {model.name}: {exc}") from None
