"""The composition root: the one FastAPI server, built from the rooms' routers, with request
authentication and body limits in one place (`springboard.guard`: ASGI middleware in front of
every route).

Adding a room's routes is one line in ROUTERS. A router's handlers reach shared services through
`request.app.state` (`app.state.manager`: the endpoints this server hosts), so routers hold no
state and nothing imports this module (it stands on top of every room, see DESIGN.md).

`springboard serve` (registered here) runs this app under uvicorn."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from springboard import controlplane, settings, studio
from springboard.errors import ValidationError
from springboard.guard import Guard, HostOriginCheck, is_loopback
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
