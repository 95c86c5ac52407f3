"""Endpoints survive the server: after kill -9 or a clean stop, a new server brings every recorded
endpoint back InService (loads never race; a failed restore is retried)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import httpx
import liveserver

from springboard.generate import Engine
from springboard.serve import EndpointConfig, EndpointManager, EndpointRegistry
from springboard.serve.server import ServerClient


def _log_tail(path) -> str:
    return "\n--- server log (tail) ---\n" + path.read_text(errors="replace")[-3000:]


def _start(port: int, log) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "springboard.app", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
    deadline = time.monotonic() + 300  # a loaded shared machine can take a while to import torch
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited" + _log_tail(Path(log.name))
        try:
            if httpx.get(f"http://127.0.0.1:{port}/springboard/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("the server did not come up" + _log_tail(Path(log.name)))


def _all_in_service(client: ServerClient, names: list[str]) -> dict[str, str]:
    for name in names:
        client.wait(name, timeout=300)
    return {name: f"{r.status} {r.failure_reason or ''}".strip()
            for name in names for r in [client.describe(name)]}


def test_kill_9_and_clean_stop_bring_every_endpoint_back(sb_home, tiny_causal_dir, tiny_t5_dir, tmp_path):
    port = liveserver.free_port()
    url = f"http://127.0.0.1:{port}"
    names = ["causal-a", "t5-b", "causal-c", "t5-d"]
    logfile = tmp_path / "server.log"
    with open(logfile, "ab") as log:
        proc = _start(port, log)
        try:
            client = ServerClient(url)
            for name in names:
                model = tiny_causal_dir if name.startswith("causal") else tiny_t5_dir
                client.create(EndpointConfig(name=name, model=str(model)))
            assert _all_in_service(client, names) == dict.fromkeys(names, "InService"), _log_tail(logfile)

            proc.send_signal(signal.SIGKILL)  # no shutdown code runs
            proc.wait(30)
            proc = _start(port, log)  # a fresh process: transformers not imported yet
            assert _all_in_service(client, names) == dict.fromkeys(names, "InService"), _log_tail(logfile)
            runtime = boto3.client("sagemaker-runtime", endpoint_url=url, region_name="us-east-1",
                                   aws_access_key_id="x", aws_secret_access_key="x")
            out = runtime.invoke_endpoint(EndpointName="causal-c", ContentType="application/json",
                                          Body=json.dumps({"inputs": "Hi", "parameters": {"max_new_tokens": 2}}))
            assert "generated_text" in json.loads(out["Body"].read())[0]

            proc.send_signal(signal.SIGTERM)  # a clean stop
            proc.wait(60)
            proc = _start(port, log)
            assert _all_in_service(client, names) == dict.fromkeys(names, "InService"), _log_tail(logfile)
        finally:
            proc.kill()
            proc.wait(30)


def test_a_failed_restore_is_retried(tiny_causal_dir, monkeypatch):
    first = EndpointManager(restore_attempts=1)
    first.create(EndpointConfig(name="kept", model=str(tiny_causal_dir)), background=False)

    real_load = Engine.load
    failures = []

    def flaky(ref, *args, **kwargs):
        if len(failures) < 2:
            failures.append(ref)
            raise ImportError("cannot import name 'AutoConfig' (a transient failure)")
        return real_load(ref, *args, **kwargs)

    monkeypatch.setattr(Engine, "load", staticmethod(flaky))
    again = EndpointManager(restore_attempts=3, retry_delay=0.0)
    for load in again.restore():
        load.result(120)
    assert len(failures) == 2
    assert again.describe("kept").status == "InService"


def test_an_endpoint_that_was_in_service_comes_back_even_after_a_failed_restore(tiny_causal_dir, monkeypatch):
    EndpointManager().create(EndpointConfig(name="kept", model=str(tiny_causal_dir)), background=False)
    real_load = Engine.load
    monkeypatch.setattr(Engine, "load", staticmethod(lambda *a, **k: (_ for _ in ()).throw(OSError("disk gone"))))
    broken = EndpointManager(restore_attempts=1)
    for load in broken.restore():
        load.result(60)
    assert EndpointRegistry().get("kept").status == "Failed"
    monkeypatch.setattr(Engine, "load", real_load)
    healed = EndpointManager()
    for load in healed.restore():
        load.result(120)
    assert healed.describe("kept").status == "InService"


def test_an_endpoint_that_never_came_up_stays_down(tmp_path):
    manager = EndpointManager()
    manager.create(EndpointConfig(name="broken", model=str(tmp_path / "nothing")), background=False)
    assert manager.describe("broken").status == "Failed"
    assert EndpointManager().restore() == []
