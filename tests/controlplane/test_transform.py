"""Transform jobs through boto3 `sagemaker` (as seed 001's Transformer sends them), with the
waiter; local and S3 locations; and jobs made by the CLI seen through boto3."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from springboard.cli import main

ROLE = "arn:aws:iam::111111111111:role/SageMakerRole"


def records(path: Path, n: int = 3) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"id": i, "text_inputs": f"word {i}", "max_length": 4}) + "\n" for i in range(n)))
    return path


def transform_request(name: str, model: str, input_uri: str, output_uri: str, **extra) -> dict:
    return {
        "TransformJobName": name,
        "ModelName": model,
        "MaxConcurrentTransforms": 1,
        "MaxPayloadInMB": 6,
        "BatchStrategy": "MultiRecord",
        "Environment": {"HYPER_PARAMS": "{'batch_size': 2}"},
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_uri}},
                           "ContentType": "application/jsonlines", "SplitType": "Line"},
        "TransformOutput": {"S3OutputPath": output_uri, "Accept": "application/jsonlines", "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
        **extra,
    }


@pytest.fixture
def t5_model(sm, tiny_t5_dir):
    sm.create_model(ModelName="t5", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "x", "ModelDataUrl": str(tiny_t5_dir)})
    return "t5"


def error_of(call, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


def test_transform_job_local_locations(sm, wait, t5_model, tmp_path):
    data = records(tmp_path / "in" / "articles.jsonl")
    out = tmp_path / "out"
    arn = sm.create_transform_job(**transform_request("batch-1", t5_model, str(data.parent), str(out),
                                                      Tags=[{"Key": "seed", "Value": "001"}]))["TransformJobArn"]
    wait("transform_job_completed_or_stopped", TransformJobName="batch-1")
    job = sm.describe_transform_job(TransformJobName="batch-1")
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    assert job["ModelName"] == "t5" and job["TransformResources"]["InstanceType"] == "ml.m5.xlarge"
    assert job["TransformStartTime"] <= job["TransformEndTime"]
    lines = [json.loads(line) for line in (out / "articles.jsonl.out").read_text().splitlines()]
    assert [line["id"] for line in lines] == [0, 1, 2] and all("generated_texts" in line for line in lines)
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "seed", "Value": "001"}]
    assert [s["TransformJobName"] for s in sm.list_transform_jobs()["TransformJobSummaries"]] == ["batch-1"]
    from springboard.jobs import latest_metrics as job_metrics

    assert job_metrics("batch-1")["records_processed"] == 3  # the transform room's own view of the job
    code, message = error_of(sm.stop_transform_job, TransformJobName="batch-1")
    assert "cannot be stopped" in message


def test_transform_job_s3_locations(sm, wait, t5_model, s3_bucket, tmp_path):
    from springboard import storage

    data = records(tmp_path / "in" / "articles.jsonl")
    storage.publish_file(data, s3_bucket + "/input/articles.jsonl")
    sm.create_transform_job(**transform_request("batch-s3", t5_model, s3_bucket + "/input", s3_bucket + "/output"))
    wait("transform_job_completed_or_stopped", TransformJobName="batch-s3")
    job = sm.describe_transform_job(TransformJobName="batch-s3")
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    lines = storage.read_text(s3_bucket + "/output/articles.jsonl.out").splitlines()
    assert [json.loads(line)["id"] for line in lines] == [0, 1, 2]


def test_transform_validation_errors(sm, t5_model, tmp_path):
    data = records(tmp_path / "in.jsonl")
    good = transform_request("t1", t5_model, str(data), str(tmp_path / "out"))
    code, message = error_of(sm.create_transform_job, **{**good, "ModelName": "missing"})
    assert code == "ValidationException" and "Could not find model" in message
    manifest = {**good["TransformInput"], "DataSource": {"S3DataSource": {"S3DataType": "ManifestFile", "S3Uri": str(data)}}}
    assert "S3Prefix" in error_of(sm.create_transform_job, **{**good, "TransformInput": manifest})[1]
    code, message = error_of(sm.create_transform_job, **{**good, "Environment": {"HYPER_PARAMS": "{'colour': 1}"}})
    assert "unknown key" in message and "colour" in message
    code, message = error_of(sm.create_transform_job, **{**good, "BatchStrategy": "Sometimes"})
    assert "Member must satisfy enum value set" in message
    assert "Could not find" in error_of(sm.describe_transform_job, TransformJobName="nope")[1]
    sm.create_transform_job(**good)
    assert error_of(sm.create_transform_job, **good)[0] == "ResourceInUse"
    sm.stop_transform_job(TransformJobName="t1")
    sm.get_waiter("transform_job_completed_or_stopped").wait(
        TransformJobName="t1", WaiterConfig={"Delay": 0.2, "MaxAttempts": 900})
    assert sm.describe_transform_job(TransformJobName="t1")["TransformJobStatus"] in ("Stopped", "Completed")


def test_cli_transform_job_is_seen_through_boto3(sm, tiny_t5_dir, tmp_path, capsys):
    data = records(tmp_path / "in.jsonl")
    assert main(["transform", "--model", str(tiny_t5_dir), "--input", str(data), "--output", str(tmp_path / "o"),
                 "--name", "from-cli", "--max-concurrent-transforms", "2", "--wait"]) == 0
    job = sm.describe_transform_job(TransformJobName="from-cli")
    assert job["TransformJobStatus"] == "Completed"
    assert job["MaxConcurrentTransforms"] == 2
    assert job["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == str(data)
    assert job["TransformOutput"]["S3OutputPath"] == str(tmp_path / "o")


def test_instance_count_is_the_number_of_transform_workers(sm, wait, t5_model, tmp_path):
    from springboard import jobs

    records(tmp_path / "in" / "a.jsonl")
    records(tmp_path / "in" / "b.jsonl")
    req = transform_request("two-workers", t5_model, str(tmp_path / "in"), str(tmp_path / "out"))
    req["TransformResources"] = {"InstanceType": "ml.m5.xlarge", "InstanceCount": 2}
    req["MaxConcurrentTransforms"] = 3
    sm.create_transform_job(**req)
    config = jobs.JobStore().get("two-workers").config
    assert config["instance_count"] == 2 and config["max_concurrent_transforms"] == 3
    wait("transform_job_completed_or_stopped", TransformJobName="two-workers")
    job = sm.describe_transform_job(TransformJobName="two-workers")
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    assert job["TransformResources"]["InstanceCount"] == 2
    assert (tmp_path / "out" / "a.jsonl.out").exists() and (tmp_path / "out" / "b.jsonl.out").exists()
