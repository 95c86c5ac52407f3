"""Studio's evaluation routes: ROUGE of prediction files against references, and the field
paths of a JSON lines file that its forms offer to pick from."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from springboard import confinement, storage
from springboard.data.inspect import jsonl_fields
from springboard.errors import NotFoundError, ValidationError
from springboard.studio.routes.common import Body, call

router = APIRouter()


class RougeRequest(Body):
    predictions: list[str] = Field(min_length=1, max_length=4, description="prediction files (.out), one per run")
    references: str
    on: str = "id"
    prediction_field: str = "generated_texts[0]"
    reference_field: str | None = Field(None, description="a field of the references file (Studio offers its own)")
    use_stemmer: bool = False
    examples: bool = Field(False, description="per-example texts and scores too")


def _rouge(body: RougeRequest) -> dict[str, Any]:
    from springboard.evaluate.rouge import rouge_scores

    references = confinement.confine(body.references, "references")
    predictions = [confinement.confine(p, f"predictions[{i}]") for i, p in enumerate(body.predictions)]
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
    return await call(_rouge, body)


def _fields(path: str) -> dict[str, Any]:
    location = confinement.confine(path, "path")
    if not storage.exists(location) or storage.isdir(location):
        raise NotFoundError(f"{path}: no such file")
    fields, rows = jsonl_fields(location, path)
    return {"path": location, "fields": fields, "sampled": rows}


@router.get("/fields")
async def file_fields(path: str) -> Any:
    """The field paths of a JSON lines file (references, a transform's .out), in the order they
    first appear in its first records: what a form offers to pick from."""
    return await call(_fields, path)
