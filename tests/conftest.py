"""Shared fixtures: an isolated SPRINGBOARD_HOME per test, tiny models per session."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import tinymodels  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def shared_models_dir(request, tmp_path_factory) -> Path:
    """One cache of converted weights (the default model's GGUF conversion) for every test
    and run: $SPRINGBOARD_MODELS_DIR if set, else .pytest_cache/d/springboard-models (a
    session temp dir when pytest's cache is disabled)."""
    import os

    configured = os.environ.get("SPRINGBOARD_MODELS_DIR")
    if configured:
        return Path(configured)
    cache = getattr(request.config, "cache", None)
    return cache.mkdir("springboard-models") if cache else tmp_path_factory.mktemp("springboard-models")


@pytest.fixture(scope="session", autouse=True)
def data_roots(tmp_path_factory) -> Iterator[str]:
    """What a server request may read and write besides the home (confinement.confine): the tests'
    temporary folders and the checked-in fixtures, for the whole session (module-scoped servers
    start before any test's own fixtures); tests/security narrows it again."""
    import os

    roots = os.pathsep.join([str(tmp_path_factory.getbasetemp()), str(FIXTURES)])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPRINGBOARD_DATA_ROOTS", roots)
        mp.delenv("SPRINGBOARD_ALLOW_HTTP", raising=False)
        mp.delenv("SPRINGBOARD_ALLOWED_HOSTS", raising=False)
        yield roots


@pytest.fixture(scope="session", autouse=True)
def reference_backend() -> Iterator[None]:
    """The suite compares outputs with transformers' own generate(): it runs on the transformers
    backend unless a test asks for another (the default, auto, serves Llama-family models on CPU
    through llama.cpp at the precision generate/precision.py picks; tests/generate covers it).
    Session-wide, so module-scoped engines and servers, made before any test's own fixtures, get
    it too."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPRINGBOARD_GENERATE_BACKEND", "transformers")
        yield


@pytest.fixture(autouse=True)
def sb_home(tmp_path, monkeypatch, shared_models_dir, data_roots, reference_backend) -> Path:
    home = tmp_path / "sbhome"
    monkeypatch.setenv("SPRINGBOARD_HOME", str(home))
    monkeypatch.setenv("SPRINGBOARD_DATA_ROOTS", data_roots)  # a test that changed it gets it back
    monkeypatch.setenv("SPRINGBOARD_MODELS_DIR", str(shared_models_dir))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("SPRINGBOARD_GENERATE_BACKEND", "transformers")  # a test that changed it gets it back
    return home


@pytest.fixture(scope="session")
def tiny_causal_dir(tmp_path_factory) -> Path:
    return tinymodels.build_causal(tmp_path_factory.mktemp("tiny-causal"))


@pytest.fixture(scope="session")
def tiny_t5_dir(tmp_path_factory) -> Path:
    return tinymodels.build_t5(tmp_path_factory.mktemp("tiny-t5"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Real sample data (Common Crawl records), kept in the repository so a clone tests on its
    own: tests/fixtures (its README names each file's source and license); read-only."""
    return FIXTURES


@pytest.fixture(scope="session")
def moto_s3_server():
    """moto's S3 server on loopback (a real S3 wire): the stand-in for S3 in every test."""
    import socket

    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(moto_s3_server, monkeypatch, request) -> str:
    """A fresh bucket on the moto server, with the standard AWS settings pointing there
    (AWS_ENDPOINT_URL_S3 and dummy credentials) for this process and the jobs it starts.
    Returns `s3://<bucket>`."""
    import re
    import uuid

    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_s3_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    bucket = (re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-") + "-" + uuid.uuid4().hex[:8])
    boto3.client("s3", endpoint_url=moto_s3_server, region_name="us-east-1").create_bucket(Bucket=bucket)
    return f"s3://{bucket}"
