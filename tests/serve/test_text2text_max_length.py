"""JumpStart text2text `max_length` bounds the output on every model, through the real boto3
sagemaker-runtime client (a causal model used to count the prompt and answer "")."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError


def _invoke(runtime, name, payload):
    response = runtime.invoke_endpoint(EndpointName=name, ContentType="application/json", Body=json.dumps(payload))
    return json.loads(response["Body"].read())


def test_max_length_bounds_the_output_of_a_causal_endpoint(runtime, causal_engine):
    prompt = "a long prompt that is many tokens long " * 10
    out = _invoke(runtime, "causal", {"text_inputs": [prompt, prompt + "!"], "max_length": 8})
    texts = out["generated_texts"]
    assert len(texts) == 2 and all(texts)
    assert all(0 < causal_engine.count_tokens(t) <= 8 for t in texts)


def test_max_length_that_leaves_no_room_is_a_client_error(runtime):
    """Refused as the container refuses a bad payload: SageMaker's ModelError carrying 400."""
    with pytest.raises(ClientError) as err:
        _invoke(runtime, "t5", {"text_inputs": "hello", "max_length": 1})
    assert err.value.response["Error"]["Code"] == "ModelError"
    assert err.value.response["OriginalStatusCode"] == 400
    assert "leaves no room to generate" in str(err.value)
