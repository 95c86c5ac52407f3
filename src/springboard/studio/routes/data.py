"""Studio's data routes: a template rendered over the first records, a training channel checked
before training (fields, token lengths, rendered examples), datasets staged as channel folders,
and plain uploads. The staging and reading itself is the data room's (`springboard.data.staging`)."""

from __future__ import annotations

import functools
from typing import Any, Iterator

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import Field

from springboard import confinement, settings, storage
from springboard.data import io, staging
from springboard.data.inspect import FIELDS_SAMPLE, inspect_rows
from springboard.data.template import load_template
from springboard.errors import SpringboardError, ValidationError
from springboard.studio.routes.common import PREVIEW_MAX, Body, call, error

router = APIRouter()


class TemplatePreview(Body):
    template: str = Field(description="template.json text")
    data: str | None = Field(None, description="a data file or folder (path or URI)")
    records: str | None = Field(None, description="JSON lines text (an upload not yet staged)")
    count: int = Field(3, ge=1, le=PREVIEW_MAX)


def _preview(body: TemplatePreview) -> dict[str, Any]:
    template = staging.template_text(body.template)
    rows: list[tuple[str, int, dict[str, Any]]] = []
    if body.records is not None:
        found: Iterator[tuple[str, int, dict[str, Any]]] = staging.upload_rows("upload", body.records)
    elif body.data:
        data = confinement.confine(body.data, "data")
        file = io.resolve_channel(data, staging.INSTRUCTION_SUFFIXES, "training data")
        found = ((file, number, record) for number, record in io.iter_table(file))
    else:
        raise ValidationError("give the training data (a path or an upload) to preview the template with")
    for row in found:
        rows.append(row)
        if len(rows) >= body.count:
            break
    examples = []
    for file, number, record in rows:
        prompt, completion = template.apply(record, file=file, line=number)
        examples.append({"line": number, "prompt": prompt, "completion": completion})
    return {"examples": examples}


@router.post("/template/preview")
async def template_preview(body: TemplatePreview) -> Any:
    """The first records rendered with a template.json, as training will render them."""
    return await call(_preview, body)


class DataUpload(Body):
    name: str = Field(description="the uploaded file's own name (errors name it)")
    text: str


class DataPreview(Body):
    model: str = Field(description="the model whose tokenizer counts the tokens")
    data: str | None = Field(None, description="a data file or channel folder (path or URI)")
    upload: DataUpload | None = Field(None, description="an upload not yet staged")
    template: str | None = Field(None, description="template.json text; left out: the folder's own "
                                                   "template.json, else the records' prompt/completion")
    folder_template_first: bool = Field(False, description="the folder's own template.json, when it has one, "
                                                          "wins over `template` (the editor's untouched default)")
    max_input_length: int | None = Field(None, ge=-1)
    count: int = Field(3, ge=1, le=PREVIEW_MAX)


@functools.lru_cache(maxsize=4)
def _tokenizer(model_dir: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir)


def _data_preview(body: DataPreview) -> dict[str, Any] | JSONResponse:
    from springboard import hub

    if (body.data is None) == (body.upload is None):
        raise ValidationError("give the training data: a path (data) or an upload, one of them")
    template_file = None
    if body.upload is not None:
        name = body.upload.name
        staging.check_file_names([name])
        if not name.endswith(".jsonl"):
            raise ValidationError(f"{name}: Studio previews and stages JSON lines files (.jsonl): one JSON "
                                  "object per line; give other formats by path")
        source = name
        rows = staging.upload_rows(name, body.upload.text)
    else:
        source, rows, template_file = staging.source_rows(body.data)
    if body.template is not None and not (body.folder_template_first and template_file is not None):
        template, template_text = staging.template_text(body.template), body.template
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
        return error(exc, fields=_first_fields(body))
    return {"source": source, "rows": report.rows, "fields": report.fields, "examples": report.examples,
            "template": template_text, "template_file": template_file,
            "max_input_length": report.max_input_length, "truncated": report.truncated,
            "longest": report.longest, "histogram": [vars(b) for b in report.histogram],
            "measured": "prompt + completion" if causal else "prompt (encoder input)",
            "tokenizer_error": tokenizer_error}


def _first_fields(body: DataPreview) -> list[str]:
    """The keys of the first records that read cleanly (best effort: [] when none do)."""
    seen: dict[str, None] = {}
    try:
        if body.upload is not None:
            rows: Iterator[tuple[Any, int, dict[str, Any]]] = staging.upload_rows(body.upload.name, body.upload.text)
        else:
            rows = staging.source_rows(body.data)[1]
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
    return await call(_data_preview, body)


class Dataset(Body):
    files: dict[str, str] = Field(default_factory=dict, description="file name -> text (uploads)")
    source: str | None = Field(None, description="copy this data file or folder instead of uploads")
    template: str | None = Field(None, description="template.json text to put beside the data")


def _stage(body: Dataset) -> dict[str, Any]:
    target = staging.stage(body.files, body.source, body.template)
    return {"path": str(target), "name": target.name, "files": sorted(p.name for p in target.iterdir())}


def _unstage(name: str) -> dict[str, Any]:
    staging.unstage(name)
    return {"name": name, "deleted": True}


@router.delete("/datasets/{name}")
async def delete_dataset(name: str) -> Any:
    """Removes a staged dataset folder (Studio calls it when the job it was staged for is refused)."""
    return await call(_unstage, name)


@router.post("/datasets", status_code=201)
async def stage_dataset(body: Dataset) -> Any:
    """A training channel folder under SPRINGBOARD_HOME/studio/datasets: uploaded files (or a
    copy of a path) with the edited template.json beside them, as training reads it."""
    return await call(_stage, body)


@router.get("/config")
async def config() -> dict[str, Any]:
    """Defaults the forms start from."""
    return {"home": str(settings.home()), "output_path": str(settings.home() / "studio" / "artifacts")}


class Upload(Body):
    files: dict[str, str] = Field(min_length=1, max_length=20, description="file name -> text")


def _upload(body: Upload) -> dict[str, Any]:
    return {"path": staging.store_uploads(body.files), "files": sorted(body.files)}


@router.post("/uploads", status_code=201)
async def upload(body: Upload) -> Any:
    """Uploaded files (a transform's input, references) stored in a new folder under
    SPRINGBOARD_HOME/studio/uploads; the answer names the folder."""
    return await call(_upload, body)
