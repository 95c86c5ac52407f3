"""What the server's ASGI middleware share: the ASGI types, a refusal (`Refused`) and the one
error body every client reads for it, and request headers as SigV4 canonicalizes them."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class Refused(Exception):
    """A request the guard turns away before any route sees it."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


async def refuse(send: Send, exc: Refused) -> None:
    """One error body every client reads: botocore (x-amzn-errortype header; Message or
    __type/message), the openai client (error.message) and ServerClient (error.message)."""
    body = json.dumps({
        "__type": exc.code, "message": exc.message, "Message": exc.message,
        "error": {"message": exc.message, "type": exc.code, "param": None, "code": exc.code},
    }).encode()
    # No "Connection: close": uvicorn discards the rest of a refused body as it arrives (memory
    # stays flat), so a client still sending it can finish and read this answer.
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"x-amzn-errortype", exc.code.encode())]
    if exc.status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="springboard"'))
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def pairs(scope: Scope) -> list[tuple[str, str]]:
    return [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]


def joined(scope: Scope, name: str) -> str | None:
    """A header as SigV4 canonicalizes it: every copy, in order, trimmed with its inner runs of
    spaces collapsed, joined with ','; None when absent."""
    values = [" ".join(v.split()) for k, v in pairs(scope) if k == name]
    return ",".join(values) if values else None
