"""The composition root: the one FastAPI server, built from the rooms' routers, with request
authentication and body limits in one place (`Guard`, an ASGI middleware in front of every route).

Adding a room's routes is one line in ROUTERS. A router's handlers reach shared services through
`request.app.state` (`app.state.manager`: the endpoints this server hosts), so routers hold no
state and nothing imports this module (it stands on top of every room, see DESIGN.md).

`springboard serve` (registered here) runs this app under uvicorn."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import datetime
import hashlib
import hmac
import ipaddress
import re
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI

from springboard import controlplane, settings, studio
from springboard.errors import ValidationError
from springboard.serve import limits, openai_api, tgi_api
from springboard.serve import routes as serve_routes
from springboard.serve.endpoints import EndpointManager
from springboard.serve.registry import EndpointConfig

log = logging.getLogger("springboard.app")

# Every router the server hosts. A room adds its routes here with one line.
ROUTERS: list[APIRouter] = [
    serve_routes.router,  # SageMaker runtime, container contract (/ping, /invocations), /springboard/endpoints
    openai_api.router,  # OpenAI-compatible /v1
    tgi_api.router,  # TGI per endpoint: /endpoints/{name}[/generate|/generate_stream|/info|/health]
    openai_api.endpoint_router,  # /endpoints/{name}/v1/...: OpenAI routes under an endpoint's base URL
    controlplane.router,  # SageMaker control plane: POST / with X-Amz-Target: SageMaker.<Operation>
    studio.router,  # the web UI: /studio/ (static pages; GET / redirects there) and /studio/api/ views
]


def create_app(manager: EndpointManager | None = None, restore: bool = True, api_key: str | None = None,
               api_secret: str | None = None, bound: str | None = None,
               allowed_hosts: list[str] | None = None) -> FastAPI:
    """The server. With `api_key`, every request must carry it (see `Guard` below); `bound` (the
    bind address) and `allowed_hosts` are the Host names it answers besides loopback
    (`HostOriginCheck`)."""
    manager = manager or EndpointManager()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from springboard.hub.jumpstart import export_to_home

        export_to_home()  # the catalog as JumpStart metadata, for the sagemaker SDK (README)
        if restore:
            manager.restore()
        yield
        await manager.close()

    app = FastAPI(title="Springboard", lifespan=lifespan)
    app.state.manager = manager
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(Guard, api_key=api_key, api_secret=api_secret)
    # outermost: a refused Host or Origin costs no authentication and no body read
    app.add_middleware(HostOriginCheck, bound=bound, allowed_hosts=settings.allowed_hosts() + (allowed_hosts or []))
    return app


def run(host: str = "127.0.0.1", port: int = settings.DEFAULT_PORT, model: str | None = None,
        name: str | None = None, batching: bool = True, max_batch_size: int = 16, max_wait_ms: float = 10.0,
        api_key: str | None = None, api_secret: str | None = None, allowed_hosts: list[str] | None = None) -> None:
    """Serves until interrupted. With `model`, also deploys it (the single-model container).
    Off loopback an API key is required."""
    import uvicorn

    from springboard.serve.server import client_host, server_file

    api_key = api_key or settings.api_key()
    api_secret = api_secret or settings.api_secret()
    if not is_loopback(host) and not api_key:
        raise ValidationError(
            f"refusing to serve on {host!r} (not loopback) without an API key: pass --api-key or set "
            "SPRINGBOARD_API_KEY (clients then send it as 'Authorization: Bearer <key>' or as the "
            "access key of a SigV4 signature)"
        )
    if api_secret and not api_key:
        raise ValidationError("--api-secret / SPRINGBOARD_API_SECRET needs an API key as well")
    manager = EndpointManager()
    if model is not None:
        config = EndpointConfig(name=name or "default", model=model, batching=batching,
                                max_batch_size=max_batch_size, max_wait_ms=max_wait_ms)
        if config.name in {r.name for r in manager.registry.list()}:
            manager.registry.delete(config.name)
        manager.create(config)
    app = create_app(manager, api_key=api_key, api_secret=api_secret, bound=host, allowed_hosts=allowed_hosts)
    url = f"http://{client_host(host)}:{port}"
    server_file().write_text(json.dumps({"url": url, "pid": os.getpid(), "host": host, "port": port}))
    log.info("serving on %s (SPRINGBOARD_HOME=%s%s)", url, settings.home(), ", API key required" if api_key else "")
    try:
        # SIGTERM: in-flight requests get the grace to finish, then are cancelled (their generation
        # stops at its next step), and the server exits within seconds.
        uvicorn.run(app, host=host, port=port, log_level="warning",
                    timeout_graceful_shutdown=settings.shutdown_grace())
    finally:
        try:
            if json.loads(server_file().read_text()).get("pid") == os.getpid():
                server_file().unlink()
        except (OSError, ValueError):
            pass


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
            await _refuse(send, Refused(403, "Forbidden", refusal))


# -- the guard: body limits and authentication for every route -----------------------------------

MAX_BODY_BYTES = 6_291_456  # SageMaker's InvokeEndpoint limit (6 MB), for every route
MAX_CLOCK_SKEW = datetime.timedelta(minutes=15)  # as AWS allows for a SigV4 X-Amz-Date

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class Refused(Exception):
    """A request the guard turns away before any route sees it."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


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
            auth = _joined(scope, "authorization") or ""
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
            await _refuse(send, exc)
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
        auth = _joined(scope, "authorization") or ""  # two Authorization headers: neither passes
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


