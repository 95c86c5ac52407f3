"""The wire itself: JSON 1.1 shapes from botocore's model (epoch timestamps, only modelled
members), tags on every kind of resource, listing filters and paging, and which operations
are served."""

from __future__ import annotations

import json

import httpx
import pytest
from botocore.exceptions import ClientError

from springboard.controlplane import OPERATIONS

ROLE = "arn:aws:iam::111111111111:role/SageMakerRole"

ISSUE_OPERATIONS = {
    "CreateModel", "DescribeModel", "DeleteModel", "ListModels",
    "CreateEndpointConfig", "DescribeEndpointConfig", "DeleteEndpointConfig", "ListEndpointConfigs",
    "CreateEndpoint", "DescribeEndpoint", "DeleteEndpoint", "ListEndpoints", "UpdateEndpoint",
    "CreateTrainingJob", "DescribeTrainingJob", "StopTrainingJob", "ListTrainingJobs",
    "CreateTransformJob", "DescribeTransformJob", "StopTransformJob", "ListTransformJobs",
    "CreateAutoMLJobV2", "DescribeAutoMLJobV2", "ListCandidatesForAutoMLJob", "StopAutoMLJob", "ListAutoMLJobs",
    "AddTags", "ListTags", "DeleteTags",
}


def test_the_served_operations():
    from springboard.controlplane.api import _load_handlers

    _load_handlers()
    assert set(OPERATIONS) == ISSUE_OPERATIONS


def test_raw_wire_timestamps_are_epoch_seconds_and_errors_have_type(server, sm, tiny_causal_dir):
    sm.create_model(ModelName="m", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "x", "ModelDataUrl": str(tiny_causal_dir)})
    raw = httpx.post(server.url + "/", content=json.dumps({"ModelName": "m"}),
                     headers={"X-Amz-Target": "SageMaker.DescribeModel", "Content-Type": "application/x-amz-json-1.1"})
    assert raw.status_code == 200 and raw.headers["content-type"] == "application/x-amz-json-1.1"
    body = raw.json()
    assert isinstance(body["CreationTime"], float)
    assert set(body) == {"ModelName", "PrimaryContainer", "ExecutionRoleArn", "CreationTime", "ModelArn"}
    missing = httpx.post(server.url + "/", content=b"{}", headers={"X-Amz-Target": "SageMaker.DescribeModel"})
    assert missing.status_code == 400
    assert missing.json() == {"__type": "ValidationException", "message":
                              "1 validation error detected: Value null at 'modelName' failed to satisfy constraint: "
                              "Member must not be null"}


def test_tags_on_every_resource_kind(sm, tiny_causal_dir, tmp_path):
    model_arn = sm.create_model(ModelName="m", ExecutionRoleArn=ROLE,
                                PrimaryContainer={"Image": "x", "ModelDataUrl": str(tiny_causal_dir)})["ModelArn"]
    config_arn = sm.create_endpoint_config(EndpointConfigName="c", ProductionVariants=[
        {"VariantName": "v", "ModelName": "m", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])["EndpointConfigArn"]
    for arn in (model_arn, config_arn):
        sm.add_tags(ResourceArn=arn, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
        sm.add_tags(ResourceArn=arn, Tags=[{"Key": "a", "Value": "3"}])  # a key is replaced
        assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "a", "Value": "3"}, {"Key": "b", "Value": "2"}]
        sm.delete_tags(ResourceArn=arn, TagKeys=["a"])
        assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "b", "Value": "2"}]
    with pytest.raises(ClientError, match="Could not find resource"):
        sm.list_tags(ResourceArn="arn:aws:sagemaker:local:000000000000:model/ghost")
    with pytest.raises(ClientError, match="Springboard tags"):
        sm.list_tags(ResourceArn="arn:aws:sagemaker:local:000000000000:notebook-instance/x")
    # deleting a resource deletes its tags
    sm.delete_endpoint_config(EndpointConfigName="c")
    sm.create_endpoint_config(EndpointConfigName="c", ProductionVariants=[
        {"VariantName": "v", "ModelName": "m", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    assert sm.list_tags(ResourceArn=config_arn)["Tags"] == []


def test_listing_filters_sorting_and_paging(sm, tiny_causal_dir):
    for name in ("alpha", "beta", "gamma"):
        sm.create_model(ModelName=name, ExecutionRoleArn=ROLE,
                        PrimaryContainer={"Image": "x", "ModelDataUrl": str(tiny_causal_dir)})
    assert [m["ModelName"] for m in sm.list_models()["Models"]] == ["gamma", "beta", "alpha"]  # newest first
    assert [m["ModelName"] for m in sm.list_models(SortBy="Name", SortOrder="Ascending")["Models"]] == ["alpha", "beta", "gamma"]
    assert [m["ModelName"] for m in sm.list_models(NameContains="ET")["Models"]] == ["beta"]
    first = sm.list_models(MaxResults=2, SortBy="Name", SortOrder="Ascending")
    assert [m["ModelName"] for m in first["Models"]] == ["alpha", "beta"]
    rest = sm.list_models(MaxResults=2, SortBy="Name", SortOrder="Ascending", NextToken=first["NextToken"])
    assert [m["ModelName"] for m in rest["Models"]] == ["gamma"] and "NextToken" not in rest
    created = sm.describe_model(ModelName="beta")["CreationTime"]
    assert [m["ModelName"] for m in sm.list_models(CreationTimeAfter=created)["Models"]] == ["gamma"]
    # boto3's paginator follows NextToken
    pages = sm.get_paginator("list_models").paginate(PaginationConfig={"PageSize": 1})
    assert sorted(m["ModelName"] for page in pages for m in page["Models"]) == ["alpha", "beta", "gamma"]


def test_instance_type_picks_the_device(monkeypatch):
    import torch

    from springboard.controlplane.endpoints import device_for

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert device_for("ml.g5.2xlarge") == "cuda" and device_for("ml.p4d.24xlarge") == "cuda"
    assert device_for("ml.m5.xlarge") is None and device_for(None) is None  # the CPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device_for("ml.g5.2xlarge") is None  # no GPU here: the CPU serves


def test_timestamps_are_milliseconds_both_ways():
    """A client echoing a CreationTime back (CreationTimeAfter=created) must not get that
    resource: the server stores finer times than the millisecond AWS sends."""
    import datetime as dt

    from springboard.controlplane.common import listing
    from springboard.controlplane.protocol import serialize

    stored = 1_700_000_000.1234567
    shape = type("S", (), {"type_name": "timestamp"})()
    sent = serialize(shape, stored)
    assert sent == 1_700_000_000.123
    echoed = dt.datetime.fromtimestamp(sent, dt.timezone.utc)  # what botocore parses, then sends back
    items = [{"ModelName": "m", "CreationTime": stored}]
    assert listing(items, {"CreationTimeAfter": echoed.timestamp()}, name_key="ModelName")[0] == []
    assert listing(items, {"CreationTimeBefore": echoed.timestamp()}, name_key="ModelName")[0] == []
    assert len(listing(items, {"CreationTimeAfter": sent - 0.001}, name_key="ModelName")[0]) == 1
