"""TGI: the parameters real clients send (through the SageMaker runtime with boto3) and the native
TGI routes under an endpoint's base URL (through huggingface_hub's InferenceClient)."""

from __future__ import annotations

import json

import pytest
from huggingface_hub import InferenceClient
from huggingface_hub.errors import ValidationError as HubValidationError

from springboard.generate import GenerationParams

PROMPT = "The quick brown fox"


def _invoke(runtime, endpoint: str, payload: dict):
    response = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="application/json", Body=json.dumps(payload))
    return json.loads(response["Body"].read())


@pytest.fixture(scope="module")
def tgi(server) -> InferenceClient:
    return InferenceClient(base_url=f"{server.url}/endpoints/causal")


def test_sagemaker_sdk_default_payload_with_decoder_input_details(runtime, causal_engine):
    """JumpStart's default TGI payloads send details and decoder_input_details."""
    params = GenerationParams(max_new_tokens=6, logprobs=0, prompt_logprobs=True)
    expected = causal_engine.generate([PROMPT], params)[0]
    out = _invoke(runtime, "causal", {"inputs": PROMPT, "parameters": {
        "max_new_tokens": 6, "decoder_input_details": True, "details": True}})
    details = out[0]["details"]
    assert out[0]["generated_text"] == expected.texts[0]
    assert [p["id"] for p in details["prefill"]] == [t.id for t in expected.prompt_logprobs]
    assert details["prefill"][0]["logprob"] is None
    assert [p["logprob"] for p in details["prefill"][1:]] == pytest.approx(
        [t.logprob for t in expected.prompt_logprobs[1:]], abs=1e-4)
    assert [t["id"] for t in details["tokens"]] == [t.id for t in expected.tokens[0]]
    assert len(details["tokens"]) == details["generated_tokens"]


def test_top_n_tokens_typical_p_truncate_watermark_are_honoured(runtime, causal_engine):
    out = _invoke(runtime, "causal", {"inputs": PROMPT, "parameters": {
        "max_new_tokens": 4, "details": True, "top_n_tokens": 3, "truncate": 2}})
    details = out[0]["details"]
    assert all(len(top) == 3 for top in details["top_tokens"]) and len(details["top_tokens"]) == len(details["tokens"])
    expected = causal_engine.generate([PROMPT], GenerationParams(max_new_tokens=4, truncate=2))[0]
    assert out[0]["generated_text"] == expected.texts[0]
    typical = {"inputs": PROMPT, "parameters": {"max_new_tokens": 8, "typical_p": 0.3, "seed": 4}}
    assert _invoke(runtime, "causal", typical) == _invoke(runtime, "causal", typical)  # seeded sampling
    marked = _invoke(runtime, "causal", {"inputs": PROMPT, "parameters": {"max_new_tokens": 8, "watermark": True}})
    expected = causal_engine.generate([PROMPT], GenerationParams(max_new_tokens=8, watermark=True))[0]
    assert marked[0]["generated_text"] == expected.texts[0]


def test_best_of_answers_with_the_most_probable_sample(runtime):
    out = _invoke(runtime, "causal", {"inputs": PROMPT, "parameters": {
        "max_new_tokens": 6, "best_of": 3, "do_sample": True, "details": True}})
    details = out[0]["details"]
    others = details["best_of_sequences"]
    assert len(others) == 2

    def total(d):
        return sum(t["logprob"] for t in d["tokens"])

    assert all(total(details) >= total(o) for o in others)


@pytest.mark.parametrize("parameters, field", [
    ({"best_of": 2}, "best_of"),  # greedy: nothing to choose from
    ({"top_n_tokens": 50}, "top_n_tokens"),
    ({"frequency_penalty": 0.5}, "frequency_penalty"),
    ({"grammar": {"type": "xml", "value": {}}}, "grammar"),
    ({"adapter_id": 7}, "adapter_id"),  # a name (string); unknown names: test_adapters.py
    ({"truncate": 0}, "truncate"),
    ({"details": "yes"}, "details"),
])
def test_unsupported_or_bad_tgi_parameters_name_the_field(runtime, parameters, field):
    with pytest.raises(runtime.exceptions.ModelError) as err:
        _invoke(runtime, "causal", {"inputs": "x", "parameters": parameters})
    assert f"parameters.{field}" in str(err.value)


