"""The server's ASGI middleware, in front of every route: `HostOriginCheck` (who may call: Host
against DNS rebinding, Origin against cross-site posts) and `Guard` (body limits and
authentication: Bearer or SigV4)."""

from __future__ import annotations

import hmac
import ipaddress
import re
from collections.abc import Awaitable, Callable

from springboard import settings
from springboard.guard.asgi import Message, Receive, Refused, Scope, Send, joined, pairs, refuse
from springboard.guard.sigv4 import sigv4_preflight, verify_sigv4

# -- who may call: Host (DNS rebinding) and Origin (cross-site posts), before anything else ------

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
STATE_CHANGING = frozenset({"POST", "PUT", "DELETE", "PATCH"})


class HostOriginCheck:
    """ASGI middleware in front of every route (Jupyter's checks). A `Host` header must name
    loopback, the address the server was bound to, or a name in `allowed_hosts`
    (--allowed-hosts / SPRINGBOARD_ALLOWED_HOSTS; `*` for any): a page on a rebound DNS name is
    refused. Bound to every interface (0.0.0.0, ::) any IP literal is accepted too (rebinding
    needs a name). A state-changing request (POST/PUT/DELETE/PATCH) from a browser must be
    same-origin: an `Origin` whose host:port is not the request's `Host`, or `Sec-Fetch-Site:
    cross-site`/`same-site`, is refused, which stops a cross-origin form or fetch post. Clients
    that are not browsers (boto3, the sagemaker SDK, openai, the CLI) send neither header."""

    def __init__(self, app: Callable[..., Awaitable[None]], bound: str | None = None,
                 allowed_hosts: list[str] | None = None) -> None:
        self.app = app
        self.any_ip = bound in ("0.0.0.0", "::", "")
        names = {*LOOPBACK_NAMES, *(h.lower().strip("[]") for h in (allowed_hosts or []))}
        if bound and not self.any_ip:
            names.add(bound.lower().strip("[]"))
        self.names = names

    def host_allowed(self, host: str) -> bool:
        name = host.lower()
        name = name[1:name.index("]")] if name.startswith("[") and "]" in name else name.rsplit(":", 1)[0]
        if "*" in self.names or name in self.names or is_loopback(name):
            return True
        if self.any_ip:
            try:
                ipaddress.ip_address(name)
                return True
            except ValueError:
                return False
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        refusal = None
        if host and not self.host_allowed(host):
            refusal = (f"Host {host!r} is not a name this server answers to (loopback or its bind address); "
                       f"add it with --allowed-hosts or {settings.ALLOWED_HOSTS}")
        elif scope["type"] == "websocket" or scope["method"] in STATE_CHANGING:
            origin = headers.get("origin")
            fetch_site = headers.get("sec-fetch-site", "").lower()
            if origin is not None and origin.lower().split("://", 1)[-1].rstrip("/") != host.lower():
                refusal = f"cross-origin request refused: Origin {origin!r} is not this server ({host})"
            elif fetch_site in ("cross-site", "same-site"):
                refusal = f"cross-origin request refused (Sec-Fetch-Site: {fetch_site})"
        if refusal is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            await refuse(send, Refused(403, "Forbidden", refusal))



# -- the guard: body limits and authentication for every route -----------------------------------

MAX_BODY_BYTES = 6_291_456  # SageMaker's InvokeEndpoint limit (6 MB), for every route


