"""A transform job's configuration (SageMaker's CreateTransformJob knobs) and the parsing of
generation parameters: `environment["HYPER_PARAMS"]` (a Python-literal dict, as JumpStart's
notebooks build it with `str(dict)`) and per-record JumpStart text2text parameters."""

from __future__ import annotations

import ast
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from springboard.errors import HyperparameterError, ValidationError
from springboard.errors import problems as pydantic_problems
from springboard.transform.jsonpath import JSONPath

ContentType = Literal["application/jsonlines", "application/json", "text/csv", "text/plain"]
# JumpStart text2text per-record parameters (the FLAN-T5 container's request fields).
RECORD_PARAMS = (
    "max_length",
    "max_new_tokens",
    "num_return_sequences",
    "num_beams",
    "top_p",
    "top_k",
    "temperature",
    "do_sample",
    "seed",
    "early_stopping",
    "no_repeat_ngram_size",
)
ACCEPTS = ("application/jsonlines", "application/json", "application/json;verbose", "text/csv")
DEFAULT_BATCH_SIZE = 8
# Requests (batches) a worker has in flight when MaxConcurrentTransforms is 0 or unset: what this
# container's execution-parameters would say (SageMaker asks the container in that case).
DEFAULT_CONCURRENT_TRANSFORMS = 4


