"""The SageMaker runtime surface, through the real boto3 sagemaker-runtime client."""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError, EventStreamError

from springboard.generate import GenerationParams
from springboard.serve.endpoints import Endpoint
from springboard.serve.registry import EndpointConfig, EndpointRecord


def _invoke(runtime, name, payload, **kw):
    body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
    kw.setdefault("ContentType", "application/json")
    response = runtime.invoke_endpoint(EndpointName=name, Body=body, **kw)
    return json.loads(response["Body"].read()), response


def test_text_generation_payload(runtime, causal_engine):
    expected = causal_engine.generate(["Hello"], GenerationParams(max_new_tokens=6))[0].texts[0]
    out, response = _invoke(runtime, "causal", {"inputs": "Hello", "parameters": {"max_new_tokens": 6}})
    assert out == [{"generated_text": expected}]
    assert response["ContentType"] == "application/json"
    assert response["InvokedProductionVariant"] == "AllTraffic"
    out, _ = _invoke(runtime, "causal", {"inputs": "Hello", "parameters": {"max_new_tokens": 6, "details": True,
                                                                           "return_full_text": True}})
    assert out[0]["generated_text"] == "Hello" + expected
    assert out[0]["details"]["finish_reason"] in ("length", "eos_token")
    assert out[0]["details"]["generated_tokens"] <= 6


def test_tgi_sampling_parameters_turn_sampling_on(runtime):
    payload = {"inputs": "Hello", "parameters": {"max_new_tokens": 8, "temperature": 1.5, "seed": 1}}
    first, _ = _invoke(runtime, "causal", payload)
    assert _invoke(runtime, "causal", payload)[0] == first  # seeded: reproducible
    greedy, _ = _invoke(runtime, "causal", {"inputs": "Hello", "parameters": {"max_new_tokens": 8}})
    seeds = [_invoke(runtime, "causal", {**payload, "parameters": {**payload["parameters"], "seed": s}})[0]
             for s in (2, 3, 4)]
    assert any(s != greedy for s in seeds + [first])


def test_text2text_payload_single_list_and_verbose(runtime, t5_engine):
    params = GenerationParams(max_length=6)
    prompts = ["translate to German: hello", "a b c", "summarize: the cat sat"]
    expected = [r.texts[0] for r in t5_engine.generate(prompts, params)]
    out, _ = _invoke(runtime, "t5", {"text_inputs": prompts, "max_length": 6, "batch_size": 2})
    assert out == {"generated_texts": expected}
    out, _ = _invoke(runtime, "t5", {"text_inputs": prompts[0], "max_length": 6}, Accept="application/json;verbose")
    assert out == {"generated_texts": [expected[0]], "text_inputs": prompts[0]}
    out, _ = _invoke(runtime, "t5", {"text_inputs": "a b", "max_length": 6, "num_return_sequences": 2, "num_beams": 2})
    assert len(out["generated_texts"]) == 2


def test_raw_text_payload(runtime, t5_engine):
    expected = t5_engine.generate(["hello there"], GenerationParams())[0].texts[0]
    out, _ = _invoke(runtime, "t5", b"hello there", ContentType="application/x-text")
    assert out == {"generated_text": expected}


def test_response_stream_event_frames(runtime, causal_engine):
    expected = causal_engine.generate(["Hello"], GenerationParams(max_new_tokens=8))[0].texts[0]
    response = runtime.invoke_endpoint_with_response_stream(
        EndpointName="causal",
        ContentType="application/json",
        Body=json.dumps({"inputs": "Hello", "parameters": {"max_new_tokens": 8}, "stream": True}),
    )
    assert response["ContentType"] == "text/event-stream"
    events = [json.loads(part["PayloadPart"]["Bytes"].decode()[len("data:"):]) for part in response["Body"]]
    assert "".join(e["token"]["text"] for e in events if not e["token"]["special"]) == expected
    assert events[-1]["generated_text"] == expected
    # a non-streaming payload on the stream path arrives whole in PayloadPart(s)
    response = runtime.invoke_endpoint_with_response_stream(
        EndpointName="causal", ContentType="application/json",
        Body=json.dumps({"inputs": "Hello", "parameters": {"max_new_tokens": 8}}),
    )
    data = b"".join(part["PayloadPart"]["Bytes"] for part in response["Body"])
    assert json.loads(data) == [{"generated_text": expected}]


def _model_error(runtime, name, body, content_type="application/json") -> dict:
    with pytest.raises(runtime.exceptions.ModelError) as err:
        runtime.invoke_endpoint(EndpointName=name, ContentType=content_type, Body=body)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert err.value.response["OriginalStatusCode"] == 400
    return err.value.response


