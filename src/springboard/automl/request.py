"""The CreateAutoMLJobV2 request: pydantic shapes with the AWS field names, so a request written
for SageMaker (JSON, YAML, or the dict given to boto3) loads unchanged.

Structural errors read like the AWS service's ValidationException ("1 validation error
detected: Value 'x' at 'autoMLJobName' failed to satisfy constraint: ...") and name the member
path in AWS's camelCase form; an unknown field reads like botocore's parameter check and names
the field as the user spelled it. Rules between fields (one training channel, the split
fraction, the deploy config, hyperparameter values) live in `springboard.automl.validate`.

Differences from AWS, on purpose: `S3Uri` and `S3OutputPath` may be local paths or `file://`
URIs as well as `s3://`; `RoleArn`, `Tags`, `SecurityConfig`, `KmsKeyId` and
`AutoMLComputeConfig` are accepted (so a request carries over) and ignored;
`TextGenerationJobConfig.CandidateGenerationConfig` is a Springboard extension (a search over
base models and hyperparameters, see `CandidateGenerationConfig`)."""

from __future__ import annotations

import json
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from springboard.errors import Problem, ValidationError, problems

JOB_NAME_PATTERN = r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}"
ENDPOINT_NAME_PATTERN = r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
BASE_MODEL_PATTERN = r"[a-zA-Z0-9](-*[a-zA-Z0-9])*"

CSV = "text/csv;header=present"
PARQUET = "x-application/vnd.amazon+parquet"


def _full(pattern: str) -> str:
    # AWS patterns match the whole value; pydantic's `pattern` searches, so anchor it.
    return f"^(?:{pattern})$"


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- data ----------------------------------------------------------------------------------


class AutoMLS3DataSource(_Shape):
    S3DataType: Literal["ManifestFile", "S3Prefix", "AugmentedManifestFile"]
    S3Uri: str = Field(max_length=1024, description="s3://, file:// or a local path (file, directory or prefix)")


class AutoMLDataSource(_Shape):
    S3DataSource: AutoMLS3DataSource


class AutoMLJobChannel(_Shape):
    ChannelType: Literal["training", "validation"] | None = Field(None, description="default training")
    ContentType: str | None = Field(None, max_length=256, description=f"{CSV} or {PARQUET}")
    CompressionType: Literal["None", "Gzip"] | None = None
    DataSource: AutoMLDataSource

    @property
    def channel_type(self) -> str:
        return self.ChannelType or "training"

    @property
    def uri(self) -> str:
        return self.DataSource.S3DataSource.S3Uri

    @property
    def gzip(self) -> bool:
        return self.CompressionType == "Gzip"


class AutoMLOutputDataConfig(_Shape):
    KmsKeyId: str | None = Field(None, max_length=2048)
    S3OutputPath: str | None = Field(None, max_length=1024, description="where the best model and the report are copied")


class AutoMLDataSplitConfig(_Shape):
    ValidationFraction: float | None = Field(None, ge=0, le=1)


# --- problem type --------------------------------------------------------------------------


class AutoMLJobCompletionCriteria(_Shape):
    MaxCandidates: int | None = Field(None, ge=1, le=750)
    MaxRuntimePerTrainingJobInSeconds: int | None = Field(None, ge=1)
    MaxAutoMLJobRuntimeInSeconds: int | None = Field(None, ge=1)


class ModelAccess(_Shape):
    AcceptEula: bool


class ParameterRange(_Shape):
    """One searched hyperparameter (Springboard extension), in SageMaker tuning's words:
    `MinValue`/`MaxValue` (strings) with `ScalingType`, or a list of categorical `Values`."""

    MinValue: str | None = Field(None, max_length=16)
    MaxValue: str | None = Field(None, max_length=16)
    ScalingType: Literal["Auto", "Linear", "Logarithmic"] = "Auto"
    Values: list[str] | None = Field(None, min_length=1, max_length=30)


