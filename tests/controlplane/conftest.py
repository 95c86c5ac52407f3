"""The whole server (springboard.app: runtime + control plane) on loopback in a thread, and the
real boto3 clients pointed at it with dummy credentials."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import uvicorn


@dataclass
class LiveServer:
    url: str
    manager: object


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(sb_home) -> Iterator[LiveServer]:
    """A fresh server per test, on this test's SPRINGBOARD_HOME (so jobs and endpoints made by
    the CLI and SDK in the test share its store and registry)."""
    from springboard.app import create_app
    from springboard.serve.endpoints import EndpointManager

    manager = EndpointManager()
    port = _free_port()
    config = uvicorn.Config(create_app(manager, restore=False), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    # What `springboard serve` records, so the CLI and SDK find this server.
    import json
    import os

    from springboard.serve.server import server_file

    server_file().write_text(json.dumps({"url": url, "pid": os.getpid(), "host": "127.0.0.1", "port": port}))
    yield LiveServer(url, manager)
    srv.should_exit = True
    thread.join(timeout=15)


def client(service: str, url: str):
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}),
    )


@pytest.fixture
def sm(server):
    """boto3 `sagemaker` (the control plane)."""
    return client("sagemaker", server.url)


@pytest.fixture
def runtime(server):
    """boto3 `sagemaker-runtime`."""
    return client("sagemaker-runtime", server.url)


@pytest.fixture
def wait(sm):
    """Runs a botocore waiter, unchanged except for a short poll delay."""

    def run(name: str, **kwargs) -> None:
        sm.get_waiter(name).wait(WaiterConfig={"Delay": 0.2, "MaxAttempts": 900}, **kwargs)

    return run
