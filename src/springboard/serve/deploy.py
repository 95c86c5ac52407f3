"""Deploying: an endpoint created on the endpoint server (started in the background when none
runs) and, on request, waited for until it serves. What the SDK's `Model.deploy` and AutoML's
ModelDeployConfig both do."""

from __future__ import annotations

from springboard import jobs
from springboard.errors import SpringboardError
from springboard.serve.registry import EndpointConfig
from springboard.serve.server import ServerClient


def default_endpoint_name(base: str) -> str:
    """`<model>-<timestamp>`: SageMaker's name_from_base, the same as a job's default name."""
    return jobs.default_name(base)


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
