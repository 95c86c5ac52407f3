"""Fixtures for the real `sagemaker` SDK: the catalog exported as JumpStart metadata and the
environment `springboard jumpstart env` prints, per test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import liveserver
import pytest

ROLE = "arn:aws:iam::111122223333:role/springboard"


@pytest.fixture
def sdk_env(tmp_path, monkeypatch, sb_home) -> dict[str, str]:
    """The SDK configured as `springboard jumpstart env` configures it, with a server URL that
    nothing listens on (tests that need a server start one and override the endpoints).
    The SDK caches JumpStart metadata per process: the cache is reset so each test reads its
    own export."""
    from springboard.hub.jumpstart import sdk_environment

    env = sdk_environment("http://127.0.0.1:9", directory=tmp_path / "jumpstart")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    reset_sdk_cache()
    yield env
    reset_sdk_cache()


def reset_sdk_cache() -> None:
    """What a fresh process under the current environment would have: the SDK builds its default
    JumpStart session (with its sagemaker-runtime client) once, when `sagemaker` is first
    imported, and caches JumpStart metadata per process."""
    import boto3
    from sagemaker.jumpstart import accessors, constants
    from sagemaker.session import Session

    accessors.JumpStartModelsAccessor.reset_cache()
    # Modules hold that session by reference (imports, default arguments): rebuild it in place.
    Session.__init__(constants.DEFAULT_JUMPSTART_SAGEMAKER_SESSION,
                     boto3.Session(region_name=constants.JUMPSTART_DEFAULT_REGION_NAME))


@pytest.fixture
def reexport(sdk_env):
    """Exports the catalog again into the test's JumpStart folder (after a registration) and
    drops the SDK's cached copy."""

    def run() -> Path:
        from springboard.hub.jumpstart import export_specs

        root = export_specs(Path(sdk_env["AWS_JUMPSTART_SPECS_LOCAL_ROOT_DIR_OVERRIDE"]))
        reset_sdk_cache()
        return root

    return run


@dataclass
class SdkServer:
    url: str
    bucket: str  # "s3://<bucket>": the SDK's default bucket on the moto S3 server
    env: dict[str, str]


@pytest.fixture
def sdk_server(sdk_env, s3_bucket, monkeypatch, tmp_path) -> Iterator[SdkServer]:
    """The whole Springboard server on loopback (this test's SPRINGBOARD_HOME), moto as S3, and
    the environment `springboard jumpstart env --endpoint-url <server> --s3-endpoint-url <moto>
    --bucket <bucket>` prints, applied to this process (and so to the jobs it starts)."""
    import os

    from springboard.hub.jumpstart import sdk_environment

    live = liveserver.start()
    url = live.url
    bucket = s3_bucket.removeprefix("s3://")
    env = sdk_environment(url, os.environ["AWS_ENDPOINT_URL_S3"], directory=tmp_path / "jumpstart",
                          bucket=bucket)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_sdk_cache()
    yield SdkServer(url, s3_bucket, env)
    live.stop()
