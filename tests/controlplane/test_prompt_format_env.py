"""The prompt-format switch from the model container's environment (SPRINGBOARD_PROMPT_FORMAT),
through the real boto3 client: CreateModel's PrimaryContainer.Environment reaches the endpoint
(plain text answered raw on an instruct-style model), and a bad value fails CreateModel naming it."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from springboard.generate import Engine, GenerationParams

from .conftest import ROLE


def test_the_container_environment_sets_the_prompt_format(sm, runtime, wait, tiny_causal_dir, deploy):
    engine = Engine.load(tiny_causal_dir)
    params = GenerationParams(max_new_tokens=6)
    want = {fmt: engine.generate(["Hello there"], params, chat=fmt == "chat")[0].texts[0] for fmt in ("chat", "raw")}
    assert want["chat"] != want["raw"]
    for name, env in (("plain", {"SPRINGBOARD_PROMPT_FORMAT": "raw"}), ("default", {})):
        deploy(name, tiny_causal_dir, env)
        wait("endpoint_in_service", EndpointName=name)
    for name, fmt in (("plain", "raw"), ("default", "chat")):
        out = runtime.invoke_endpoint(EndpointName=name, ContentType="application/json",
                                      Body=json.dumps({"inputs": "Hello there", "parameters": {"max_new_tokens": 6}}))
        assert json.loads(out["Body"].read())[0]["generated_text"] == want[fmt], name


def test_a_bad_prompt_format_fails_create_model_naming_it(sm, tiny_causal_dir):
    with pytest.raises(ClientError) as info:
        sm.create_model(ModelName="bad", ExecutionRoleArn=ROLE,
                        PrimaryContainer={"Image": "tgi", "ModelDataUrl": str(tiny_causal_dir),
                                          "Environment": {"SPRINGBOARD_PROMPT_FORMAT": "jinja"}})
    error = info.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert "SPRINGBOARD_PROMPT_FORMAT must be one of auto, chat, raw" in error["Message"] and "jinja" in error["Message"]
