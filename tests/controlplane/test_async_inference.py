"""InvokeEndpointAsync through the real boto3 `sagemaker-runtime` client: input and output on
moto's S3, the failure location, and the errors."""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError

from springboard import storage

ROLE = "arn:aws:iam::111111111111:role/SageMakerRole"


def wait_for(location: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if storage.exists(location):
            return storage.read_text(location)
        time.sleep(0.2)
    raise AssertionError(f"nothing written to {location}")


@pytest.fixture
def async_endpoint(sm, wait, s3_bucket, tiny_t5_dir):
    sm.create_model(ModelName="t5", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "x", "ModelDataUrl": str(tiny_t5_dir)})
    sm.create_endpoint_config(
        EndpointConfigName="async",
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": "t5", "InitialInstanceCount": 1,
                             "InstanceType": "ml.m5.xlarge"}],
        AsyncInferenceConfig={"OutputConfig": {"S3OutputPath": s3_bucket + "/async-out",
                                               "S3FailurePath": s3_bucket + "/async-failed"}},
    )
    assert sm.describe_endpoint_config(EndpointConfigName="async")["AsyncInferenceConfig"]["OutputConfig"]
    sm.create_endpoint(EndpointName="async", EndpointConfigName="async")
    wait("endpoint_in_service", EndpointName="async")
    return "async"


def test_async_inference_writes_its_answer_to_s3(runtime, sm, async_endpoint, s3_bucket):
    storage.write_text(s3_bucket + "/in/request.json", json.dumps({"text_inputs": ["a b", "c d"], "max_length": 4}))
    out = runtime.invoke_endpoint_async(EndpointName="async", InputLocation=s3_bucket + "/in/request.json",
                                        ContentType="application/json", InferenceId="req-1")
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert out["InferenceId"] == "req-1"
    assert out["OutputLocation"] == s3_bucket + "/async-out/req-1.out"
    assert out["FailureLocation"] == s3_bucket + "/async-failed/req-1-error.out"
    answer = json.loads(wait_for(out["OutputLocation"]))
    assert len(answer["generated_texts"]) == 2
    assert sm.describe_endpoint(EndpointName="async")["AsyncInferenceConfig"]["OutputConfig"]["S3OutputPath"]

    # a payload the model refuses lands in the failure location
    storage.write_text(s3_bucket + "/in/bad.json", json.dumps({"text_inputs": "x", "max_length": -3}))
    bad = runtime.invoke_endpoint_async(EndpointName="async", InputLocation=s3_bucket + "/in/bad.json",
                                        ContentType="application/json")
    failure = json.loads(wait_for(bad["FailureLocation"]))
    assert failure["ErrorType"] == "ModelError" and "max_length" in failure["Message"]
    assert not storage.exists(bad["OutputLocation"])


def test_async_inference_errors(runtime, sm, wait, async_endpoint, s3_bucket, tiny_causal_dir):
    with pytest.raises(ClientError, match="does not exist"):
        runtime.invoke_endpoint_async(EndpointName="async", InputLocation=s3_bucket + "/in/missing.json")
    with pytest.raises(ClientError, match="InvocationTimeoutSeconds must be between 1 and 3600"):
        runtime.invoke_endpoint_async(EndpointName="async", InputLocation=s3_bucket + "/in/missing.json",
                                      InvocationTimeoutSeconds=3601)
    with pytest.raises(ClientError, match="not found"):
        runtime.invoke_endpoint_async(EndpointName="nope", InputLocation=s3_bucket + "/in/missing.json")
    # an endpoint without AsyncInferenceConfig is not asynchronous
    sm.create_model(ModelName="plain", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "x", "ModelDataUrl": str(tiny_causal_dir)})
    sm.create_endpoint_config(EndpointConfigName="plain", ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": "plain", "InitialInstanceCount": 1, "InstanceType": "ml.m5.xlarge"}])
    sm.create_endpoint(EndpointName="plain", EndpointConfigName="plain")
    wait("endpoint_in_service", EndpointName="plain")
    storage.write_text(s3_bucket + "/in/r.json", "{}")
    with pytest.raises(ClientError, match="not an asynchronous endpoint"):
        runtime.invoke_endpoint_async(EndpointName="plain", InputLocation=s3_bucket + "/in/r.json")
