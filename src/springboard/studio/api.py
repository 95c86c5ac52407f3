"""Studio's own JSON routes (`/studio/api/...`): thin views over the rooms' functions for what the
SageMaker control plane has no operation for. Actions (create/stop jobs, deploy, invoke) are not
here: the browser sends those to the control plane and the runtime like boto3 does.

Every location a body names goes through `storage.confine` (the home, SPRINGBOARD_DATA_ROOTS,
s3://, http(s) only where SPRINGBOARD_ALLOW_HTTP allows) before anything reads or writes it.

Errors are the SpringboardError family: 400 (bad input) / 403 (a location the server may not
use) / 404 (not found), body `{"message"}`."""

from __future__ import annotations

import functools
import json
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from springboard import settings, storage
from springboard.errors import AccessDeniedError, ConflictError, NotFoundError, SpringboardError, ValidationError, first_problem

router = APIRouter(prefix="/studio/api")

FACETS = ("task", "framework", "architecture", "training_supported", "requires_eula", "license")
PREVIEW_MAX = 20


def _error(exc: SpringboardError, **extra: Any) -> JSONResponse:
    status = (404 if isinstance(exc, NotFoundError) else 403 if isinstance(exc, AccessDeniedError)
              else 409 if isinstance(exc, ConflictError) else 400)
    return JSONResponse({"message": str(exc), "error": {"message": str(exc), "type": type(exc).__name__}} | extra,
                        status_code=status)


async def _call(func, *args, **kwargs) -> Any:
    try:
        return await run_in_threadpool(func, *args, **kwargs)
    except SpringboardError as exc:
        return _error(exc)
    except (OSError, ValueError) as exc:  # a location the user gave that cannot be read or written
        return _error(ValidationError(f"{type(exc).__name__}: {exc}"))


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# -- models ---------------------------------------------------------------------------------------


def _weights(spec) -> dict[str, Any]:
    from springboard.hub import local_weights
    from springboard.hub.resolve import _how_to_provide, gguf_available

    if local_weights(spec) is not None:
        return {"present": True, "state": "present", "how": ""}
    if spec.source.type == "gguf_package" and gguf_available(spec):
        return {"present": True, "state": "converted on first use (packaged GGUF)", "how": ""}
    return {"present": False, "state": "missing",
            "how": _how_to_provide(spec.model_id, spec.source.repo_id or spec.model_id)}


def _summary(spec) -> dict[str, Any]:
    data = spec.model_dump(mode="json")
    return {k: data[k] for k in ("model_id", "version", "display_name", "description", "task", "framework",
                                 "architecture", "training_supported", "requires_eula", "license",
                                 "parameters", "aliases")}


def _models(filters: list[str]) -> dict[str, Any]:
    from springboard.hub import And, list_specs

    expression = None
    filters = [f.strip() for f in filters if f.strip()]
    if filters:
        expression = filters[0] if len(filters) == 1 else And(*filters)
    every = list_specs(None)
    chosen = list_specs(expression)
    facets: dict[str, dict[str, int]] = {}
    for key in FACETS:
        counts = Counter(str(getattr(s, key)).lower() if isinstance(getattr(s, key), bool) else str(getattr(s, key))
                         for s in chosen)
        values = sorted({str(getattr(s, key)).lower() if isinstance(getattr(s, key), bool) else str(getattr(s, key))
                         for s in every})
        facets[key] = {v: counts.get(v, 0) for v in values}
    return {"models": [_summary(s) | {"weights": _weights(s)} for s in chosen], "facets": facets,
            "total": len(every)}


@router.get("/models")
async def models(filter: list[str] = Query(default=[])) -> Any:
    """The catalog filtered with JumpStart's filter language (each `filter` is one
    'FIELD OPERATOR VALUE'; several are And-ed), with per-field counts for facets."""
    return await _call(_models, filter)


