"""Issue 19: per-request work is bounded (inputs, sequences, total new tokens, input tokens;
configurable, refused with a 4xx naming the setting on every route), a non-streaming request
whose client went away stops generating, and SIGTERM stops a busy `springboard serve` quickly.
Through the clients a caller uses: boto3, httpx, openai."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import openai
import pytest

import liveserver


def _model_error(runtime, body: dict) -> str:
    with pytest.raises(runtime.exceptions.ModelError) as err:
        runtime.invoke_endpoint(EndpointName="causal", ContentType="application/json", Body=json.dumps(body))
    assert err.value.response["OriginalStatusCode"] == 400
    return err.value.response["Error"]["Message"]


def test_a_huge_text_inputs_list_is_refused_naming_the_limit(runtime):
    message = _model_error(runtime, {"text_inputs": ["a"] * 500_000, "max_new_tokens": 1})
    assert "500000 inputs" in message and "SPRINGBOARD_MAX_INPUTS" in message and "--max-inputs" in message


def test_beams_times_return_sequences_is_bounded(runtime):
    body = {"text_inputs": ["a b"] * 16, "num_beams": 64, "num_return_sequences": 64, "max_new_tokens": 4}
    message = _model_error(runtime, body)
    assert "65536 sequences" in message and "SPRINGBOARD_MAX_SEQUENCES" in message and "num_beams" in message


def test_the_limits_are_settings(runtime, monkeypatch):
    monkeypatch.setenv("SPRINGBOARD_MAX_INPUTS", "2")
    assert "SPRINGBOARD_MAX_INPUTS" in _model_error(runtime, {"text_inputs": ["a", "b", "c"], "max_new_tokens": 1})
    out = runtime.invoke_endpoint(EndpointName="causal", ContentType="application/json",
                                  Body=json.dumps({"text_inputs": ["a", "b"], "max_new_tokens": 1}))
    assert len(json.loads(out["Body"].read())["generated_texts"]) == 2
    monkeypatch.setenv("SPRINGBOARD_MAX_TOTAL_NEW_TOKENS", "10")
    message = _model_error(runtime, {"inputs": "a", "parameters": {"max_new_tokens": 11}})
    assert "SPRINGBOARD_MAX_TOTAL_NEW_TOKENS" in message and "max_new_tokens" in message
    monkeypatch.setenv("SPRINGBOARD_MAX_INPUTS", "0")
    response = httpx.post(runtime.meta.endpoint_url + "/endpoints/causal/invocations",
                          json={"inputs": "a", "parameters": {"max_new_tokens": 1}})
    assert response.status_code == 424 and "SPRINGBOARD_MAX_INPUTS='0'" in response.text


def test_tgi_answers_422_for_too_many_input_tokens(server, monkeypatch):
    monkeypatch.setenv("SPRINGBOARD_MAX_INPUT_TOKENS", "8")
    response = httpx.post(f"{server.url}/endpoints/causal/generate",
                          json={"inputs": "one two three four five six seven eight nine ten eleven",
                                "parameters": {"max_new_tokens": 2}})
    assert response.status_code == 422
    assert response.json()["error_type"] == "validation" and "SPRINGBOARD_MAX_INPUT_TOKENS" in response.json()["error"]
    stream = httpx.post(f"{server.url}/endpoints/causal/generate_stream",
                        json={"inputs": "one two three four five six seven eight nine ten eleven",
                              "parameters": {"max_new_tokens": 2}})
    assert stream.status_code == 422 and "SPRINGBOARD_MAX_INPUT_TOKENS" in stream.text


def test_openai_sees_a_400_naming_the_limit(server, monkeypatch):
    monkeypatch.setenv("SPRINGBOARD_MAX_TOTAL_NEW_TOKENS", "100")
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.BadRequestError) as err:
        client.completions.create(model="causal", prompt="Hello", max_tokens=60, n=2)
    assert "SPRINGBOARD_MAX_TOTAL_NEW_TOKENS" in str(err.value)
    assert client.completions.create(model="causal", prompt="Hello", max_tokens=50, n=2).choices


def _abandon(url: str, body: dict, timeout: float = 1.0) -> None:
    with pytest.raises(httpx.TimeoutException):
        httpx.post(url, json=body, timeout=timeout)


def _until(condition, what: str, limit: float = 300.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.1)


def test_an_abandoned_runtime_request_stops_its_pass(server):
    """t5 runs on the dynamic batcher: the pass (2000 new tokens: about a minute here) stops at its
    next step once the client is gone."""
    endpoint = server.manager.get("t5")
    before = endpoint.batcher.stats.abandoned
    _abandon(f"{server.url}/endpoints/t5/invocations", {"text_inputs": "a b c", "max_new_tokens": 2000})
    _until(lambda: endpoint.batcher.stats.abandoned > before, "the pass stopped")
    assert endpoint.batcher.stats.abandoned_tokens < 2000
    _until(lambda: not endpoint.engine.lock.locked(), "the engine is idle")
    assert "generated_texts" in httpx.post(f"{server.url}/endpoints/t5/invocations",
                                           json={"text_inputs": "a b", "max_new_tokens": 2}, timeout=60).json()


@pytest.mark.parametrize("route", ["tgi", "openai"])
def test_an_abandoned_scheduled_request_leaves_the_scheduler(server, route):
    """causal runs on the continuous-batching scheduler: its rows are cancelled, and the scheduler
    stops stepping well before the 450 tokens asked for."""
    endpoint = server.manager.get("causal")
    scheduler = endpoint.engine.scheduler
    before, steps = endpoint.batcher.stats.abandoned, scheduler.stats.steps
    if route == "tgi":
        _abandon(f"{server.url}/endpoints/causal/generate",
                 {"inputs": "Hello", "parameters": {"max_new_tokens": 450}}, timeout=0.3)
    else:
        _abandon(f"{server.url}/v1/completions", {"model": "causal", "prompt": "Hello", "max_tokens": 450},
                 timeout=0.3)
    _until(lambda: endpoint.batcher.stats.abandoned > before, "the request was cancelled")

    def settled() -> bool:
        seen = scheduler.stats.steps
        time.sleep(0.5)
        return scheduler.stats.steps == seen

    _until(settled, "the scheduler is idle")
    assert scheduler.stats.steps - steps < 449


def test_sigterm_stops_a_server_in_the_middle_of_a_long_generation(tiny_t5_dir, sb_home):
    port = liveserver.free_port()
    env = dict(os.environ, SPRINGBOARD_HOME=str(sb_home))
    proc = subprocess.Popen(
        [sys.executable, "-m", "springboard.cli", "serve", "--port", str(port), "--model", str(tiny_t5_dir),
         "--shutdown-grace", "1", "--max-inputs", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        def ready() -> bool:
            try:
                return httpx.get(f"{url}/ping", timeout=2).status_code == 200 and bool(
                    httpx.get(f"{url}/springboard/health", timeout=2).json()["endpoints"])
            except httpx.HTTPError:
                return False

        _until(ready, "the server is up with its endpoint")
        refused = httpx.post(f"{url}/invocations", json={"text_inputs": ["a", "b"], "max_new_tokens": 1}, timeout=60)
        assert refused.status_code == 400 and "--max-inputs" in refused.text  # the option took effect
        answers: list = []

        def long_request() -> None:
            try:  # several minutes of generation
                answers.append(httpx.post(f"{url}/invocations", json={"text_inputs": "a b", "max_new_tokens": 6000},
                                          timeout=600).status_code)
            except httpx.HTTPError as exc:
                answers.append(exc)

        thread = threading.Thread(target=long_request)
        thread.start()
        time.sleep(2)  # let the generation start
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)  # generous: it takes seconds (without the grace bound, minutes)
        thread.join(60)
        assert answers, "the in-flight request was never answered or closed"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def test_serve_options_are_checked(capsys):
    from springboard.cli import main

    assert main(["serve", "--max-sequences", "0"]) != 0
    assert "--max-sequences" in capsys.readouterr().err


def test_an_abandoned_request_stops_on_the_llamacpp_backend(tmp_path_factory, tiny_causal_dir):
    """The CPU engine's rows are cancelled too when the request's client went away, also on an
    endpoint without the dynamic batcher (Engine.generate waits on its rows and cancels them): the
    backend stops stepping well before the tokens asked for."""
    from springboard.generate.engine import Engine
    from springboard.serve.endpoints import EndpointManager
    from springboard.serve.registry import EndpointConfig, EndpointRegistry

    engine = Engine.load(tiny_causal_dir, backend="llamacpp", dtype="float32")
    manager = EndpointManager(EndpointRegistry(tmp_path_factory.mktemp("endpoints")))
    # raw text: "Hello" in the chat template may end at once, this test needs a long answer
    manager.add_engine(EndpointConfig(name="fast", model=str(tiny_causal_dir), batching=False, prompt_format="raw"),
                       engine)
    live = liveserver.start(manager, publish=False)
    try:
        endpoint, fast = manager.get("fast"), engine.fast
        before, steps = endpoint.batcher.stats.abandoned, fast.steps
        with pytest.raises(httpx.TimeoutException):
            httpx.post(f"{live.url}/endpoints/fast/generate", timeout=0.5, json={
                "inputs": "Hello", "parameters": {"max_new_tokens": 500, "stop": ["never said"]}})
        _until(lambda: endpoint.batcher.stats.abandoned > before, "the request was cancelled")

        def settled() -> bool:
            seen = fast.steps
            time.sleep(0.5)
            return fast.steps == seen

        _until(settled, "the backend is idle")
        assert fast.steps - steps < 500
    finally:
        live.stop(timeout=10)
        engine.close()
