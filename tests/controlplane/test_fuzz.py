"""Whatever JSON reaches POST / for a served operation, the control plane (and the CloudWatch Logs
operations beside it) answers 2xx or 4xx, never 5xx: hypothesis builds bodies from the
operation's own input members (right names, random values and shapes, non-finite numbers and
words where times go), plus arbitrary JSON, plus the hand-made shapes that once made 500s."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from springboard.controlplane import OPERATIONS, protocol
from springboard.controlplane.api import _load_handlers

_load_handlers()
SERVED = sorted(OPERATIONS)
# Creating real jobs and endpoints from random bodies would start work; these are fuzzed for
# their validation only (the body never satisfies every required member with valid values
# often enough to matter, and when it does the job fails fast on missing data).
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6), st.integers(), st.floats(),
                    st.text(max_size=20), st.sampled_from(["s3://b/k", "/tmp/none", "file:///x", "ml.m5.large",
                                                           "yesterday", "-1", "2024-01-01T00:00:00Z", "1e400"]))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=8)


def bodies(operation: str, service: str = "sagemaker"):
    model = protocol.operation(operation, service)
    members = list(model.input_shape.members) if model.input_shape else []
    shaped = st.fixed_dictionaries({}, optional={m: JSON for m in members}) if members else st.just({})
    return st.one_of(shaped, JSON)


@pytest.mark.parametrize("operation", SERVED)
def test_no_body_makes_the_control_plane_fail(server, operation):
    with httpx.Client(base_url=server.url, timeout=30) as http:

        @settings(max_examples=25, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(body=bodies(operation))
        def check(body):
            response = http.post("/", content=json.dumps(body), headers={"X-Amz-Target": f"SageMaker.{operation}",
                                                           "Content-Type": "application/x-amz-json-1.1"})
            assert response.status_code < 500, (operation, body, response.text)
            if response.status_code >= 400:
                assert set(response.json()) == {"__type", "message"}

        check()


LOGS = ["DescribeLogStreams", "GetLogEvents"]
GROUP = "/aws/sagemaker/TrainingJobs"


@pytest.mark.parametrize("operation", LOGS)
def test_no_body_makes_the_logs_operations_fail(server, operation):
    with httpx.Client(base_url=server.url, timeout=30) as http:

        @settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(body=bodies(operation, "logs"))
        def check(body):
            # json.dumps, not httpx's json=: it writes Infinity and NaN, as a careless client does
            response = http.post("/", content=json.dumps(body), headers={"X-Amz-Target": f"Logs_20140328.{operation}",
                                                           "Content-Type": "application/x-amz-json-1.1"})
            assert response.status_code < 500, (operation, body, response.text)
            if response.status_code >= 400:
                assert set(response.json()) == {"__type", "message"}

        check()


DEEP = b"[" * 100_000


@pytest.mark.parametrize(
    ("target", "body", "code", "member"),
    [
        ("SageMaker.ListModels", b'{"CreationTimeAfter": "yesterday"}', "ValidationException", "creationTimeAfter"),
        ("SageMaker.ListModels", b'{"CreationTimeAfter": 1e400}', "ValidationException", "creationTimeAfter"),
        ("SageMaker.ListModels", b'{"CreationTimeBefore": "1e400"}', "ValidationException", "creationTimeBefore"),
        ("SageMaker.ListEndpoints", b'{"LastModifiedTimeAfter": NaN}', "ValidationException", "lastModifiedTimeAfter"),
        ("SageMaker.ListTrainingJobs", b'{"CreationTimeAfter": 99999999999999999999999}', "ValidationException",
         "creationTimeAfter"),
        ("SageMaker.ListModels", DEEP, "SerializationException", "nested deeper"),
        ("SageMaker.ListModels", b'{"MaxResults": 1e400}', "ValidationException", "maxResults"),
        ("SageMaker.ListModels", b"\xff\xfe", "SerializationException", "JSON"),
        ("Logs_20140328.GetLogEvents", json.dumps({"logGroupName": GROUP, "logStreamName": "j/algo-1-0",
                                                    "startTime": "yesterday"}).encode(), "ValidationException",
         "startTime"),
        ("Logs_20140328.GetLogEvents", b'{"logGroupName": "/aws/sagemaker/TrainingJobs", "logStreamName": "j/a", '
                                       b'"endTime": Infinity}', "ValidationException", "endTime"),
        ("Logs_20140328.GetLogEvents", DEEP, "SerializationException", "nested deeper"),
        ("Logs_20140328.DescribeLogStreams", b'{"logGroupName": "/aws/sagemaker/TrainingJobs", "limit": "ten"}',
         "ValidationException", "limit"),
    ],
)
def test_the_shapes_that_made_500s_are_400s(server, target, body, code, member):
    response = httpx.post(server.url + "/", content=body, headers={"X-Amz-Target": target,
                                                                    "Content-Type": "application/x-amz-json-1.1"})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/x-amz-json-1.1"
    assert response.json()["__type"] == code and member in response.json()["message"]


def test_the_same_shapes_through_boto3(server):
    """botocore itself would refuse a word where a time goes, so the client's request is
    tampered after serializing (before-send), as an attacker would."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    sm = boto3.client("sagemaker", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="x",
                      aws_secret_access_key="x", config=Config(retries={"max_attempts": 1}))

    def tamper(request, **_):
        request.body = b'{"CreationTimeAfter": "yesterday"}'
        request.headers["Content-Length"] = str(len(request.body))

    sm.meta.events.register("before-send.sagemaker.ListModels", tamper)
    with pytest.raises(ClientError) as err:
        sm.list_models()
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert "creationTimeAfter" in err.value.response["Error"]["Message"]
