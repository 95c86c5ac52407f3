"""Fixtures for the real `sagemaker` SDK: the catalog exported as JumpStart metadata and the
environment `springboard jumpstart env` prints, per test."""

from __future__ import annotations

from pathlib import Path

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
    from sagemaker.jumpstart import accessors

    accessors.JumpStartModelsAccessor.reset_cache()


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
