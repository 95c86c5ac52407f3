"""A real uvicorn server on loopback (in a thread) hosting tiny-model endpoints."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import uvicorn

from springboard.generate import Engine
from springboard.app import create_app
from springboard.serve import EndpointConfig, EndpointManager, EndpointRegistry


@dataclass
class LiveServer:
    url: str
    manager: EndpointManager


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def causal_engine(tiny_causal_dir) -> Engine:
    return Engine.load(tiny_causal_dir)


@pytest.fixture(scope="module")
def t5_engine(tiny_t5_dir) -> Engine:
    return Engine.load(tiny_t5_dir)


@pytest.fixture(scope="module")
def server(tmp_path_factory, causal_engine, t5_engine) -> Iterator[LiveServer]:
    manager = EndpointManager(EndpointRegistry(tmp_path_factory.mktemp("endpoints")))
    manager.add_engine(EndpointConfig(name="causal", model=str(causal_engine.model_dir)), causal_engine)
    manager.add_engine(EndpointConfig(name="t5", model=str(t5_engine.model_dir)), t5_engine)
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
    yield LiveServer(f"http://127.0.0.1:{port}", manager)
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def runtime(server):
    """The real boto3 sagemaker-runtime client, dummy credentials, endpoint_url on loopback."""
    import boto3

    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