class Guard:
    """ASGI middleware in front of every route.

    Body limit: a declared Content-Length over the limit is refused before anything is read; a
    chunked body is counted as it arrives and refused as soon as it passes the limit, so no route
    ever buffers more than MAX_BODY_BYTES. The body is then replayed to the route.

    Authentication, when an API key is set: `Authorization: Bearer <secret>` (the openai client's
    api_key, huggingface_hub's token), or an AWS SigV4 signature (boto3, the sagemaker SDK) whose
    access key id is the API key, recomputed with botocore's own signer from the secret and
    compared in constant time. The secret is --api-secret, or the key itself when none is set:
    boto3 sends the access key id in clear, so with a secret the key alone opens nothing.
    Everything the headers alone can refuse (a wrong Bearer secret, an unknown access key, a
    malformed or expired signature, routing headers left out of SignedHeaders) is refused before
    one byte of the body is read; only the signature itself, which covers the body, waits for it.

    Routing: a request carrying X-Amz-Target more than once is refused whatever the key (the
    signature covers every copy, joined, while a router reads one)."""

    def __init__(self, app: Callable[..., Awaitable[None]], api_key: str | None = None,
                 api_secret: str | None = None, max_body: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.api_key = api_key or None
        self.api_secret = (api_secret or api_key) or None  # what Bearer carries and SigV4 signs with
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and self.api_key:
            # No route takes a WebSocket today; one added later is still behind the key.
            auth = joined(scope, "authorization") or ""
            if not hmac.compare_digest(auth.encode(), f"Bearer {self.api_secret}".encode()):
                await send({"type": "websocket.close", "code": 1008})
                return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        aws = _aws_style(scope, headers)
        try:
            _one_target(scope)
            sigv4 = bool(self.api_key) and not _public(scope) and self._authenticate(scope, aws)
            body = await self._read(headers, receive, aws)
            if sigv4:  # the signature covers the body: checked once it is read (within the limit)
                verify_sigv4(scope, body, self.api_key, self.api_secret)
        except Refused as exc:
            await refuse(send, exc)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: the disconnect, when it comes

        await self.app(scope, replay, send)

    async def _read(self, headers: dict[str, str], receive: Receive, aws: bool) -> bytes:
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            raise self._too_large(int(declared), aws)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise self._too_large(size, aws, at_least=True)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _too_large(self, size: int, aws: bool, at_least: bool = False) -> Refused:
        amount = f"{'more than ' if at_least else ''}{size - 1 if at_least else size} bytes"
        message = f"field 'Body': a request body of {amount} exceeds the {self.max_body}-byte (6 MB) limit"
        # SageMaker answers an oversized InvokeEndpoint with 400 ValidationError; HTTP says 413.
        return Refused(400 if aws else 413, "ValidationError", message)

    def _authenticate(self, scope: Scope, aws: bool) -> bool:
        """Checks a Bearer secret, or all of a SigV4 signature but the signature itself, before
        any of the body is read (a caller without the key or the secret never makes the server
        buffer anything); True when the SigV4 signature remains to be checked."""
        assert self.api_key is not None and self.api_secret is not None
        auth = joined(scope, "authorization") or ""  # two Authorization headers: neither passes
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer":
            if not hmac.compare_digest(value.strip().encode(), self.api_secret.encode()):
                what = "the API secret (--api-secret)" if self.api_secret != self.api_key else "the API key"
                raise Refused(401, "InvalidApiKey", f"'Authorization: Bearer' must carry {what}")
            return False
        if scheme == "AWS4-HMAC-SHA256":
            sigv4_preflight(scope, self.api_key)
            return True
        if aws:
            raise Refused(403, "MissingAuthenticationTokenException",
                          "this server requires a SigV4 signature whose access key id is its API key")
        raise Refused(401, "MissingApiKey",
                      "this server requires an API key: send 'Authorization: Bearer <key>'")


_RUNTIME_PATH = re.compile(r"^/endpoints/[^/]+/(invocations|invocations-response-stream|async-invocations)$")


def _public(scope: Scope) -> bool:
    """The Studio's static pages (no data: they ask for the key and send it on every API call)."""
    path = scope["path"]
    return scope["method"] in ("GET", "HEAD") and (
        path in ("/", "/studio") or (path.startswith("/studio/") and not path.startswith("/studio/api/")))


def _aws_style(scope: Scope, headers: dict[str, str]) -> bool:
    """Whether the caller speaks AWS (boto3): its errors then follow the AWS shapes and codes."""
    return (headers.get("authorization", "").startswith("AWS4-")
            or "x-amz-target" in headers or bool(_RUNTIME_PATH.match(scope["path"])))


def _one_target(scope: Scope) -> None:
    targets = [v for k, v in pairs(scope) if k == "x-amz-target"]
    if len(targets) > 1:
        raise Refused(400, "UnknownOperationException",
                      f"header 'X-Amz-Target' appears {len(targets)} times ({', '.join(map(repr, targets))}): "
                      "send it once")


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
