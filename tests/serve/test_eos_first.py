"""An answer that ends at end-of-sequence before any text says so on every wire format: OpenAI
finish_reason "stop" (completions and chat, streamed or not), TGI details finish_reason
"eos_token" (generate, generate_stream, and the runtime's `inputs` payload with details), each
with an empty text, never a length or an error."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator

import httpx
import liveserver
import pytest

from springboard.generate import Engine
from springboard.serve import EndpointConfig, EndpointManager, EndpointRegistry


@pytest.fixture(scope="module")
def url(tmp_path_factory, tiny_causal_dir) -> Iterator[str]:
    # every token ends the answer: the first one chosen is end-of-sequence
    mute = tmp_path_factory.mktemp("mute") / "model"
    shutil.copytree(tiny_causal_dir, mute)
    vocab = json.loads((mute / "config.json").read_text())["vocab_size"]
    generation = json.loads((mute / "generation_config.json").read_text())
    generation["eos_token_id"] = list(range(vocab))
    (mute / "generation_config.json").write_text(json.dumps(generation))
    manager = EndpointManager(EndpointRegistry(tmp_path_factory.mktemp("endpoints")))
    manager.add_engine(EndpointConfig(name="mute", model=str(mute)), Engine.load(mute))
    live = liveserver.start(manager, publish=False)
    yield live.url
    live.stop(timeout=10)


def _events(response: httpx.Response) -> list[dict]:
    return [json.loads(line[5:]) for line in response.text.splitlines()
            if line.startswith("data:") and line.strip() != "data: [DONE]"]


def test_openai_says_stop(url):
    import openai

    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
    done = client.completions.create(model="mute", prompt="Hello", max_tokens=8, temperature=0)
    assert (done.choices[0].text, done.choices[0].finish_reason) == ("", "stop")
    assert done.usage.completion_tokens == 1  # the end-of-sequence token, as OpenAI counts it
    chunks = list(client.completions.create(model="mute", prompt="Hello", max_tokens=8, temperature=0, stream=True))
    assert "".join(c.choices[0].text for c in chunks) == ""
    assert chunks[-1].choices[0].finish_reason == "stop"
    chat = client.chat.completions.create(model="mute", messages=[{"role": "user", "content": "Hi"}], max_tokens=8,
                                          temperature=0)
    assert (chat.choices[0].message.content, chat.choices[0].finish_reason) == ("", "stop")
    streamed = list(client.chat.completions.create(model="mute", messages=[{"role": "user", "content": "Hi"}],
                                                   max_tokens=8, temperature=0, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in streamed) == ""
    assert streamed[-1].choices[0].finish_reason == "stop"


def test_tgi_and_the_runtime_say_eos_token(url):
    import boto3

    params = {"max_new_tokens": 8, "details": True}
    answer = httpx.post(f"{url}/endpoints/mute/generate", json={"inputs": "Hello", "parameters": params}).json()
    assert answer["generated_text"] == ""
    assert answer["details"]["finish_reason"] == "eos_token" and answer["details"]["generated_tokens"] == 1
    events = _events(httpx.post(f"{url}/endpoints/mute/generate_stream",
                                json={"inputs": "Hello", "parameters": {"max_new_tokens": 8}}))
    assert events[-1]["generated_text"] == ""
    assert events[-1]["details"]["finish_reason"] == "eos_token"
    assert "".join(e["token"]["text"] for e in events if not e["token"]["special"]) == ""  # no text streamed
    runtime = boto3.client("sagemaker-runtime", endpoint_url=url, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
    out = json.loads(runtime.invoke_endpoint(EndpointName="mute", ContentType="application/json",
                                             Body=json.dumps({"inputs": "Hello", "parameters": params}))["Body"].read())
    assert out[0]["generated_text"] == "" and out[0]["details"]["finish_reason"] == "eos_token"
    streamed = runtime.invoke_endpoint_with_response_stream(
        EndpointName="mute", ContentType="application/json",
        Body=json.dumps({"inputs": "Hello", "parameters": {"max_new_tokens": 8}, "stream": True}))
    frames = [json.loads(p["PayloadPart"]["Bytes"].decode()[len("data:"):]) for p in streamed["Body"]]
    assert frames[-1]["details"]["finish_reason"] == "eos_token"