def _schema(family: str) -> dict[str, dict[str, Any]]:
    from springboard.train.hyperparameters import FAMILIES

    symbols = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    out = {}
    for name, info in FAMILIES[family].model_fields.items():
        ann = str(info.annotation)
        kind = ("boolean" if "bool" in ann else "integer" if "int" in ann else "number" if "float" in ann
                else "choice" if "Literal" in ann else "string")
        entry: dict[str, Any] = {"type": kind, "default": info.default, "description": info.description or ""}
        bounds = [f"{symbols[n]} {getattr(m, n)}" for m in info.metadata for n in symbols
                  if getattr(m, n, None) is not None]
        if bounds:
            entry["range"] = " and ".join(bounds)
        for m in info.metadata:  # for number inputs' min/max (gt/lt: the nearest allowed bound)
            for n, key in (("ge", "minimum"), ("gt", "minimum"), ("le", "maximum"), ("lt", "maximum")):
                if getattr(m, n, None) is not None:
                    entry[key] = getattr(m, n)
                    if n in ("gt", "lt"):
                        entry[f"exclusive_{key}"] = True
        if kind == "choice":
            entry["choices"] = list(getattr(info.annotation, "__args__", ()))
        out[name] = entry
    return out


def _card(model_id: str) -> dict[str, Any]:
    from springboard.hub import get_model_spec
    from springboard.train.hyperparameters import ALIASES

    spec = get_model_spec(model_id)
    schema = _schema(spec.hyperparameter_family)
    hyperparameters = []
    for key, value in spec.default_hyperparameters.items():
        canon = ALIASES.get(key, key)
        hyperparameters.append({"name": key, "canonical": canon, "default": value,
                                **{k: v for k, v in schema.get(canon, {}).items()
                                                                    if k != "default"}})
    resources = {scope: spec.default_resources(scope).model_dump(mode="json") for scope in ("training", "inference")}
    return {"spec": spec.model_dump(mode="json"), "summary": _summary(spec), "hyperparameters": hyperparameters,
            "schema": schema, "resources": resources, "weights": _weights(spec)}


@router.get("/models/{model_id}")
async def model_card(model_id: str) -> Any:
    return await _call(_card, model_id)


class HyperparameterCheck(_Body):
    model: str
    hyperparameters: dict[str, str] = Field(default_factory=dict)


def _check_hp(body: HyperparameterCheck) -> dict[str, Any] | JSONResponse:
    from springboard.hub import get_model_spec
    from springboard.train import hyperparameters

    spec = get_model_spec(body.model)
    found = hyperparameters.problems(spec.hyperparameter_family, body.hyperparameters, spec.default_hyperparameters)
    if found:
        message = "; ".join(m for _, m in found)
        return JSONResponse({"message": message, "errors": [{"field": f, "message": m} for f, m in found],
                             "error": {"message": message, "type": "HyperparameterError"}}, status_code=400)
    parsed = hyperparameters.parse(spec.hyperparameter_family, body.hyperparameters, spec.default_hyperparameters)
    return {"ok": True, "values": parsed.model_dump(mode="json")}


@router.post("/hyperparameters/validate")
async def validate_hyperparameters(body: HyperparameterCheck) -> Any:
    """The CLI's schema and messages: 400 with the same text `springboard train` prints, every
    error at once (`errors`: field and message each, for the form to show beside its field)."""
    return await _call(_check_hp, body)


# -- data: template preview and staged datasets ---------------------------------------------------


class TemplatePreview(_Body):
    template: str = Field(description="template.json text")
    data: str | None = Field(None, description="a data file or folder (path or URI)")
    records: str | None = Field(None, description="JSON lines text (an upload not yet staged)")
    count: int = Field(3, ge=1, le=PREVIEW_MAX)


