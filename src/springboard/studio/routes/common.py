"""What every Studio route shares: the error answer (SpringboardError family -> 400/403/404/409,
body `{"message"}`), running a room's function off the event loop, and strict request bodies."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from springboard.errors import AccessDeniedError, ConflictError, NotFoundError, SpringboardError, ValidationError

PREVIEW_MAX = 20


def error(exc: SpringboardError, **extra: Any) -> JSONResponse:
    status = (404 if isinstance(exc, NotFoundError) else 403 if isinstance(exc, AccessDeniedError)
              else 409 if isinstance(exc, ConflictError) else 400)
    return JSONResponse({"message": str(exc), "error": {"message": str(exc), "type": type(exc).__name__}} | extra,
                        status_code=status)


async def call(func, *args, **kwargs) -> Any:
    try:
        return await run_in_threadpool(func, *args, **kwargs)
    except SpringboardError as exc:
        return error(exc)
    except (OSError, ValueError) as exc:  # a location the user gave that cannot be read or written
        return error(ValidationError(f"{type(exc).__name__}: {exc}"))


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
