"""The real `sagemaker` SDK v2 against a live Springboard server on loopback (moto as S3), with
tiny models registered in the catalog. Nothing here talks to Springboard's own Python API
except to register the tiny models and to cross-check what the SDK made."""

from __future__ import annotations

import json

import pytest

from springboard.hub import register_model

ROLE = "arn:aws:iam::111122223333:role/springboard"


@pytest.fixture
def tiny_catalog(sdk_server, reexport, tiny_causal_dir, tiny_t5_dir):
    """The tiny models as catalog ids (and so as JumpStart ids)."""
    register_model("tiny-causal", tiny_causal_dir)
    register_model("tiny-t5", tiny_t5_dir)
    reexport()
    return sdk_server


def test_jumpstart_model_deploy_predict_retrieve_default_delete(tiny_catalog):
    import boto3
    from botocore.exceptions import ClientError
    from sagemaker.jumpstart.model import JumpStartModel
    from sagemaker.predictor import retrieve_default

    model = JumpStartModel(model_id="tiny-causal", role=ROLE)
    predictor = model.deploy(endpoint_name="sdk-causal")
    out = predictor.predict({"inputs": "Hello", "parameters": {"max_new_tokens": 4, "do_sample": False}},
                            custom_attributes="accept_eula=true")
    assert isinstance(out, list) and isinstance(out[0]["generated_text"], str)

    # retrieve_default builds the predictor from the model's spec; with model_id given it does
    # not need STS (see README: the SDK asks STS for the account id to find the endpoint's tags).
    again = retrieve_default("sdk-causal", model_id="tiny-causal", model_version="*")
    assert again.predict({"inputs": "Hi", "parameters": {"max_new_tokens": 2}})[0]["generated_text"] is not None

    sm = boto3.client("sagemaker")
    assert sm.describe_endpoint(EndpointName="sdk-causal")["EndpointStatus"] == "InService"
    predictor.delete_model()
    predictor.delete_endpoint()
    with pytest.raises(ClientError) as info:
        sm.describe_endpoint(EndpointName="sdk-causal")
    assert info.value.response["Error"]["Code"] == "ValidationException"


def test_text2text_model_with_default_payload(tiny_catalog):
    from sagemaker.jumpstart.model import JumpStartModel

    model = JumpStartModel(model_id="tiny-t5", role=ROLE)
    predictor = model.deploy(endpoint_name="sdk-t5")
    try:
        payload = model.retrieve_example_payload()
        out = predictor.predict(payload.body)
        assert isinstance(out["generated_texts"], list) and len(out["generated_texts"]) == 1
    finally:
        predictor.delete_endpoint()