def _preview(body: TemplatePreview) -> dict[str, Any]:
    from springboard.data import io

    template = _template_text(body.template)
    rows: list[tuple[str, int, dict[str, Any]]] = []
    if body.records is not None:
        for number, line in enumerate(body.records.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValidationError(f"upload:{number}: bad JSON: {exc.msg}") from None
            if not isinstance(record, dict):
                raise ValidationError(f"upload:{number}: a record must be a JSON object")
            rows.append(("upload", number, record))
            if len(rows) >= body.count:
                break
    elif body.data:
        data = storage.confine(body.data, "data")
        file = io.resolve_channel(data, (".jsonl", ".json", ".csv", ".parquet"), "training data")
        for number, record in io.iter_table(file):
            rows.append((file, number, record))
            if len(rows) >= body.count:
                break
    else:
        raise ValidationError("give the training data (a path or an upload) to preview the template with")
    examples = []
    for file, number, record in rows:
        prompt, completion = template.apply(record, file=file, line=number)
        examples.append({"line": number, "prompt": prompt, "completion": completion})
    return {"examples": examples}


@router.post("/template/preview")
async def template_preview(body: TemplatePreview) -> Any:
    """The first records rendered with a template.json, as training will render them."""
    return await _call(_preview, body)


class DataUpload(_Body):
    name: str = Field(description="the uploaded file's own name (errors name it)")
    text: str


class DataPreview(_Body):
    model: str = Field(description="the model whose tokenizer counts the tokens")
    data: str | None = Field(None, description="a data file or channel folder (path or URI)")
    upload: DataUpload | None = Field(None, description="an upload not yet staged")
    template: str | None = Field(None, description="template.json text; left out: the folder's own "
                                                   "template.json, else the records' prompt/completion")
    folder_template_first: bool = Field(False, description="the folder's own template.json, when it has one, "
                                                          "wins over `template` (the editor's untouched default)")
    max_input_length: int | None = Field(None, ge=-1)
    count: int = Field(3, ge=1, le=PREVIEW_MAX)


INSTRUCTION_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")


def _template_text(text: str, source: str = "template.json"):
    from springboard.data.template import load_template

    try:
        spec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{source}:{exc.lineno}: bad JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(spec, dict):
        raise ValidationError(f"{source}: a template must be a JSON object with 'prompt' and 'completion'")
    return load_template(spec)


def _source_rows(data: str) -> tuple[str, Iterator[tuple[str, int, dict[str, Any]]], str | None]:
    """The user's own data file in `data` (a file or channel folder), its records, and the
    template.json beside it, if any: errors name the user's file, never a staged copy."""
    from springboard.data import io

    location = storage.confine(data, "data")
    file = storage.confine(io.resolve_channel(location, INSTRUCTION_SUFFIXES, "training data"), "data")
    beside = io.template_beside(file)
    return file, ((file, n, r) for n, r in io.iter_table(file)), beside


@functools.lru_cache(maxsize=4)
def _tokenizer(model_dir: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir)


def _data_preview(body: DataPreview) -> dict[str, Any] | JSONResponse:
    from springboard import hub
    from springboard.data.inspect import inspect_rows, jsonl_rows
    from springboard.data.template import load_template

    if (body.data is None) == (body.upload is None):
        raise ValidationError("give the training data: a path (data) or an upload, one of them")
    template_file = None
    if body.upload is not None:
        name = body.upload.name
        if not _FILE.match(name):
            raise ValidationError(f"file {name!r}: upload .jsonl, .json, .csv or .txt files with plain names")
        if not name.endswith(".jsonl"):
            raise ValidationError(f"{name}: Studio previews and stages JSON lines files (.jsonl): one JSON "
                                  "object per line; give other formats by path")
        source = name
        rows = ((name, n, r) for n, r in jsonl_rows(name, body.upload.text))
    else:
        source, rows, template_file = _source_rows(body.data)
    if body.template is not None and not (body.folder_template_first and template_file is not None):
        template, template_text = _template_text(body.template), body.template
        template_file = None
    elif template_file is not None:
        template, template_text = load_template(template_file), storage.read_text(template_file)
    else:
        template, template_text = None, None
    tokenizer, causal, tokenizer_error = None, True, None
    limit = body.max_input_length
    try:
        spec = hub.get_model_spec(body.model)
        causal = spec.architecture == "causal"
        model_dir = str(hub.resolve_model(body.model))
        tokenizer = _tokenizer(model_dir)
        if limit == -1:  # the model's context, as training reads it
            from transformers import AutoConfig

            limit = getattr(AutoConfig.from_pretrained(model_dir), "max_position_embeddings", None)
    except (SpringboardError, OSError, ValueError) as exc:  # weights not here: the rest still shows
        tokenizer_error = f"token lengths need {body.model}'s tokenizer: {exc}"
    try:
        report = inspect_rows(rows, template, tokenizer=tokenizer, max_input_length=limit, causal=causal,
                              examples=body.count, source=source)
    except SpringboardError as exc:
        # the file's fields still come back, so the form can offer them for mapping
        return _error(exc, fields=_first_fields(body))
    return {"source": source, "rows": report.rows, "fields": report.fields, "examples": report.examples,
            "template": template_text, "template_file": template_file,
            "max_input_length": report.max_input_length, "truncated": report.truncated,
            "longest": report.longest, "histogram": [vars(b) for b in report.histogram],
            "measured": "prompt + completion" if causal else "prompt (encoder input)",
            "tokenizer_error": tokenizer_error}


def _first_fields(body: DataPreview) -> list[str]:
    """The keys of the first records that read cleanly (best effort: [] when none do)."""
    from springboard.data.inspect import jsonl_rows

    seen: dict[str, None] = {}
    try:
        if body.upload is not None:
            rows: Iterator[tuple[Any, int, dict[str, Any]]] = ((None, n, r) for n, r in jsonl_rows(body.upload.name, body.upload.text))
        else:
            rows = _source_rows(body.data)[1]
        for i, (_, _, record) in enumerate(rows):
            seen.update(dict.fromkeys(record))
            if i >= FIELDS_SAMPLE:
                break
    except (SpringboardError, OSError, ValueError):
        pass
    return list(seen)


@router.post("/data/preview")
async def data_preview(body: DataPreview) -> Any:
    """A training channel before training: every record checked as training checks it (the
    first bad one: 400 naming the user's file, line and field), its row count and fields, token
    lengths with the model's tokenizer against `max_input_length` (a histogram, how many would be
    truncated) and the first examples rendered with the template (given, else the folder's own
    template.json, else the records' prompt/completion)."""
    return await _call(_data_preview, body)


class Dataset(_Body):
    files: dict[str, str] = Field(default_factory=dict, description="file name -> text (uploads)")
    source: str | None = Field(None, description="copy this data file or folder instead of uploads")
    template: str | None = Field(None, description="template.json text to put beside the data")


_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.(jsonl|json|csv|txt)$")


def datasets_dir() -> Path:
    return settings.home() / "studio" / "datasets"


def _stage(body: Dataset) -> dict[str, Any]:
    import hashlib
    import time

    from springboard import storage

    if not body.files and not body.source:
        raise ValidationError("a dataset needs uploaded files or a source path")
    if body.files and body.source:
        raise ValidationError("give uploaded files or a source path, not both")
    for name in body.files:
        if not _FILE.match(name) or name == "template.json":
            raise ValidationError(f"file {name!r}: upload .jsonl, .json, .csv or .txt files with plain names")
    if body.template is not None:
        try:
            if not isinstance(json.loads(body.template), dict):
                raise ValueError("not an object")
        except ValueError as exc:
            raise ValidationError(f"template.json: not a JSON object ({exc})") from None
    source = storage.confine(body.source, "source") if body.source else None
    if source and not storage.exists(source):
        raise NotFoundError(f"{body.source}: no such file or folder")
    _check_before_staging(body)
    digest = hashlib.sha256(json.dumps([body.files, body.source, body.template]).encode()).hexdigest()[:10]
    target = datasets_dir() / f"{time.strftime('%Y%m%d-%H%M%S')}-{digest}"
    target.mkdir(parents=True, exist_ok=True)
    try:
        if source:
            if storage.isdir(source):
                for uri in storage.list_files(source, recursive=False):
                    name = uri.rstrip("/").rsplit("/", 1)[-1]
                    if name != "template.json" or body.template is None:
                        # a symlink inside the folder may point anywhere: each file is checked too
                        (target / name).write_bytes(storage.read_bytes(storage.confine(uri, "source")))
            else:
                (target / source.rstrip("/").rsplit("/", 1)[-1]).write_bytes(storage.read_bytes(source))
        for name, text in body.files.items():
            (target / name).write_text(text)
        if body.template is not None:
            (target / "template.json").write_text(body.template)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)  # a refused dataset leaves no copy behind
        raise
    return {"path": str(target), "name": target.name, "files": sorted(p.name for p in target.iterdir())}