async def _refuse(send: Send, exc: Refused) -> None:
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


_SIGV4 = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),"
    r"\s*Signature=(?P<signature>[0-9a-f]{64})\s*$"
)
_SIGNED_ALWAYS = ("host", "x-amz-date")


def _must_be_signed(name: str) -> bool:
    """Headers that route or interpret a request (the operation, the payload's type, SageMaker's
    target model/variant/custom attributes): a SigV4 request must sign every one it carries, so
    nothing unsigned decides what runs. botocore signs every header it sends but these few
    (x-amzn-trace-id among them)."""
    return name in ("content-type", "x-amz-target") or (
        name.startswith(("x-amz-", "x-amzn-")) and name != "x-amzn-trace-id")


def _pairs(scope: Scope) -> list[tuple[str, str]]:
    return [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]


def _joined(scope: Scope, name: str) -> str | None:
    """A header as SigV4 canonicalizes it: every copy, in order, trimmed with its inner runs of
    spaces collapsed, joined with ','; None when absent."""
    values = [" ".join(v.split()) for k, v in _pairs(scope) if k == name]
    return ",".join(values) if values else None


def _one_target(scope: Scope) -> None:
    targets = [v for k, v in _pairs(scope) if k == "x-amz-target"]
    if len(targets) > 1:
        raise Refused(400, "UnknownOperationException",
                      f"header 'X-Amz-Target' appears {len(targets)} times ({', '.join(map(repr, targets))}): "
                      "send it once")


@dataclasses.dataclass(frozen=True)
class SigV4:
    """A SigV4 Authorization header's parts, checked against everything but the body."""

    access_key: str
    region: str
    service: str
    signed: list[str]
    signature: str
    amz_date: str


def sigv4_preflight(scope: Scope, api_key: str) -> SigV4:
    """Everything about a SigV4 request the headers alone decide: the header's form, the access
    key id (the server's API key), X-Amz-Date within 15 minutes, and SignedHeaders naming host,
    x-amz-date and every routing header present (see _must_be_signed). Raises Refused (403,
    AWS's error codes); runs before the body is read."""
    match = _SIGV4.match(_joined(scope, "authorization") or "")
    if not match:
        raise Refused(403, "IncompleteSignatureException", "the Authorization header is not a SigV4 signature")
    parts = match["credential"].split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise Refused(403, "IncompleteSignatureException", "malformed SigV4 credential scope")
    access_key, day, region, service, _ = parts
    if not hmac.compare_digest(access_key.encode(), api_key.encode()):
        raise Refused(403, "UnrecognizedClientException",
                      "The security token included in the request is invalid (the access key id must be "
                      "the server's API key)")
    amz_date = _joined(scope, "x-amz-date") or ""
    try:
        when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        raise Refused(403, "IncompleteSignatureException", "missing or malformed X-Amz-Date") from None
    if abs(datetime.datetime.now(datetime.timezone.utc) - when) > MAX_CLOCK_SKEW or amz_date[:8] != day:
        raise Refused(403, "InvalidSignatureException", "Signature expired: X-Amz-Date is more than 15 minutes "
                      "from the server's time")
    signed = match["signed"].split(";")
    if signed != sorted(set(signed)) or any(name != name.lower() for name in signed):
        raise Refused(403, "IncompleteSignatureException",
                      "SignedHeaders must list lowercase header names once each, sorted")
    present = {name for name, _ in _pairs(scope)}
    absent = [name for name in signed if name not in present]
    if absent:
        raise Refused(403, "IncompleteSignatureException",
                      f"SignedHeaders names headers the request does not carry: {', '.join(absent)}")
    unsigned = sorted({*_SIGNED_ALWAYS, *(n for n in present if _must_be_signed(n))} - set(signed))
    if unsigned:
        raise Refused(403, "IncompleteSignatureException",
                      f"SignedHeaders must include {', '.join(unsigned)} (this server routes and reads only "
                      "what is signed)")
    return SigV4(access_key, region, service, signed, match["signature"], amz_date)


