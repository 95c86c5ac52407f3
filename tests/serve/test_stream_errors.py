"""Deleting an endpoint while one of its streams is being read ends that stream with an error
event, as the real servers do, never with a bare close that reads like a finished answer: the
SageMaker runtime's ModelStreamError exception event (boto3 raises EventStreamError), TGI's
`data:{"error": ..., "error_type": ...}` (huggingface_hub raises), OpenAI's error chunk."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from botocore.exceptions import EventStreamError

from springboard.generate import Engine
from springboard.serve import EndpointConfig

NAME = "doomed"
TOKENS = 200  # far more than are read before the delete


@pytest.fixture
def doomed(server, tiny_causal_dir, monkeypatch) -> Iterator[str]:
    """An endpoint of its own (deleting it closes its engine) whose streams are read slowly,
    so the delete always lands mid-stream."""
    endpoint = server.manager.add_engine(EndpointConfig(name=NAME, model=str(tiny_causal_dir)),
                                         Engine.load(tiny_causal_dir))
    real = endpoint.stream

    def paced(prompt, request):
        stream = real(prompt, request)
        events = stream.events

        def slowly():
            for event in events():
                time.sleep(0.02)
                yield event

        stream.events = slowly
        return stream

    monkeypatch.setattr(endpoint, "stream", paced)
    yield NAME
    if NAME in server.manager.endpoints:
        httpx.delete(f"{server.url}/springboard/endpoints/{NAME}")


def _delete(server) -> None:
    assert httpx.delete(f"{server.url}/springboard/endpoints/{NAME}", timeout=30).status_code == 204


BODY = {"inputs": "Hello", "parameters": {"max_new_tokens": TOKENS, "do_sample": False}}


def test_runtime_stream_ends_with_a_model_stream_error(server, runtime, doomed):
    response = runtime.invoke_endpoint_with_response_stream(
        EndpointName=doomed, ContentType="application/json", Body=json.dumps({**BODY, "stream": True}))
    parts = iter(response["Body"])
    assert "PayloadPart" in next(parts)
    _delete(server)
    with pytest.raises(EventStreamError) as err:
        for _ in parts:
            pass
    assert err.value.response["Error"]["Code"] == "ModelStreamError"
    assert "deleted" in err.value.response["Error"]["Message"]


def _sse_after_delete(server, path: str, body: dict) -> list[str]:
    """Reads the first event, deletes the endpoint, then reads the rest: the data lines."""
    lines = []
    with httpx.stream("POST", server.url + path, json=body, timeout=60) as response:
        assert response.status_code == 200
        deleted = False
        for line in response.iter_lines():
            if line.startswith("data:"):
                lines.append(line[5:].strip())
                if not deleted:
                    _delete(server)
                    deleted = True
    return lines


@pytest.mark.parametrize("path", [f"/endpoints/{NAME}/generate_stream", f"/endpoints/{NAME}/invocations"])
def test_tgi_streams_end_with_an_error_event(server, doomed, path):
    body = {**BODY, "stream": True} if path.endswith("invocations") else BODY
    lines = _sse_after_delete(server, path, body)
    last = json.loads(lines[-1])
    assert last["error_type"] == "generation" and "deleted" in last["error"]
    assert all("error" not in json.loads(line) for line in lines[:-1])


def test_huggingface_hub_raises_on_the_error_event(server, doomed):
    from huggingface_hub import InferenceClient

    client = InferenceClient(base_url=f"{server.url}/endpoints/{doomed}")  # kept: dropping it closes the stream
    tokens = client.text_generation("Hello", max_new_tokens=TOKENS, stream=True)
    next(tokens)
    _delete(server)
    with pytest.raises(Exception, match="deleted"):
        for _ in tokens:
            pass


def test_openai_stream_ends_with_an_error_chunk(server, doomed):
    body = {"model": doomed, "prompt": "Hello", "max_tokens": TOKENS, "temperature": 0, "stream": True}
    lines = _sse_after_delete(server, "/v1/completions", body)
    assert lines[-1] == "[DONE]"
    assert "deleted" in json.loads(lines[-2])["error"]["message"]
