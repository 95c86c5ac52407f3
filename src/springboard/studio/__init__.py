"""Springboard Studio: the web UI at `/studio/` (static pages shipped as package data).

The browser acts only through the public APIs: the SageMaker control plane (`POST /`,
`X-Amz-Target`), the runtime, OpenAI and TGI routes. `studio.api` adds the read-only views
the control plane has no operation for (catalog with facets, a model card, hyperparameter
and template checks, a job's metric series and log tail) as thin routes over the rooms' own
functions, plus dataset staging (uploaded text saved as a training channel folder)."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse, Response

from springboard.studio.api import router as api_router

router = APIRouter()
router.include_router(api_router)  # documented in /openapi.json (and fuzzed with the rest)

_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".txt": "text/plain; charset=utf-8", ".svg": "image/svg+xml"}


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    return RedirectResponse("/studio/", status_code=307)


@router.get("/studio", include_in_schema=False)
def studio_no_slash() -> RedirectResponse:
    return RedirectResponse("/studio/", status_code=307)


@router.get("/studio/{path:path}", include_in_schema=False)
def static(path: str) -> Response:
    name = path or "index.html"
    base = resources.files("springboard.studio").joinpath("static")
    parts = name.split("/")
    if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        return Response("not found", status_code=404, media_type="text/plain")
    entry = base
    for part in parts:
        entry = entry.joinpath(part)
    if not entry.is_file():
        return Response("not found", status_code=404, media_type="text/plain")
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    return FileResponse(str(entry), media_type=_TYPES.get(suffix, "application/octet-stream"),
                        headers={"Cache-Control": "no-cache"})