def verify_sigv4(scope: Scope, body: bytes, api_key: str, secret: str) -> None:
    """Recomputes the request's SigV4 signature with botocore's signer and the server's secret,
    over every copy of each signed header (botocore's canonical form joins them as AWS does).
    Raises Refused (403, AWS's error codes) when the key, the signature or the time is wrong."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest, HTTPHeaders
    from botocore.credentials import Credentials

    class Verifier(SigV4Auth):
        def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
            # Exactly the headers the client named, every copy: botocore's own list leaves out
            # a few (user-agent, ...) that another client may well have signed.
            chosen = HTTPHeaders()
            for name, value in request.headers.items():
                chosen[name] = value
            return chosen

    sig = sigv4_preflight(scope, api_key)
    declared_hash = _joined(scope, "x-amz-content-sha256")
    if declared_hash is not None and declared_hash != hashlib.sha256(body).hexdigest():
        raise Refused(403, "InvalidSignatureException", "X-Amz-Content-SHA256 does not match the body")
    path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"")
    # Always "http": botocore then hashes the body into the signature (what boto3 does over
    # http). The host comes from the signed Host header, not the URL.
    url = f"http://localhost{path.decode('latin-1')}" + (f"?{query.decode('latin-1')}" if query else "")
    request = AWSRequest(method=scope["method"], url=url, data=body)
    for name, value in _pairs(scope):
        if name in sig.signed:
            request.headers[name] = value  # HTTPHeaders keeps every copy, in order
    request.context["timestamp"] = sig.amz_date
    signer = Verifier(Credentials(sig.access_key, secret), sig.service, sig.region)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected.encode(), sig.signature.encode()):
        raise Refused(403, "InvalidSignatureException",
                      "The request signature we calculated does not match the signature you provided. "
                      "Check your AWS Secret Access Key and signing method.")


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# -- `springboard serve` --------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction) -> None:
    s = subparsers.add_parser("serve", help="run the server (endpoints, OpenAI routes; hosts many endpoints)")
    s.add_argument("--host", default="127.0.0.1", help="bind address; off loopback an API key is required")
    s.add_argument("--port", type=int, default=settings.DEFAULT_PORT)
    s.add_argument("--model", help="also deploy this model at start (single-model container: /invocations)")
    s.add_argument("--name", help="endpoint name for --model (default: 'default')")
    s.add_argument("--api-key", help="require this key on every request (default: $SPRINGBOARD_API_KEY)")
    s.add_argument("--api-secret", help="the secret SigV4 (boto3) signatures are checked with and "
                   "'Authorization: Bearer' must carry; the key is then only the access key id "
                   "(default: $SPRINGBOARD_API_SECRET, else the API key itself)")
    s.add_argument("--allowed-hosts", default="", help="comma-separated Host names the server answers besides "
                   "loopback and --host (also $SPRINGBOARD_ALLOWED_HOSTS; '*' for any)")
    s.add_argument("--no-batching", action="store_true", help="run requests one at a time")
    s.add_argument("--max-batch-size", type=int, default=16, help="rows per batched pass (default 16)")
    s.add_argument("--max-wait-ms", type=float, default=10.0, help="how long a request waits for company")
    limits.add_server_options(s)  # per-request bounds, endpoint count, shutdown grace (serve/limits.py)
    s.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    limits.apply_server_options(args)
    run(args.host, args.port, model=args.model, name=args.name, batching=not args.no_batching,
        max_batch_size=args.max_batch_size, max_wait_ms=args.max_wait_ms, api_key=args.api_key,
        api_secret=args.api_secret, allowed_hosts=[h for h in args.allowed_hosts.split(",") if h.strip()])
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m springboard.app`: how `deploy` starts a background server."""
    from springboard.errors import SpringboardError

    parser = argparse.ArgumentParser(prog="python -m springboard.app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=settings.DEFAULT_PORT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        run(args.host, args.port)
    except SpringboardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
