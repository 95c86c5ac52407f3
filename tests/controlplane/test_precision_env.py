"""Precision from the model container's environment (DTYPE / QUANTIZE), through the real boto3
client: DescribeEndpoint shows what was chosen; a setting that cannot be served fails the
endpoint with a reason naming it."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import WaiterError

from springboard.generate.llamacpp import llama_cpp_available

@pytest.mark.skipif(not llama_cpp_available(), reason="llama_cpp (llama-cpp-python) is not installed")
def test_quantize_from_the_container_environment(monkeypatch, sm, runtime, wait, tiny_causal_dir, deploy):
    monkeypatch.setenv("SPRINGBOARD_GENERATE_BACKEND", "auto")
    deploy("q8", tiny_causal_dir, {"QUANTIZE": "q8_0"})
    wait("endpoint_in_service", EndpointName="q8")
    variant = sm.describe_endpoint(EndpointName="q8")["ProductionVariants"][0]
    assert variant["DeployedImages"][0]["ResolvedImage"] == "springboard-llamacpp:q8_0"
    out = runtime.invoke_endpoint(EndpointName="q8", ContentType="application/json",
                                  Body=json.dumps({"inputs": "Hello", "parameters": {"max_new_tokens": 3}}))
    assert "generated_text" in json.loads(out["Body"].read())[0]

    deploy("kquant", tiny_causal_dir, {"QUANTIZE": "q4_k_m"})  # rows of 64 weights: no 256-blocks
    with pytest.raises(WaiterError, match="Failed"):
        wait("endpoint_in_service", EndpointName="kquant")
    reason = sm.describe_endpoint(EndpointName="kquant")["FailureReason"]
    assert "field 'QUANTIZE'" in reason and "blocks of 256" in reason and "hidden_size is 64" in reason


def test_an_unknown_dtype_fails_the_endpoint_naming_it(sm, wait, tiny_causal_dir, deploy):
    deploy("int3", tiny_causal_dir, {"DTYPE": "int3"})
    with pytest.raises(WaiterError, match="Failed"):
        wait("endpoint_in_service", EndpointName="int3")
    described = sm.describe_endpoint(EndpointName="int3")
    assert described["EndpointStatus"] == "Failed" and "dtype" in described["FailureReason"].lower()
    assert "int3" in described["FailureReason"]