@pytest.mark.parametrize(
    "body, field",
    [
        (b'{"inputs": "Hello", "parameters": {', "Body"),
        (json.dumps({"inputs": 42}), "inputs"),
        (json.dumps({"inputs": "x", "parameters": {"max_new_tokens": "many"}}), "parameters.max_new_tokens"),
        (json.dumps({"inputs": "x", "parameters": {"top_p": 3}}), "parameters.top_p"),
        (json.dumps({"inputs": "x", "parameters": {"num_return_sequences": 2}}), "parameters.num_return_sequences"),
        (json.dumps({"text_inputs": "x", "max_lenght": 5}), "max_lenght"),
        (json.dumps({"inputs": "x", "parameters": {"max_new_tokens": 100000}}), "max_new_tokens"),
        (json.dumps({"inputs": "word " * 2000}), "inputs"),
        (json.dumps({"prompt": "x"}), "inputs"),
    ],
)
def test_bad_payloads_are_model_errors_naming_the_field(runtime, body, field):
    response = _model_error(runtime, "causal", body)
    assert f"'{field}'" in response["Error"]["Message"]
    # and the server keeps serving
    assert _invoke(runtime, "causal", {"inputs": "Hi", "parameters": {"max_new_tokens": 2}})[0]


def test_unknown_endpoint_and_oversized_payload_are_validation_errors(runtime):
    with pytest.raises(runtime.exceptions.ValidationError) as err:
        runtime.invoke_endpoint(EndpointName="no-such-endpoint", ContentType="application/json", Body=b"{}")
    assert "no-such-endpoint" in err.value.response["Error"]["Message"]
    big = json.dumps({"inputs": "x" * (6 * 1024 * 1024 + 10)})
    with pytest.raises(runtime.exceptions.ValidationError) as err:
        runtime.invoke_endpoint(EndpointName="causal", ContentType="application/json", Body=big)
    assert "Body" in err.value.response["Error"]["Message"]
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_creating_endpoint_is_model_not_ready(runtime, server):
    server.manager.endpoints["warming"] = Endpoint(EndpointRecord(name="warming", model="x"))
    try:
        with pytest.raises(runtime.exceptions.ModelNotReadyException) as err:
            runtime.invoke_endpoint(EndpointName="warming", ContentType="application/json", Body=b'{"inputs": "x"}')
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    finally:
        del server.manager.endpoints["warming"]


def test_mid_stream_failure_is_a_model_stream_error(runtime, server, monkeypatch):
    engine = server.manager.get("causal").engine

    def broken(*args, **kwargs):
        from springboard.generate.logprobs import TokenLogprob
        from springboard.generate.stream import StreamEvent

        def pieces():
            yield StreamEvent("partial", TokenLogprob(7, "partial", -0.5))
            yield StreamEvent("more", TokenLogprob(8, "more", -0.5))
            raise RuntimeError("the model fell over")

        class Stream:
            prompt, text, finish_cause, generated_tokens, prompt_tokens = "", "partial", "length", 1, 1

            def events(self):
                return pieces()

            def close(self):
                pass

            def abort(self, error):
                pass

        return Stream()

    monkeypatch.setattr(engine, "stream", broken)
    response = runtime.invoke_endpoint_with_response_stream(
        EndpointName="causal", ContentType="application/json", Body=json.dumps({"inputs": "Hi", "stream": True})
    )
    parts = []
    with pytest.raises(EventStreamError) as err:
        for part in response["Body"]:
            parts.append(part)
    assert err.value.response["Error"]["Code"] == "ModelStreamError"
    assert "fell over" in err.value.response["Error"]["Message"]
    assert parts and b"partial" in parts[0]["PayloadPart"]["Bytes"]


def test_eula_models_refuse_without_accept_eula(runtime, server, tiny_causal_dir):
    from springboard.hub import register_model

    register_model("meta-textgeneration-llama-2-7b", tiny_causal_dir)
    server.manager.create(EndpointConfig(name="llama", model="meta-textgeneration-llama-2-7b"), background=False)
    try:
        assert server.manager.describe("llama").status == "InService"
        payload = json.dumps({"inputs": "Hello", "parameters": {"max_new_tokens": 4}})
        response = _model_error(runtime, "llama", payload)
        assert "accept_eula=true" in response["Error"]["Message"]
        out, _ = _invoke(runtime, "llama", payload, CustomAttributes="accept_eula=true")
        assert list(out[0]) == ["generation"] and isinstance(out[0]["generation"], str)
        dialog = {"inputs": [[{"role": "user", "content": "Hi"}]], "parameters": {"max_new_tokens": 4}}
        out, _ = _invoke(runtime, "llama", dialog, CustomAttributes="accept_eula=true")
        assert out[0]["generation"]["role"] == "assistant"
    finally:
        import asyncio

        asyncio.run(server.manager.delete("llama"))


def test_container_contract(server):
    import httpx

    assert httpx.get(f"{server.url}/ping").status_code == 200
    # two endpoints on this server: /invocations cannot pick one
    response = httpx.post(f"{server.url}/invocations", json={"inputs": "x"})
    assert response.status_code == 404 and "exactly one endpoint" in response.json()["message"]


def test_unsigned_clients_work_too(server):
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    client = boto3.client("sagemaker-runtime", endpoint_url=server.url, region_name="us-east-1",
                          config=Config(signature_version=UNSIGNED))
    out = client.invoke_endpoint(EndpointName="causal", ContentType="application/json",
                                 Body=json.dumps({"inputs": "Hi", "parameters": {"max_new_tokens": 2}}))
    assert json.loads(out["Body"].read())[0]["generated_text"] is not None