def _check_before_staging(body: Dataset) -> None:
    """The data read as training will read it, before anything is written: a bad line is an
    error naming the user's own file (an upload's name, the source path), line and field."""
    from springboard.data.inspect import inspect_rows, jsonl_rows

    template = _template_text(body.template) if body.template is not None else None
    for name, text in body.files.items():
        if name.endswith(".jsonl"):
            rows = ((name, n, r) for n, r in jsonl_rows(name, text))
            if template is not None:
                inspect_rows(rows, template, source=name)
            else:
                for _ in rows:
                    pass
    if body.source and template is not None:
        file, rows, _ = _source_rows(body.source)
        inspect_rows(rows, template, source=file)


_STAGED = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{10}$")


def _unstage(name: str) -> dict[str, Any]:
    folder = datasets_dir() / name
    if not _STAGED.match(name) or not folder.is_dir():
        raise NotFoundError(f"no staged dataset {name!r}")
    shutil.rmtree(folder)
    return {"name": name, "deleted": True}


@router.delete("/datasets/{name}")
async def delete_dataset(name: str) -> Any:
    """Removes a staged dataset folder (Studio calls it when the job it was staged for is refused)."""
    return await _call(_unstage, name)


@router.post("/datasets", status_code=201)
async def stage_dataset(body: Dataset) -> Any:
    """A training channel folder under SPRINGBOARD_HOME/studio/datasets: uploaded files (or a
    copy of a path) with the edited template.json beside them, as training reads it."""
    return await _call(_stage, body)


