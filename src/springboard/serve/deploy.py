"""Deploying: an endpoint created on the endpoint server (started in the background when none
runs) and, on request, waited for until it serves. What the SDK's `Model.deploy` and AutoML's
ModelDeployConfig both do."""

from __future__ import annotations

import re
import time
from pathlib import Path

from springboard.errors import SpringboardError
from springboard.serve.registry import EndpointConfig
from springboard.serve.server import ServerClient


def default_endpoint_name(base: str) -> str:
    """`<model>-<timestamp>`, within SageMaker's 63-character endpoint name rule."""
    slug = re.sub(r"[^a-zA-Z0-9]+", "-", Path(base).name).strip("-") or "endpoint"
    stamp = time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime()) + f"-{int(time.time() * 1000) % 1000:03d}"
    return f"{slug[: 62 - len(stamp)].rstrip('-')}-{stamp}"


def deploy(config: EndpointConfig, wait: bool = True) -> ServerClient:
    """Creates the endpoint and, with `wait`, waits until it is InService; a Failed endpoint
    raises its reason. Returns the client that reached the server."""
    client = ServerClient(start=True)
    client.create(config)
    if wait:
        record = client.wait(config.name)
        if record.status != "InService":
            raise SpringboardError(f"endpoint {config.name} {record.status}: {record.failure_reason}")
    return client
