"""Training jobs through boto3 `sagemaker` (CreateTrainingJob as the SageMaker SDK sends it), the
waiter, and the same job seen from the CLI/SDK; and the other way round."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from springboard.cli import main

ROLE = "arn:aws:iam::111111111111:role/SageMakerRole"


def write_data(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rows = [{"prompt": f"Say the number {i}:", "completion": f"{i} is the number"} for i in range(24)]
    (root / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def channel(name: str, uri: str) -> dict:
    return {"ChannelName": name, "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri,
                                                                 "S3DataDistributionType": "FullyReplicated"}}}


def request(name: str, model: str, train: str, output: str, **hp) -> dict:
    hyperparameters = {"epoch": "1", "instruction_tuned": "True", "learning_rate": "0.01", "logging_steps": "1",
                       # what the SageMaker SDK adds for its training toolkit (JSON-quoted)
                       "sagemaker_program": '"transfer_learning.py"',
                       "sagemaker_submit_directory": '"s3://jumpstart-cache-prod-us-east-1/source.tar.gz"',
                       "sagemaker_container_log_level": "20", **hp}
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {
            "TrainingImage": "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-training:2.0",
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "train:loss", "Regex": r"train_loss ([0-9.]+)"},
                                  {"Name": "never:seen", "Regex": r"no such line ([0-9.]+)"}],
        },
        "RoleArn": ROLE,
        "HyperParameters": hyperparameters,
        "InputDataConfig": [channel("training", train), channel("model", model),
                            # every JumpStartEstimator sends its training script; Springboard records it
                            channel("code", "s3://jumpstart-cache-prod-us-east-1/springboard-jumpstart/x/1.0.0/"
                                            "training-script/sourcedir.tar.gz")],
        "OutputDataConfig": {"S3OutputPath": output},
        "ResourceConfig": {"InstanceType": "ml.g5.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "Tags": [{"Key": "project", "Value": "numbers"}],
    }


def error_of(call, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


def test_training_job_through_boto3_then_deploy_its_model(sm, runtime, wait, tiny_causal_dir, tmp_path, capsys):
    data = write_data(tmp_path / "data")
    out = tmp_path / "output"
    arn = sm.create_training_job(**request("numbers-1", str(tiny_causal_dir), str(data), str(out)))["TrainingJobArn"]
    assert arn == "arn:aws:sagemaker:local:000000000000:training-job/numbers-1"
    wait("training_job_completed_or_stopped", TrainingJobName="numbers-1")
    job = sm.describe_training_job(TrainingJobName="numbers-1")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]] == [
        "Starting", "Downloading", "Training", "Uploading", "Completed"]
    training = next(t for t in job["SecondaryStatusTransitions"] if t["Status"] == "Training")
    assert "; precision " in training["StatusMessage"] and "(requested auto: " in training["StatusMessage"]
    assert job["SecondaryStatus"] == "Completed"
    metrics = {m["MetricName"]: m["Value"] for m in job["FinalMetricDataList"]}
    assert set(metrics) == {"train:loss"} and metrics["train:loss"] > 0  # regex over the job's log
    # a local output path keeps the directory (SageMaker's <path>/<job>/output/model layout)
    artifacts = Path(job["ModelArtifacts"]["S3ModelArtifacts"])
    assert artifacts == out / "numbers-1" / "output" / "model"
    assert (artifacts / "config.json").exists() and (artifacts / "springboard.json").exists()
    assert job["HyperParameters"]["sagemaker_program"] == '"transfer_learning.py"'  # described as given
    assert job["ResourceConfig"]["InstanceType"] == "ml.g5.2xlarge"
    assert [c["ChannelName"] for c in job["InputDataConfig"]] == ["training", "model", "code"]
    assert job["TrainingStartTime"] <= job["TrainingEndTime"]
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "project", "Value": "numbers"}]
    summaries = sm.list_training_jobs(StatusEquals="Completed")["TrainingJobSummaries"]
    assert [s["TrainingJobName"] for s in summaries] == ["numbers-1"]

    # the same job, seen by the CLI and the SDK
    assert main(["jobs", "list"]) == 0
    assert "numbers-1" in capsys.readouterr().out
    from springboard import TrainingJobAnalytics

    assert "train_loss" in set(TrainingJobAnalytics("numbers-1").dataframe().metric_name)

    # its model, deployed as the SageMaker SDK's estimator.deploy() does
    sm.create_model(ModelName="numbers-model", ExecutionRoleArn=ROLE,
                    PrimaryContainer={"Image": "tgi", "ModelDataUrl": job["ModelArtifacts"]["S3ModelArtifacts"]})
    sm.create_endpoint_config(EndpointConfigName="numbers", ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": "numbers-model", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName="numbers", EndpointConfigName="numbers")
    wait("endpoint_in_service", EndpointName="numbers")
    body = runtime.invoke_endpoint(EndpointName="numbers", ContentType="application/json",
                                   Body=json.dumps({"inputs": "Say the number 3:", "parameters": {"max_new_tokens": 4}}))
    assert "generated_text" in json.loads(body["Body"].read())[0]


def test_training_validation_errors(sm, tiny_causal_dir, tmp_path):
    data = write_data(tmp_path / "data")
    good = request("dup", str(tiny_causal_dir), str(data), str(tmp_path / "out"), epoch="1")
    # a hyperparameter outside its family's schema names the key and the range
    code, message = error_of(sm.create_training_job, **{**good, "HyperParameters": {"epoch": "0"}})
    assert code == "ValidationException" and "'epoch'" in message and ">= 1" in message
    code, message = error_of(sm.create_training_job, **{**good, "HyperParameters": {"epochz": "2"}})
    assert "unknown hyperparameter 'epochz'" in message
    code, message = error_of(sm.create_training_job, **{**good, "HyperParameters": {"precision": "fp16"}})
    assert "'precision': must be one of 'auto', 'float32' or 'bfloat16'" in message
    assert not sm.list_training_jobs()["TrainingJobSummaries"]  # nothing was created
    # channels Springboard needs
    code, message = error_of(sm.create_training_job, **{**good, "InputDataConfig": [channel("model", str(tiny_causal_dir))]})
    assert "needs a 'training' channel" in message
    code, message = error_of(sm.create_training_job, **{**good, "InputDataConfig": [channel("training", str(data))]})
    assert "Springboard needs to know which model to use" in message
    code, message = error_of(sm.create_training_job, **{**good, "InputDataConfig": [
        channel("training", str(data)), channel("model", str(tiny_causal_dir)), channel("images", str(data))]})
    assert "channel 'images'" in message
    # name rule from botocore's model
    code, message = error_of(sm.create_training_job, **{**good, "ResourceConfig": {
        "InstanceType": "ml.m5.xlarge", "InstanceCount": 65, "VolumeSizeInGB": 1}})
    assert "ResourceConfig.InstanceCount: must be between 1 and 64" in message
    code, message = error_of(sm.create_training_job, **{**good, "TrainingJobName": "-bad"})
    assert "at 'trainingJobName' failed to satisfy constraint" in message
    # missing jobs: ValidationException, as the waiter expects
    code, message = error_of(sm.describe_training_job, TrainingJobName="nope")
    assert code == "ValidationException" and "nope" in message
    # a duplicate name is ResourceInUse
    sm.create_training_job(**{**good, "HyperParameters": {**good["HyperParameters"], "epoch": "50"}})
    code, message = error_of(sm.create_training_job, **good)
    assert code == "ResourceInUse"
    # stop: the waiter ends on Stopped
    sm.stop_training_job(TrainingJobName="dup")
    sm.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName="dup", WaiterConfig={"Delay": 0.2, "MaxAttempts": 900})
    assert sm.describe_training_job(TrainingJobName="dup")["TrainingJobStatus"] == "Stopped"
    code, message = error_of(sm.stop_training_job, TrainingJobName="dup")
    assert "cannot be stopped" in message


def test_a_job_started_by_the_sdk_is_described_through_boto3(sm, tiny_causal_dir, tmp_path):
    from springboard import Estimator

    data = write_data(tmp_path / "data")
    est = Estimator(model_id=str(tiny_causal_dir), hyperparameters={"epoch": "1", "instruction_tuned": "True"})
    est.fit({"training": str(data), "test": str(data)}, wait=True, logs=False, job_name="from-sdk")
    job = sm.describe_training_job(TrainingJobName="from-sdk")
    assert job["TrainingJobStatus"] == "Completed"
    assert job["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == str(data)
    assert [c["ChannelName"] for c in job["InputDataConfig"]] == ["training", "test"]
    assert Path(job["ModelArtifacts"]["S3ModelArtifacts"], "config.json").exists()
    assert {m["MetricName"] for m in job["FinalMetricDataList"]} >= {"train_loss", "val_loss", "test_loss"}
    # a training job is not a transform job
    with pytest.raises(ClientError, match="Could not find"):
        sm.describe_transform_job(TransformJobName="from-sdk")


def test_s3_channels_and_output_give_a_model_tarball(sm, runtime, wait, s3_bucket, tiny_causal_dir, tmp_path):
    import tarfile

    import boto3

    from springboard import storage

    data = write_data(tmp_path / "data")
    storage.upload_dir(data, s3_bucket + "/data/train")
    storage.publish_tarball(tiny_causal_dir, s3_bucket + "/base/model.tar.gz")
    req = request("on-s3", s3_bucket + "/base/model.tar.gz", s3_bucket + "/data/train", s3_bucket + "/output")
    sm.create_training_job(**req)
    wait("training_job_completed_or_stopped", TrainingJobName="on-s3")
    job = sm.describe_training_job(TrainingJobName="on-s3")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    url = job["ModelArtifacts"]["S3ModelArtifacts"]
    assert url == s3_bucket + "/output/on-s3/output/model.tar.gz"
    # what any S3 client finds there: SageMaker's model.tar.gz with the model at its top level
    tar = tmp_path / "model.tar.gz"
    boto3.client("s3", region_name="us-east-1").download_file(s3_bucket[5:], "output/on-s3/output/model.tar.gz", str(tar))
    with tarfile.open(tar) as archive:
        assert {"config.json", "springboard.json"} <= set(archive.getnames())
    # the tarball deploys (as the job's own artifact)
    sm.create_model(ModelName="on-s3", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "x", "ModelDataUrl": url})
    sm.create_endpoint_config(EndpointConfigName="on-s3", ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": "on-s3", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName="on-s3", EndpointConfigName="on-s3")
    wait("endpoint_in_service", EndpointName="on-s3")
    body = runtime.invoke_endpoint(EndpointName="on-s3", ContentType="application/json",
                                   Body=json.dumps({"inputs": "Say", "parameters": {"max_new_tokens": 2}}))
    assert "generated_text" in json.loads(body["Body"].read())[0]


def test_instance_count_is_the_number_of_training_processes(sm, wait, tiny_causal_dir, tmp_path):
    from springboard import jobs

    data = write_data(tmp_path / "data")
    req = request("two-procs", str(tiny_causal_dir), str(data), str(tmp_path / "out"))
    req["ResourceConfig"] = {"InstanceType": "ml.m5.xlarge", "InstanceCount": 2, "VolumeSizeInGB": 30}
    sm.create_training_job(**req)
    assert jobs.JobStore().get("two-procs").config["processes"] == 2
    wait("training_job_completed_or_stopped", TrainingJobName="two-procs")
    job = sm.describe_training_job(TrainingJobName="two-procs")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["ResourceConfig"]["InstanceCount"] == 2
    assert "on 2 CPU processes" in jobs.JobStore().get("two-procs").config["launch"]  # ran under accelerate launch


def test_max_runtime_stops_the_job(sm, wait, tiny_causal_dir, tmp_path):
    data = write_data(tmp_path / "data")
    req = request("too-long", str(tiny_causal_dir), str(data), str(tmp_path / "out"), epoch="200")
    req["StoppingCondition"] = {"MaxRuntimeInSeconds": 1}
    sm.create_training_job(**req)
    wait("training_job_completed_or_stopped", TrainingJobName="too-long")
    job = sm.describe_training_job(TrainingJobName="too-long")
    assert job["TrainingJobStatus"] == "Stopped"
    assert "MaxRuntimeExceeded" in [t["Status"] for t in job["SecondaryStatusTransitions"]]


def test_output_compression_none_publishes_the_directory(sm, wait, s3_bucket, tiny_causal_dir, tmp_path):
    from springboard import storage

    data = write_data(tmp_path / "data")
    req = request("uncompressed", str(tiny_causal_dir), str(data), s3_bucket + "/output")
    req["OutputDataConfig"] = {"S3OutputPath": s3_bucket + "/output", "CompressionType": "NONE"}
    sm.create_training_job(**req)
    wait("training_job_completed_or_stopped", TrainingJobName="uncompressed")
    job = sm.describe_training_job(TrainingJobName="uncompressed")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    prefix = job["ModelArtifacts"]["S3ModelArtifacts"]
    assert prefix == s3_bucket + "/output/uncompressed/output/model"
    assert storage.exists(prefix + "/config.json") and not storage.exists(prefix + ".tar.gz")