@router.get("/config")
async def config() -> dict[str, Any]:
    """Defaults the forms start from."""
    return {"home": str(settings.home()), "output_path": str(settings.home() / "studio" / "artifacts")}


# -- jobs -----------------------------------------------------------------------------------------


def _job_brief(job) -> dict[str, Any]:
    return {"name": job.name, "kind": job.kind, "status": job.status, "secondary_status": job.secondary_status,
            "failure_reason": job.failure_reason, "creation_time": job.creation_time,
            "start_time": job.start_time, "end_time": job.end_time, "output": job.output_dir}


def _jobs(kind: str | None) -> list[dict[str, Any]]:
    from springboard import jobs

    out = []
    for job in jobs.JobStore().list(kind=kind or None):
        if not job.done:
            job = jobs.refresh(job.name)
        out.append(_job_brief(job))
    return sorted(out, key=lambda j: j["creation_time"], reverse=True)


@router.get("/jobs")
async def list_jobs(kind: str | None = None) -> Any:
    """Every job (training, transform, automl, crawl), newest first."""
    return await _call(_jobs, kind)


def _job(name: str) -> dict[str, Any]:
    from springboard import jobs

    job = jobs.refresh(name)
    return _job_brief(job) | {"describe": job.describe()}


@router.get("/jobs/{name}")
async def describe_job(name: str) -> Any:
    return await _call(_job, name)


def _metrics(name: str) -> dict[str, Any]:
    from springboard import jobs

    store = jobs.JobStore()
    store.get(name)
    series: dict[str, list[dict[str, Any]]] = {}
    for m in store.metrics(name):
        series.setdefault(m.name, []).append({"step": m.step, "epoch": m.epoch, "value": m.value,
                                              "timestamp": m.timestamp})
    return {"series": series}


@router.get("/jobs/{name}/metrics")
async def job_metrics(name: str) -> Any:
    """A job's metric time series (train_loss, val_loss, perplexity, ...) by name."""
    return await _call(_metrics, name)


LOG_CHUNK = 65536


def _log(name: str, offset: int) -> dict[str, Any]:
    from springboard import jobs

    job = jobs.JobStore().get(name)
    path = job.log_path
    if not path.exists():
        return {"text": "", "offset": 0, "size": 0}
    size = path.stat().st_size
    if offset < 0:  # the tail: the last chunk, from a line start
        offset = max(0, size - LOG_CHUNK)
    with path.open("rb") as f:
        f.seek(min(offset, size))
        data = f.read(LOG_CHUNK)
    if offset and offset == max(0, size - LOG_CHUNK) and b"\n" in data:
        cut = data.index(b"\n") + 1
        data, offset = data[cut:], offset + cut
    end = data.rfind(b"\n") + 1 if len(data) == LOG_CHUNK else len(data)
    return {"text": data[:end].decode("utf-8", "replace"), "offset": offset + end, "size": size}


