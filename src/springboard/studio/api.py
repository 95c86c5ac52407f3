"""Studio's own JSON routes (`/studio/api/...`): thin views over the rooms' functions for what the
SageMaker control plane has no operation for. Actions (create/stop jobs, deploy, invoke) are not
here: the browser sends those to the control plane and the runtime like boto3 does.

Every location a body names goes through `confinement.confine` (the home, SPRINGBOARD_DATA_ROOTS,
s3://, http(s) only where SPRINGBOARD_ALLOW_HTTP allows) before anything reads or writes it.

The routes live one module per area under `routes/` (models, data, jobs, evaluate, crawl),
with what they share in `routes/common.py`. Errors are the SpringboardError family: 400 (bad
input) / 403 (a location the server may not use) / 404 (not found), body `{"message"}`."""

from __future__ import annotations

from fastapi import APIRouter

from springboard.studio.routes import crawl, data, evaluate, jobs, models

router = APIRouter(prefix="/studio/api")
# the OpenAPI document lists the routes in this order
for area in (models, data, jobs, evaluate, crawl):
    router.include_router(area.router)
