"""The whole server (springboard.app: runtime + control plane) on loopback in a thread, and the
real boto3 clients pointed at it with dummy credentials."""

from __future__ import annotations

from collections.abc import Iterator

import liveserver
import pytest


@pytest.fixture
def server(sb_home) -> Iterator[liveserver.LiveServer]:
    """A fresh server per test, on this test's SPRINGBOARD_HOME (so jobs and endpoints made by
    the CLI and SDK in the test share its store and registry)."""
    live = liveserver.start()
    yield live
    live.stop()


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


ROLE = "arn:aws:iam::111111111111:role/SageMakerRole"


@pytest.fixture
def deploy(sm):
    """CreateModel (container Environment `env`) + one-variant EndpointConfig + CreateEndpoint, all
    named `name`: how a boto3 user deploys a model with container settings."""

    def run(name: str, location, env: dict[str, str]) -> None:
        sm.create_model(ModelName=name, ExecutionRoleArn=ROLE,
                        PrimaryContainer={"Image": "tgi", "ModelDataUrl": str(location), "Environment": env})
        sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1,
             "InstanceType": "ml.m5.xlarge"}])
        sm.create_endpoint(EndpointName=name, EndpointConfigName=name)

    return run