class CandidateGeneration(_Shape):
    """Springboard extension (not in the AWS API): what to search when MaxCandidates > 1.

    - `BaseModelNames`: base models to choose among (default: [BaseModelName]).
    - `HyperParameterRanges`: per key (epochCount, batchSize, learningRate,
      learningRateWarmupSteps, and loraRank), a range or a value list. Keys fixed in
      TextGenerationHyperParameters are not searched; other keys get a default range.
    - `Seed`: the sampler's seed; the same request gives the same candidates.
    - `EnablePruning`: stop a candidate whose intermediate validation loss is worse than the
      median of the finished candidates at the same step (Optuna's MedianPruner).
    - `MaxEvaluationRecords`: validation records generated per candidate for the ROUGE
      metrics (0 skips ROUGE)."""

    BaseModelNames: list[str] | None = Field(None, min_length=1, max_length=20)
    HyperParameterRanges: dict[str, ParameterRange] | None = None
    Seed: int = Field(0, ge=0, le=2**31 - 1)
    EnablePruning: bool = True
    MaxEvaluationRecords: int = Field(32, ge=0, le=100_000)


class TextGenerationJob(_Shape):
    CompletionCriteria: AutoMLJobCompletionCriteria | None = None
    BaseModelName: str | None = Field(None, min_length=1, max_length=256, pattern=_full(BASE_MODEL_PATTERN))
    TextGenerationHyperParameters: dict[str, str] | None = Field(None, max_length=30)
    ModelAccessConfig: ModelAccess | None = None
    CandidateGenerationConfig: CandidateGeneration | None = None


class ProblemTypeConfig(_Shape):
    TextGenerationJobConfig: TextGenerationJob | None = None
    # Other problem types parse (a SageMaker request may name them) and are refused by name.
    ImageClassificationJobConfig: dict[str, Any] | None = None
    TextClassificationJobConfig: dict[str, Any] | None = None
    TimeSeriesForecastingJobConfig: dict[str, Any] | None = None
    TabularJobConfig: dict[str, Any] | None = None


class JobObjective(_Shape):
    MetricName: str


class DeployConfig(_Shape):
    AutoGenerateEndpointName: bool | None = None
    EndpointName: str | None = Field(None, max_length=63, pattern=_full(ENDPOINT_NAME_PATTERN))


class CreateAutoMLJobV2Request(_Shape):
    AutoMLJobName: str = Field(min_length=1, max_length=32, pattern=_full(JOB_NAME_PATTERN))
    AutoMLJobInputDataConfig: list[AutoMLJobChannel] = Field(min_length=1, max_length=2)
    OutputDataConfig: AutoMLOutputDataConfig | None = None
    AutoMLProblemTypeConfig: ProblemTypeConfig
    AutoMLJobObjective: JobObjective | None = None
    ModelDeployConfig: DeployConfig | None = None
    DataSplitConfig: AutoMLDataSplitConfig | None = None
    # Accepted for compatibility, ignored on this machine.
    RoleArn: str | None = Field(None, max_length=2048)
    Tags: list[dict[str, str]] | None = Field(None, max_length=50)
    SecurityConfig: dict[str, Any] | None = None
    AutoMLComputeConfig: dict[str, Any] | None = None

    @property
    def text_generation(self) -> TextGenerationJob:
        return self.AutoMLProblemTypeConfig.TextGenerationJobConfig or TextGenerationJob()

    @property
    def criteria(self) -> AutoMLJobCompletionCriteria:
        return self.text_generation.CompletionCriteria or AutoMLJobCompletionCriteria()

    def to_dict(self) -> dict[str, Any]:
        """The request as the user would send it (unset members left out)."""
        return self.model_dump(mode="json", exclude_none=True, exclude_unset=True)


# --- loading and AWS-style messages -------------------------------------------------------


def parse_request(data: dict[str, Any] | CreateAutoMLJobV2Request) -> CreateAutoMLJobV2Request:
    """Validates a request dict's shape; errors are AWS-style ValidationErrors."""
    if isinstance(data, CreateAutoMLJobV2Request):
        return data
    if not isinstance(data, dict):
        raise ValidationError(f"an AutoML request must be a JSON/YAML object, not {type(data).__name__}")
    try:
        return CreateAutoMLJobV2Request.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ValidationError(aws_message(exc, CreateAutoMLJobV2Request)) from None