def test_streamed_events_carry_token_ids_and_logprobs(runtime, causal_engine):
    expected = causal_engine.generate([PROMPT], GenerationParams(max_new_tokens=6, logprobs=0))[0]
    response = runtime.invoke_endpoint_with_response_stream(
        EndpointName="causal", ContentType="application/json",
        Body=json.dumps({"inputs": PROMPT, "parameters": {"max_new_tokens": 6}, "stream": True}))
    raw = b"".join(part["PayloadPart"]["Bytes"] for part in response["Body"])
    events = [json.loads(line[5:]) for line in raw.split(b"\n\n") if line.startswith(b"data:")]
    assert [e["token"]["id"] for e in events] == [t.id for t in expected.tokens[0]]
    assert [e["token"]["logprob"] for e in events] == pytest.approx([t.logprob for t in expected.tokens[0]], abs=1e-4)
    assert "".join(e["token"]["text"] for e in events if not e["token"]["special"]) == expected.texts[0]
    assert events[-1]["generated_text"] == expected.texts[0]
    assert events[-1]["details"]["generated_tokens"] == expected.generated_tokens


# -- native TGI routes through huggingface_hub ------------------------------------------------------


def test_inference_client_text_generation(tgi, causal_engine):
    expected = causal_engine.generate([PROMPT], GenerationParams(max_new_tokens=6, logprobs=2,
                                                                 prompt_logprobs=True))[0]
    assert tgi.text_generation(PROMPT, max_new_tokens=6) == expected.texts[0]
    out = tgi.text_generation(PROMPT, max_new_tokens=6, details=True, decoder_input_details=True, top_n_tokens=2)
    assert out.generated_text == expected.texts[0]
    assert [t.id for t in out.details.tokens] == [t.id for t in expected.tokens[0]]
    assert [t.logprob for t in out.details.tokens] == pytest.approx([t.logprob for t in expected.tokens[0]], abs=1e-4)
    assert [t.id for t in out.details.prefill] == [t.id for t in expected.prompt_logprobs]
    assert len(out.details.top_tokens) == len(out.details.tokens)
    assert out.details.finish_reason == expected.finish_causes[0]


def test_inference_client_streams_tokens(tgi, causal_engine):
    expected = causal_engine.generate([PROMPT], GenerationParams(max_new_tokens=6, logprobs=0))[0]
    events = list(tgi.text_generation(PROMPT, max_new_tokens=6, stream=True, details=True))
    assert [e.token.id for e in events] == [t.id for t in expected.tokens[0]]
    assert events[-1].generated_text == expected.texts[0]
    assert "".join(tgi.text_generation(PROMPT, max_new_tokens=6, stream=True)) == expected.texts[0]


def test_inference_client_chat_completion_under_the_endpoint_url(tgi, causal_engine):
    expected = causal_engine.generate(["Hi there"], GenerationParams(max_new_tokens=6), chat=True)[0]
    out = tgi.chat_completion([{"role": "user", "content": "Hi there"}], max_tokens=6, temperature=0)
    assert out.choices[0].message.content == expected.texts[0]


def test_info_health_and_tgi_error_bodies(server, tgi):
    import httpx

    base = f"{server.url}/endpoints/causal"
    hub = InferenceClient(model=base, provider="hf-inference")
    info = hub.get_endpoint_info()
    assert info["model_pipeline_tag"] == "text-generation" and info["max_total_tokens"] == 512
    assert hub.health_check()
    with pytest.raises(HubValidationError) as err:  # TGI's error_type turns into a typed error
        tgi.text_generation("x", max_new_tokens=100000)
    assert "max_new_tokens" in str(err.value)
    missing = httpx.post(f"{server.url}/endpoints/nope/generate", json={"inputs": "x"})
    assert missing.status_code == 404 and missing.json()["error_type"] == "not_found"
    bad = httpx.post(f"{server.url}/endpoints/causal/generate", json={"inputs": ["a", "b"]})
    assert bad.status_code == 422 and bad.json()["error_type"] == "validation" and "inputs" in bad.json()["error"]
    compat = httpx.post(f"{server.url}/endpoints/t5", json={"inputs": "a b", "parameters": {"max_new_tokens": 3}})
    assert compat.status_code == 200 and isinstance(compat.json(), list) and "generated_text" in compat.json()[0]


def test_tgi_grammar_constrains_the_output(tgi):
    schema = {"type": "object", "properties": {"color": {"enum": ["red", "green"]}, "ok": {"type": "boolean"}},
              "required": ["color", "ok"], "additionalProperties": False}
    out = tgi.text_generation("A color as JSON:", max_new_tokens=40, grammar={"type": "json", "value": schema})
    import jsonschema

    jsonschema.validate(json.loads(out), schema)
    code = tgi.text_generation("Code:", max_new_tokens=20, grammar={"type": "regex", "value": "[A-Z]{2}-[0-9]{3}"})
    import re

    assert re.fullmatch("[A-Z]{2}-[0-9]{3}", code)
