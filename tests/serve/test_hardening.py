"""Bad input answers 4xx (never 5xx), body limits hold on every route before a body is buffered,
deleted endpoints fail their in-flight requests, and endpoint names never become stray paths.
Through the real clients (boto3 sagemaker-runtime, openai) and raw sockets where a client would
hide what the server does."""

from __future__ import annotations

import json
import socket
import threading
import time
from urllib.parse import urlsplit

import httpx
import openai
import pytest

from springboard.cli import main
from springboard.errors import DataError
from springboard.generate import Engine, GenerationParams
from springboard.serve.registry import EndpointConfig

DEEP = b'{"inputs": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
SURROGATE = b'{"inputs": "\\ud800"}'  # valid JSON; not Unicode once decoded


@pytest.fixture(scope="module")
def oai(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)


def _model_error(runtime, name, body: bytes) -> dict:
    with pytest.raises(runtime.exceptions.ModelError) as err:
        runtime.invoke_endpoint(EndpointName=name, ContentType="application/json", Body=body)
    return err.value.response


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (DEEP, "Body"),
        (SURROGATE, "inputs"),
        (b'{"inputs": ""}', "inputs"),
        (b'{"inputs": "Hi", "parameters": {"max_new_tokens": "8"}}', "parameters.max_new_tokens"),
        (b'{"inputs": "Hi", "parameters": {"max_new_tokens": true}}', "parameters.max_new_tokens"),
        (b'{"inputs": "Hi", "parameters": {"repetition_penalty": Infinity}}', "parameters.repetition_penalty"),
        (b'{"inputs": "Hi", "parameters": {"temperature": NaN, "do_sample": true}}', "parameters.temperature"),
        (b'{"inputs": "Hi", "parameters": {"stop": ["\\udc00"]}}', "parameters.stop[0]"),
        (b'{"text_inputs": "Hi", "max_length": "8"}', "max_length"),
        (b'{"text_inputs": ["a", "b"], "batch_size": 100000}', "batch_size"),  # over max_batch_size
        (b'{"text_inputs": ["a", "b"], "batch_size": "2"}', "batch_size"),
    ],
)
def test_runtime_refuses_what_used_to_crash_or_slip_through(runtime, body, field):
    response = _model_error(runtime, "causal", body)
    assert response["OriginalStatusCode"] == 400
    assert f"'{field}'" in response["Error"]["Message"]


def test_openai_refuses_bad_types_empty_prompts_and_surrogates(oai, server):
    bad = [
        dict(prompt=[]),
        dict(prompt=""),
        dict(prompt=[[]]),
        dict(prompt="Hi", max_tokens="8"),
        dict(prompt="Hi", max_tokens=True),
    ]
    for kwargs in bad:
        with pytest.raises(openai.BadRequestError):
            oai.completions.create(model="causal", **kwargs)
    with pytest.raises(openai.BadRequestError):
        oai.chat.completions.create(model="causal", messages=[{"role": "user", "content": 5}])
    for path in ("/v1/completions", "/v1/chat/completions"):
        for body in (DEEP, b'{"model": "causal", "prompt": "Hi", "temperature": Infinity, "messages": []}',
                     b'{"model": "causal", "prompt": "\\ud800", "messages": [{"role": "user", '
                           b'"content": "\\ud800"}]}', b'{"model": "\\ud800", "prompt": "x"}'):
            response = httpx.post(server.url + path, content=body, headers={"Content-Type": "application/json"})
            assert 400 <= response.status_code < 500, (path, body[:40], response.text)
            assert response.json()["error"]["message"]


def test_control_api_refuses_deep_json_and_loose_types(server):
    for body in (DEEP, b'{"name": "x", "model": "m", "max_batch_size": "16"}',
                 b'{"name": "x", "model": "m", "max_wait_ms": Infinity}', b'{"name": "x", "model": "m", "typo": 1}'):
        response = httpx.post(server.url + "/springboard/endpoints", content=body)
        assert response.status_code == 400, response.text