def load_request(path: str | Path) -> CreateAutoMLJobV2Request:
    """A request from a .json, .yaml or .yml file (by content: JSON is YAML too)."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ValidationError(f"{p}: no such request file")
    text = p.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{p}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ValidationError(f"{p}{where}: invalid YAML: {getattr(exc, 'problem', None) or exc}") from None
    try:
        return parse_request(data)
    except ValidationError as exc:
        raise ValidationError(f"{p}: {exc}") from None


def member_path(loc: tuple[Any, ...]) -> str:
    """AWS's member path: camelCase names, 1-based list indexes as `N.member`."""
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"{part + 1}.member")
        else:
            parts.append(part[:1].lower() + part[1:])
    return ".".join(parts)


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return "'" + json.dumps(value)[:200] + "'"
    return f"'{value}'"


def _constraint(err: Problem) -> str:
    kind, ctx = err.type, err.ctx
    if kind == "missing":
        return "Member must not be null"
    if kind in ("string_too_short", "too_short"):
        return f"Member must have length greater than or equal to {ctx.get('min_length')}"
    if kind in ("string_too_long", "too_long"):
        return f"Member must have length less than or equal to {ctx.get('max_length')}"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        if pattern.startswith("^(?:") and pattern.endswith(")$"):
            pattern = pattern[4:-2]
        return f"Member must satisfy regular expression pattern: {pattern}"
    if kind == "literal_error":
        values = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        return f"Member must satisfy enum value set: [{', '.join(values)}]"
    if kind in ("greater_than_equal", "greater_than"):
        bound = ctx.get("ge", ctx.get("gt"))
        return f"Member must have value greater than {'or equal to ' if kind.endswith('equal') else ''}{bound}"
    if kind in ("less_than_equal", "less_than"):
        bound = ctx.get("le", ctx.get("lt"))
        return f"Member must have value less than {'or equal to ' if kind.endswith('equal') else ''}{bound}"
    for prefix, name in (("int", "integer"), ("float", "number"), ("bool", "boolean"), ("string", "string"),
                         ("list", "list"), ("dict", "structure"), ("model", "structure")):
        if kind.startswith(prefix):
            return f"Member must be of type {name}"
    return "Member " + err.message[:1].lower() + err.message[1:]


def aws_message(exc: pydantic.ValidationError, root: type[BaseModel]) -> str:
    """'N validation error(s) detected: ...' in the AWS service's words."""
    messages = []
    for err in problems(exc):
        loc = err.loc
        if err.type == "extra_forbidden":
            parent = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc[:-1]).replace(".[", "[")
            model = _model_at(root, loc[:-1])
            known = ", ".join(model.model_fields) if model else ""
            messages.append(
                f'Unknown parameter in {parent or "input"}: "{loc[-1]}", must be one of: {known}'
            )
            continue
        value = None if err.type == "missing" else err.input
        messages.append(f"Value {_show(value)} at '{member_path(loc)}' failed to satisfy constraint: {_constraint(err)}")
    n = len(messages)
    return f"{n} validation error{'s' if n != 1 else ''} detected: " + "; ".join(messages)


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class at a location, walking field annotations (through lists, dict values
    and Optional)."""
    current: Any = root
    expect_key = False
    for part in loc:
        if isinstance(part, int):
            continue
        if expect_key:  # a dict key (e.g. a hyperparameter name): the value type follows
            expect_key = False
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)) or part not in current.model_fields:
            return None
        current, expect_key = _inner(current.model_fields[part].annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _inner(annotation: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                return _inner(arg)
    if origin is list:
        return _inner(typing.get_args(annotation)[0])
    if origin is dict:
        return _inner(typing.get_args(annotation)[1])[0], True
    return annotation, False