@router.get("/jobs/{name}/log")
async def job_log(name: str, offset: int = -1) -> Any:
    """The job log from byte `offset` (default: its tail); `offset` in the answer is where the
    next read starts, so a page follows the log by polling."""
    return await _call(_log, name, offset)


def _resume(name: str) -> dict[str, Any]:
    from springboard import jobs

    return _job_brief(jobs.resume(name))


@router.post("/jobs/{name}/resume")
async def resume_job(name: str) -> Any:
    """`springboard jobs resume`: SageMaker has no resume operation."""
    return await _call(_resume, name)


def _files(name: str) -> list[dict[str, Any]]:
    from springboard import jobs, storage

    root = storage.confine(str(jobs.JobStore().get(name).output_dir), "output")
    if not storage.isdir(root):
        return []
    fs, _ = storage.filesystem(root)
    out = []
    for location in storage.list_files(root)[:500]:
        out.append({"name": location[len(root.rstrip("/")) + 1:], "size": fs.size(storage.filesystem(location)[1])})
    return out


@router.get("/jobs/{name}/files")
async def job_files(name: str) -> Any:
    """The files a job wrote to its output location (a transform's .out files, ...), local or s3://."""
    return await _call(_files, name)


@router.get("/jobs/{name}/files/{file:path}")
async def job_file(name: str, file: str) -> Any:
    from springboard import storage

    def find() -> str:
        from springboard import jobs

        root = storage.confine(str(jobs.JobStore().get(name).output_dir), "output")
        parts = file.split("/")
        if any(p in ("", ".", "..") for p in parts) or not storage.exists(location := storage.join(root, *parts)) \
                or storage.isdir(location):
            raise NotFoundError(f"job {name!r} has no output file {file!r}")
        return storage.confine(location, "file")  # a symlink in the output may point anywhere

    found = await _call(find)
    if isinstance(found, JSONResponse):
        return found
    if not storage.is_remote(found):
        return FileResponse(storage.local_path(found), filename=Path(file).name, media_type="application/octet-stream")

    def chunks() -> Iterator[bytes]:
        with storage.open_file(found, "rb") as f:
            while chunk := f.read(1 << 20):
                yield chunk

    return StreamingResponse(chunks(), media_type="application/octet-stream",
                             headers={"Content-Disposition": f'attachment; filename="{Path(file).name}"'})


def _delete(name: str) -> dict[str, Any]:
    from springboard import jobs

    from springboard.controlplane.resource_store import Records

    jobs.refresh(name)  # a worker that died unseen: its job is Failed, so it can go
    job = jobs.JobStore().delete(name)
    # the SageMaker request it was created with goes too (a later job of that name has its own)
    Records().remove(f"{job.kind}-job", name)
    return _job_brief(job)


@router.delete("/jobs/{name}")
async def delete_job(name: str) -> Any:
    """Forgets an ended job (record, metrics, log, checkpoints); its output location stays.
    A job still running is refused (409): stop it first."""
    return await _call(_delete, name)


def _stop(name: str) -> dict[str, Any]:
    from springboard import jobs

    return _job_brief(jobs.stop(name))


@router.post("/jobs/{name}/stop")
async def stop_job(name: str) -> Any:
    """`springboard jobs stop`, for kinds the control plane has no Stop operation for (crawl)."""
    return await _call(_stop, name)


# -- evaluation -----------------------------------------------------------------------------------


class RougeRequest(_Body):
    predictions: list[str] = Field(min_length=1, max_length=4, description="prediction files (.out), one per run")
    references: str
    on: str = "id"
    prediction_field: str = "generated_texts[0]"
    reference_field: str | None = Field(None, description="a field of the references file (Studio offers its own)")
    use_stemmer: bool = False
    examples: bool = Field(False, description="per-example texts and scores too")


def _rouge(body: RougeRequest) -> dict[str, Any]:
    from springboard import storage
    from springboard.evaluate.rouge import rouge_scores

    references = storage.confine(body.references, "references")
    predictions = [storage.confine(p, f"predictions[{i}]") for i, p in enumerate(body.predictions)]
    if not body.reference_field:
        fields = _fields(references)["fields"]
        raise ValidationError(f"field 'reference_field': name the references' text field, one of the file's own: "
                              f"{', '.join(fields) or '(none found)'}")
    reports = [rouge_scores(p, references, on=body.on, prediction_field=body.prediction_field,
                            reference_field=body.reference_field, use_stemmer=body.use_stemmer,
                            examples=body.examples).model_dump(mode="json")
               for p in predictions]
    return {"reports": reports}


