"""Studio's catalog views: the model list with facets, a model card (its hyperparameter schema
and default resources) and the hyperparameter check the fine-tune form runs as it is filled."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import Field

from springboard.studio.routes.common import Body, call

router = APIRouter()

FACETS = ("task", "framework", "architecture", "training_supported", "requires_eula", "license")


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
    return await call(_models, filter)


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
    return await call(_card, model_id)


class HyperparameterCheck(Body):
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
    return await call(_check_hp, body)
