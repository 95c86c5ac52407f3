"""`POST /` with `X-Amz-Target: SageMaker.<Operation>`: validate against botocore's model, call
the operation's handler (a small function over plain dicts), serialize through the model."""

from __future__ import annotations

import json
import logging
from typing import Any

import pydantic
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from springboard.controlplane import protocol
from springboard.controlplane.protocol import AwsError
from springboard.controlplane.registry import CONTENT_TYPE, OPERATIONS, SERVICES, Context, Handler, operation
# Imported once, for their @operation registrations.
from springboard.controlplane import automl, endpoints, tags, training, transform  # noqa: F401, E402
from springboard import confinement
from springboard.errors import AccessDeniedError, ConflictError, NotFoundError, SpringboardError

log = logging.getLogger("springboard.controlplane")


def _load_handlers() -> None:
    """Kept for callers: the handler modules are imported once, with this module."""


router = APIRouter()
_records: dict[str, Any] = {}

__all__ = ["CONTENT_TYPE", "OPERATIONS", "SERVICES", "Context", "Handler", "handle", "operation", "router"]


def _context(request: Request) -> Context:
    """The server's endpoint manager (`app.state.manager`, set by the composition root) and the
    records of the current SPRINGBOARD_HOME (opened once per home)."""
    from springboard import settings
    from springboard.controlplane.resource_store import Records

    path = str(settings.jobs_db())
    if path not in _records:
        _records[path] = Records()
    return Context(request.app.state.manager, _records[path])


@router.post("/", include_in_schema=False)
async def dispatch(request: Request) -> Response:
    target = request.headers.get("x-amz-target", "")
    prefix, _, name = target.partition(".")
    if prefix in SERVICES and name:
        return await run_in_threadpool(SERVICES[prefix], name, await request.body())
    if prefix != "SageMaker" or not name:
        return _error(AwsError(
            "UnknownOperationException",
            "this endpoint serves the SageMaker control plane: send X-Amz-Target: SageMaker.<Operation> "
            f"(got {target!r})",
        ))
    body = await request.body()
    return await run_in_threadpool(handle, _context(request), name, body)


def handle(ctx: Context, name: str, body: bytes) -> Response:
    """One call, from the raw body to the wire response (also usable without HTTP)."""
    op = protocol.operation(name)
    handler = OPERATIONS.get(name)
    try:
        if op is None:
            raise AwsError("UnknownOperationException", f"SageMaker has no operation {name!r}")
        if handler is None:
            raise AwsError(
                "UnsupportedOperation",
                f"Springboard does not serve SageMaker.{name}; it serves: {', '.join(sorted(OPERATIONS))}",
            )
        params = protocol.parse_body(body)
        protocol.validate(op, params)
        for where, location, written in protocol.locations(op.input_shape, params):
            if written:
                confinement.confine(location, where, write=True)
            else:  # a model location may also be a catalog id or a job name
                confinement.confine_reference(location, where)
        result = handler(ctx, params) or {}
        return Response(json.dumps(protocol.serialize(op.output_shape, result)), media_type=CONTENT_TYPE)
    except AwsError as exc:
        return _error(exc)
    except AccessDeniedError as exc:
        return _error(AwsError("AccessDeniedException", str(exc), 403))
    except NotFoundError as exc:
        return _error(protocol.not_found(str(exc)))
    except ConflictError as exc:
        return _error(AwsError("ResourceInUse", str(exc)))
    except (SpringboardError, pydantic.ValidationError) as exc:
        return _error(protocol.validation(str(exc)))
    except Exception as exc:  # noqa: BLE001 - a server answers 4xx, never a bare 500
        log.exception("SageMaker.%s failed", name)
        return _error(AwsError("InternalFailure", f"{type(exc).__name__}: {exc}", 500))


def _error(exc: AwsError) -> JSONResponse:
    return JSONResponse(
        {"__type": exc.code, "message": exc.message},
        status_code=exc.status,
        media_type=CONTENT_TYPE,
    )
