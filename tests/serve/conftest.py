"""A real uvicorn server on loopback (in a thread) hosting tiny-model endpoints."""

from __future__ import annotations

from collections.abc import Iterator

import liveserver
import pytest

from springboard.generate import Engine
from springboard.serve import EndpointConfig, EndpointManager, EndpointRegistry


@pytest.fixture(scope="module")
def causal_engine(tiny_causal_dir) -> Engine:
    return Engine.load(tiny_causal_dir)


@pytest.fixture(scope="module")
def t5_engine(tiny_t5_dir) -> Engine:
    return Engine.load(tiny_t5_dir)


@pytest.fixture(scope="module")
def server(tmp_path_factory, causal_engine, t5_engine) -> Iterator[liveserver.LiveServer]:
    manager = EndpointManager(EndpointRegistry(tmp_path_factory.mktemp("endpoints")))
    # These tests hold the wire formats to the engine's own generation for the same text, so the
    # causal endpoint takes plain text raw (the switch, SPRINGBOARD_PROMPT_FORMAT=raw); the prompt
    # rule itself is tested in test_prompt_rule.py.
    manager.add_engine(EndpointConfig(name="causal", model=str(causal_engine.model_dir), prompt_format="raw"),
                       causal_engine)
    manager.add_engine(EndpointConfig(name="t5", model=str(t5_engine.model_dir)), t5_engine)
    live = liveserver.start(manager, publish=False)
    yield live
    live.stop(timeout=10)


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
