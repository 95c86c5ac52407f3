"""The endpoint registry on disk, restoring endpoints after a restart, and the single-model
container contract."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from springboard.errors import ConflictError, ValidationError
from springboard.app import create_app
from springboard.serve import EndpointConfig, EndpointManager, EndpointRegistry


def test_names_follow_sagemaker_rules_and_are_unique(tiny_causal_dir):
    registry = EndpointRegistry()
    with pytest.raises(ValidationError):
        registry.create(EndpointConfig(name="bad_name!", model=str(tiny_causal_dir)))
    registry.create(EndpointConfig(name="ok-1", model=str(tiny_causal_dir)))
    with pytest.raises(ConflictError):
        registry.create(EndpointConfig(name="ok-1", model=str(tiny_causal_dir)))
    assert [r.name for r in EndpointRegistry().list()] == ["ok-1"]


def test_a_new_server_restores_recorded_endpoints(tiny_causal_dir, tmp_path):
    first = EndpointManager()
    first.create(EndpointConfig(name="kept", model=str(tiny_causal_dir)), background=False)
    first.create(EndpointConfig(name="broken", model=str(tmp_path / "nothing")), background=False)
    assert first.describe("broken").status == "Failed"
    assert "nothing" in first.describe("broken").failure_reason

    again = EndpointManager()
    again.restore()
    assert set(again.endpoints) == {"kept"}  # Failed endpoints stay down
    again.endpoints["kept"]._ready.wait(60)
    assert again.describe("kept").status == "InService"


def test_single_model_container_contract(tiny_causal_dir):
    manager = EndpointManager()
    manager.create(EndpointConfig(name="only", model=str(tiny_causal_dir)), background=False)
    # base_url: the server answers loopback Host names only (TestClient's default is "testserver")
    with TestClient(create_app(manager, restore=False), base_url="http://127.0.0.1") as client:
        assert client.get("/ping").status_code == 200
        response = client.post("/invocations", json={"inputs": "Hello", "parameters": {"max_new_tokens": 3}})
        assert response.status_code == 200 and "generated_text" in response.json()[0]
        bad = client.post("/invocations", content=b"{oops", headers={"Content-Type": "application/json"})
        assert bad.status_code == 400 and "Body" in bad.json()["message"]