class TransformConfig(BaseModel):
    """Everything a transform job needs; stored as the job's config.

    Deviation from SageMaker: `split_type` and `assemble_with` default to `Line` (SageMaker's
    API default is None), because every JSON Lines transform sets them and a whole JSONL file
    sent as one record is never what a user means."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="hub model id, training job name or artifact path")
    input: str = Field(description="an input file, or a directory whose every file is processed")
    output: str = Field(description="output directory; `<relative input path>.out` files go here")
    content_type: ContentType = "application/jsonlines"
    split_type: Literal["Line", "None"] = "Line"
    batch_strategy: Literal["MultiRecord", "SingleRecord"] = "MultiRecord"
    max_payload: float = Field(6.0, ge=0, le=100, description="MB per request; 0 = no limit")
    assemble_with: Literal["Line", "None"] = "Line"
    accept: str = "application/jsonlines"
    environment: dict[str, str] = Field(default_factory=dict)
    join_source: Literal["Input", "None"] = "None"
    input_filter: str = "$"
    output_filter: str = "$"
    on_error: Literal["fail", "error_line"] = Field(
        "fail",
        description="fail: SageMaker's semantics (a file with a failed record gets no .out and "
        "the job ends Failed); error_line: a failed record gets an {'error': ...} line instead",
    )
    chat: bool | None = Field(
        None,
        description="the prompt-format switch as a flag: true = SPRINGBOARD_PROMPT_FORMAT=chat, false = raw; "
        "None: the environment's SPRINGBOARD_PROMPT_FORMAT, else the model's own format (generate/prompting.py)",
    )
    instance_count: int = Field(1, ge=1, le=64, description="workers, each with its own engine")
    max_concurrent_transforms: int = Field(
        0, ge=0, le=64,
        description="batches a worker has in flight at once (SageMaker's MaxConcurrentTransforms); on a causal "
        f"model their records share one continuous batch; 0: the default, {DEFAULT_CONCURRENT_TRANSFORMS}",
    )
    runner: Literal["local", "spark"] = Field(
        "local", description="local: a process pool of instance_count workers; spark: a Spark job"
    )
    master: str | None = Field(None, description="Spark master URL (runner spark; default local[N])")

    @field_validator("on_error", mode="before")
    @classmethod
    def _on_error(cls, v: Any) -> Any:
        return v.replace("-", "_") if isinstance(v, str) else v

    @field_validator("model")
    @classmethod
    def _strip_file_scheme(cls, v: str) -> str:
        if v.startswith("file://"):
            return v[len("file://") :]
        if re.match(r"^[a-z][a-z0-9+.-]*://", v):
            raise ValueError(f"a model is a hub id, job name or local path, not {v!r}")
        return v

    @field_validator("input", "output")
    @classmethod
    def _location(cls, v: str) -> str:
        from springboard import storage

        if v.startswith("file://"):
            return v[len("file://") :]
        kind = storage.scheme(v)
        if kind not in ("file", "s3", "s3a"):
            raise ValueError(f"use a local path, file:// or s3:// location, not {v!r}")
        return v

    @field_validator("accept")
    @classmethod
    def _accept(cls, v: str) -> str:
        norm = v.replace(" ", "").lower()
        if norm not in ACCEPTS:
            raise ValueError(f"accept must be one of {', '.join(ACCEPTS)}, not {v!r}")
        return norm

    @field_validator("input_filter", "output_filter")
    @classmethod
    def _path(cls, v: str) -> str:
        try:
            JSONPath(v)
        except ValidationError as exc:
            raise ValueError(str(exc)) from None
        if not v.strip().startswith("$"):
            raise ValueError(f"a JSONPath starts with '$': {v!r}")
        return v

    @model_validator(mode="after")
    def _params(self) -> TransformConfig:
        if self.content_type == "text/csv" and self.split_type == "None":
            raise ValueError("content_type text/csv needs split_type 'Line'")
        hyper_params(self.environment)  # fail at submit time, not in the worker
        from springboard.generate import prompting
        from springboard.generate.precision import from_environment

        try:
            from_environment(self.environment)
            env_format = prompting.from_environment(self.environment)
        except ValidationError as exc:
            raise ValueError(f"environment {exc}") from None
        flag = prompting.chat_setting(self.chat)
        if flag and env_format not in (None, "auto", flag):
            raise ValueError(f"chat={self.chat} and environment {prompting.PROMPT_FORMAT_ENV}={env_format} "
                             "disagree (they are the same switch)")
        if self.master and self.runner != "spark":
            raise ValueError("master is a Spark setting: use it with runner 'spark'")
        return self

    @property
    def prompt_format(self) -> str | None:
        """The prompt-format switch this job sets (`chat`, else its environment), or None."""
        from springboard.generate.prompting import chat_setting, from_environment

        return chat_setting(self.chat) or from_environment(self.environment)

    @property
    def max_payload_bytes(self) -> int | None:
        return int(self.max_payload * 1024 * 1024) if self.max_payload > 0 else None


def make_config(**values: Any) -> TransformConfig:
    """A TransformConfig, with pydantic's errors turned into one ValidationError naming the
    fields (so the CLI prints them without a traceback)."""
    import pydantic

    try:
        return TransformConfig(**values)
    except pydantic.ValidationError as exc:
        problems = "; ".join(f"{p.field or 'config'}: {p.message}" for p in pydantic_problems(exc))
        raise ValidationError(f"invalid transform configuration: {problems}") from None


class HyperParams(BaseModel):
    """`HYPER_PARAMS` parsed: generation parameters for every record, plus the batch size."""

    params: dict[str, Any]
    batch_size: int | None = None


def hyper_params(environment: dict[str, str]) -> HyperParams | None:
    """Parses `environment["HYPER_PARAMS"]` with `ast.literal_eval` (never `eval`)."""
    raw = environment.get("HYPER_PARAMS")
    if raw is None:
        return None
    try:
        value = ast.literal_eval(raw.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise HyperparameterError(
            f"environment HYPER_PARAMS must be a Python or JSON dict literal such as "
            f"\"{{'max_length': 50, 'top_k': 50}}\"; could not parse {raw[:200]!r}: {exc}"
        ) from None
    if not isinstance(value, dict):
        raise HyperparameterError(
            f"environment HYPER_PARAMS must be a dict literal, got {type(value).__name__}"
        )
    params = dict(value)
    batch_size = params.pop("batch_size", None)
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        raise HyperparameterError(
            f"HYPER_PARAMS 'batch_size' must be an integer >= 1, got {batch_size!r}"
        )
    unknown = sorted(set(params) - set(RECORD_PARAMS))
    if unknown:
        raise HyperparameterError(
            f"HYPER_PARAMS has unknown key(s) {', '.join(map(repr, unknown))}; "
            f"allowed: batch_size, {', '.join(RECORD_PARAMS)}"
        )
    try:
        to_generation_params(params)
    except ValidationError as exc:
        raise HyperparameterError(f"HYPER_PARAMS: {exc}") from None
    return HyperParams(params=params, batch_size=batch_size)


LENGTH_KEYS = ("max_length", "max_new_tokens")


def record_params(record: dict[str, Any]) -> dict[str, Any]:
    """The generation parameters a record carries: JumpStart text2text's top-level keys (other
    keys, such as `id` or a reference field, are data) and a `"parameters": {...}` object (any
    generation parameter, as in the TGI payload). Raises ValueError for a `parameters` that is
    not an object or that contradicts a top-level key."""
    params = {k: record[k] for k in RECORD_PARAMS if k in record}
    extra = record.get("parameters")
    if extra is None:
        return params
    if not isinstance(extra, dict):
        raise ValueError(f"'parameters' must be an object, got {type(extra).__name__}")
    for key, value in extra.items():
        if key in params and params[key] != value:
            raise ValueError(f"{key!r} is given both at the top level ({params[key]!r}) and in "
                             f"'parameters' ({value!r})")
    return {**params, **extra}


def merge_params(record: dict[str, Any], hyper: dict[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    """A record's parameters under HYPER_PARAMS: HYPER_PARAMS wins key by key (max_length and
    max_new_tokens count as one length key), the record's other keys apply. Returns the merged
    parameters and the record's keys that HYPER_PARAMS overrode."""
    if not hyper:
        return dict(record), []
    overridden = [k for k in record if k in hyper and record[k] != hyper[k]]
    merged = dict(record)
    if any(k in hyper for k in LENGTH_KEYS):
        overridden += [k for k in LENGTH_KEYS if k in record and k not in hyper]
        for k in LENGTH_KEYS:
            merged.pop(k, None)
    merged.update(hyper)
    return merged, sorted(set(overridden))


def to_generation_params(params: dict[str, Any]):
    """`GenerationParams` from JumpStart text2text parameters (`max_length` bounds the output
    on every model); a bad value raises a DataError naming the field and the rule."""
    from springboard.generate.params import text2text_params

    return text2text_params(params)