@router.post("/evaluate/rouge")
async def rouge(body: RougeRequest) -> Any:
    """`springboard evaluate rouge` for one or more prediction files against one references
    file: the comparison report is one row per prediction file."""
    return await _call(_rouge, body)


FIELDS_SAMPLE = 20


def _paths(value: Any, prefix: str = "") -> Iterator[str]:
    """Field paths as evaluate's FieldPath reads them: `a.b` into objects, `a[0]` into lists."""
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            yield from _paths(inner, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and value and prefix:
        yield from _paths(value[0], f"{prefix}[0]")
    elif prefix:
        yield prefix


def _fields(path: str) -> dict[str, Any]:
    location = storage.confine(path, "path")
    if not storage.exists(location) or storage.isdir(location):
        raise NotFoundError(f"{path}: no such file")
    seen: dict[str, None] = {}
    rows = 0
    with storage.open_file(location, "rb") as f:
        for number, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
                found = list(_paths(record))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ValidationError(f"{path}:{number}: not a JSON line ({exc})") from None
            except RecursionError:
                raise ValidationError(f"{path}:{number}: nested too deeply to list its fields") from None
            for name in found:
                seen.setdefault(name, None)
            rows += 1
            if rows >= FIELDS_SAMPLE:
                break
    return {"path": location, "fields": list(seen), "sampled": rows}


@router.get("/fields")
async def file_fields(path: str) -> Any:
    """The field paths of a JSON lines file (references, a transform's .out), in the order they
    first appear in its first records: what a form offers to pick from."""
    return await _call(_fields, path)


class Upload(_Body):
    files: dict[str, str] = Field(min_length=1, max_length=20, description="file name -> text")


def _upload(body: Upload) -> dict[str, Any]:
    import hashlib
    import time

    for name in body.files:
        if not _FILE.match(name):
            raise ValidationError(f"file {name!r}: upload .jsonl, .json, .csv or .txt files with plain names")
    digest = hashlib.sha256(json.dumps(body.files, sort_keys=True).encode()).hexdigest()[:10]
    folder = storage.join(str(settings.home() / "studio" / "uploads"), f"{time.strftime('%Y%m%d-%H%M%S')}-{digest}")
    folder = storage.confine(folder, "upload", write=True)
    for name, text in body.files.items():
        storage.write_text(storage.join(folder, name), text)
    return {"path": folder, "files": sorted(body.files)}


@router.post("/uploads", status_code=201)
async def upload(body: Upload) -> Any:
    """Uploaded files (a transform's input, references) stored in a new folder under
    SPRINGBOARD_HOME/studio/uploads; the answer names the folder."""
    return await _call(_upload, body)


# -- crawl (no SageMaker operation: the same job `springboard crawl run --name` submits) -----------


class CrawlRun(_Body):
    name: str
    inputs: list[str] = Field(default_factory=list, description="WARC/WET/ARC files, URIs, globs, dirs")
    records: str | None = Field(None, description="a record list from `crawl index query --format records`")
    output: str
    extract: str = "main"
    languages: list[str] = Field(default_factory=list)
    quality: list[str] = Field(default_factory=list)
    dedup: list[str] = Field(default_factory=list)
    url_include: str | None = None
    url_exclude: str | None = None
    overwrite: bool = False


def _absolute(location: str, what: str) -> str:
    """Where the server writes: an absolute path or a URI (a relative path would land in the
    server's working directory, which the browser knows nothing of)."""
    if "://" in location or Path(location).is_absolute():
        return location
    raise ValidationError(f"field '{what}': {location!r} is relative; give an absolute path or a URI (s3://...)")


def _confine_archives(config) -> None:
    """What the job will open, checked now: the files a folder or glob expands to (a symlink
    may point anywhere) and the archives a record list names (a relative name is fetched from
    `warc_prefix`, an absolute one read as it is)."""
    from springboard.crawl.config import _expand, _read_records, resolve_uri

    for i, inp in enumerate(config.inputs):
        try:
            found = _expand(inp)
        except SpringboardError:
            continue  # a missing input fails the job, as it does from the CLI
        for uri in found:
            storage.confine(uri, f"inputs[{i}]")
    if config.records and Path(config.records).exists():
        for name, _ in _read_records(config.records):
            storage.confine(resolve_uri(name, config.warc_prefix), "records (warc_filename)")


def _crawl(body: CrawlRun) -> dict[str, Any]:
    import pydantic

    from springboard import jobs
    from springboard.crawl.config import CrawlRunConfig

    fields = body.model_dump(exclude={"name"}, exclude_none=True)
    _absolute(body.output, "output")
    fields["output"] = storage.confine(body.output, "output", write=True, overwrite=body.overwrite)
    fields["inputs"] = [storage.confine(inp, f"inputs[{i}]") for i, inp in enumerate(body.inputs)]
    if body.records is not None:
        fields["records"] = storage.confine(body.records, "records")
    try:
        config = CrawlRunConfig(**fields)
    except pydantic.ValidationError as exc:
        err = first_problem(exc)
        raise ValidationError(f"crawl run: field '{err.field}': {err.message}") from None
    _confine_archives(config)
    job = jobs.submit(config, name=body.name)
    return _job_brief(job)


@router.post("/crawl/runs", status_code=201)
async def crawl_run(body: CrawlRun) -> Any:
    """`springboard crawl run ... --name NAME`: a crawl job (its counters are job metrics)."""
    return await _call(_crawl, body)


class IndexQuery(_Body):
    index: str = Field(description="a cc-index table: local folder, s3:// or https:// (as `crawl index query --index`)")
    host: str | None = Field(None, description="a host name or registered domain")
    url_contains: str | None = None
    languages: list[str] = Field(default_factory=list, description="ISO 639-3 codes, any of them")
    mime: str | None = Field(None, description="detected MIME type, e.g. text/html")
    subset: str = "warc"
    limit: int = Field(1000, ge=1, le=1_000_000)
    out: str = Field(description="where to write the record list (Parquet), an absolute path")
    overwrite: bool = Field(False, description="replace `out` if it exists")


def _index_query(body: IndexQuery) -> dict[str, Any]:
    from springboard.crawl.index import query, records_sql, write_result

    _absolute(body.out, "out")
    out = storage.confine(body.out, "out", write=True, overwrite=body.overwrite)
    if not body.overwrite and storage.exists(out):
        raise ValidationError(f"field 'out': {body.out} exists; pick a new file or set overwrite")
    index = storage.confine(body.index, "index")
    sql = records_sql(body.host, body.url_contains, body.languages, body.mime, body.subset, body.limit)
    table = query(index, sql)
    write_result(table, out, "records")
    return {"rows": table.num_rows, "records": out, "sql": sql,
            "preview": table.column("url").to_pylist()[:10]}


@router.post("/crawl/index-query")
async def crawl_index_query(body: IndexQuery) -> Any:
    """`springboard crawl index query ... --format records` for the usual question (host, URL,
    languages, MIME): a record list a crawl job reads with `records`."""
    return await _call(_index_query, body)


class CrawlExport(_Body):
    parquet: str
    out_dir: str
    format: str = "jsonl"
    column: str = "text"
    overwrite: bool = False


def _export(body: CrawlExport) -> dict[str, Any]:
    from springboard.crawl.export import export

    _absolute(body.out_dir, "out_dir")
    parquet = storage.confine(body.parquet, "parquet")
    out_dir = storage.confine(body.out_dir, "out_dir", write=True, overwrite=body.overwrite)
    if not storage.exists(parquet):
        raise NotFoundError(f"field 'parquet': {body.parquet}: no such crawl output")
    res = export(parquet, out_dir=out_dir, fmt=body.format, column=body.column, overwrite=body.overwrite)
    return {"documents": res.documents, "path": str(res.path), "bytes": res.bytes,
            "skipped_empty": res.skipped_empty, "channel": str(Path(res.path).parent)}


@router.post("/crawl/export")
async def crawl_export(body: CrawlExport) -> Any:
    """`springboard crawl export --out-dir`: the crawl's text as one training channel."""
    return await _call(_export, body)