def test_an_overlong_prompt_is_refused_before_it_is_tokenized(causal_engine, runtime):
    limit = causal_engine.context_length * causal_engine.max_token_chars
    calls = []
    real = causal_engine.tokenizer.__class__.__call__

    def counting(self, text, *args, **kwargs):
        calls.append(len(text) if isinstance(text, str) else 0)
        return real(self, text, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(causal_engine.tokenizer.__class__, "__call__", counting)
        with pytest.raises(DataError, match="characters"):
            causal_engine.encode("word " * (limit // 5 + 10))
    assert not calls  # the tokenizer never saw it
    response = _model_error(runtime, "causal", json.dumps({"inputs": "x" * (limit + 1)}).encode())
    assert "'inputs'" in response["Error"]["Message"] and "characters" in response["Error"]["Message"]


def _raw(url: str, head: bytes, chunks: list[bytes] = ()) -> bytes:
    """Sends a request head and body chunks on a socket and reads what comes back (the server may
    answer before the body is complete; a server that waited for the rest would time out)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head)
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except OSError:  # the server refused and closed while we were still sending
            pass
        data = b""
        while b"\r\n\r\n" not in data:
            piece = sock.recv(65536)
            if not piece:
                break
            data += piece
        return data


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions", "/springboard/endpoints",
                                  "/invocations", "/endpoints/causal/invocations"])
def test_every_route_refuses_a_declared_oversized_body_without_reading_it(server, path):
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {50 * 1024 * 1024}\r\n\r\n").encode()
    reply = _raw(server.url, head)  # not one byte of the 50 MB is sent
    status = int(reply.split(b" ", 2)[1])
    assert status == (400 if path.startswith("/endpoints/") else 413)
    assert b"6291456-byte" in reply


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(server):
    head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    mb = b"x" * (1024 * 1024)
    chunk = f"{len(mb):x}\r\n".encode() + mb + b"\r\n"
    # 7 MB sent and the terminating chunk never: only a server that counts as it reads answers
    reply = _raw(server.url, head, [chunk] * 7)
    assert reply.startswith(b"HTTP/1.1 413")


def test_openai_client_sees_a_clear_error_for_a_huge_chat(oai):
    with pytest.raises(openai.APIStatusError) as err:
        oai.chat.completions.create(model="causal", messages=[{"role": "user", "content": "x" * 7_000_000}])
    assert err.value.status_code == 413 and "6 MB" in err.value.message


def test_deleting_an_endpoint_fails_its_queued_requests(server, runtime, causal_engine):
    # A 10 s batching window keeps the request queued (beam search: dynamic batching, not the
    # continuous scheduler); the delete must answer it, not the window.
    own = Engine.load(causal_engine.model_dir)  # deleting closes its engine: not the shared one
    server.manager.add_engine(EndpointConfig(name="doomed", model=str(own.model_dir), max_wait_ms=10_000), own)
    outcome: dict = {}

    def call():
        try:
            runtime.invoke_endpoint(EndpointName="doomed", ContentType="application/json",
                                    Body=json.dumps({"inputs": "Hi", "parameters": {"max_new_tokens": 2,
                                                                                    "num_beams": 2}}))
            outcome["result"] = "served"
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            outcome["error"] = exc

    thread = threading.Thread(target=call)
    thread.start()
    endpoint = server.manager.endpoints["doomed"]
    deadline = time.monotonic() + 30
    while not endpoint.batcher._pending and time.monotonic() < deadline:
        time.sleep(0.01)
    assert endpoint.batcher._pending, "the request never queued"
    assert httpx.delete(f"{server.url}/springboard/endpoints/doomed").status_code == 204
    thread.join(60)
    assert "result" not in outcome
    assert "was deleted while this request was in flight" in str(outcome["error"])


def test_an_aborted_stream_raises_instead_of_ending_quietly(causal_engine):
    stream = causal_engine.stream("Hello", GenerationParams(max_new_tokens=200))
    stream.abort(RuntimeError("endpoint gone"))
    with pytest.raises(RuntimeError, match="endpoint gone"):
        list(stream)


@pytest.mark.parametrize("name", ["../decoy", "a/b", "decoy\n", "..", ""])
def test_endpoint_names_never_become_paths_outside_the_registry(sb_home, name, capsys):
    decoy = sb_home / "decoy.json"
    decoy.parent.mkdir(parents=True, exist_ok=True)
    decoy.write_text("{}")
    assert main(["endpoints", "delete", name]) == 1
    assert main(["endpoints", "describe", name]) == 1
    assert "invalid endpoint name" in capsys.readouterr().err
    assert decoy.exists()


def test_invalid_names_on_the_server_routes_are_4xx(server, runtime):
    assert httpx.delete(f"{server.url}/springboard/endpoints/..%2Fdecoy").status_code == 404  # no such route
    assert httpx.delete(f"{server.url}/springboard/endpoints/bad_name").status_code == 400
    assert httpx.get(f"{server.url}/springboard/endpoints/%ED%A0%80").status_code in (400, 404)
    with pytest.raises(runtime.exceptions.ValidationError):
        runtime.invoke_endpoint(EndpointName="bad_name", ContentType="application/json", Body=b"{}")
