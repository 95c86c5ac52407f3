"""The whole server (`springboard.app`) on loopback, in a thread of the test process: what the
tests' real clients (boto3, the sagemaker SDK, openai, huggingface_hub, Playwright) talk to.
Imported as `liveserver` (tests/ is on sys.path: a `tests` package from site-packages shadows
ours in some environments)."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import dataclass, field


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    manager: object
    api_key: str | None = None
    _server: object = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def stop(self, timeout: float = 15) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=timeout)


def serve(app, manager=None, api_key: str | None = None, publish: bool = True) -> LiveServer:
    """Starts `app` on a free loopback port and waits until it accepts requests. `publish`
    records it as `springboard serve` does, so the CLI and the Python SDK find it."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    if publish:
        from springboard.serve.server import server_file

        server_file().write_text(json.dumps({"url": url, "pid": os.getpid(), "host": "127.0.0.1", "port": port}))
    return LiveServer(url, manager, api_key, server, thread)


def start(manager=None, api_key: str | None = None, publish: bool = True) -> LiveServer:
    """A fresh `create_app` over `manager` (a new EndpointManager on this test's
    SPRINGBOARD_HOME by default), endpoints not restored."""
    from springboard.app import create_app
    from springboard.serve.endpoints import EndpointManager

    manager = manager or EndpointManager()
    return serve(create_app(manager, restore=False, api_key=api_key), manager, api_key, publish)
