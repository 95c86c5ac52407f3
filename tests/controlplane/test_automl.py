"""AutoML text-generation jobs through boto3 `sagemaker` (seed 003's calls): create, describe,
best candidate, candidates, list, stop, deploy the best candidate; errors."""

from __future__ import annotations

import csv
import time

import pytest
from botocore.exceptions import ClientError

ROLE = "arn:aws:iam::111111111111:role/SageMakerRole"


@pytest.fixture
def tiny_hub_model(tiny_causal_dir) -> str:
    from springboard import hub

    hub.register_model("tiny-causal", tiny_causal_dir)
    return "tiny-causal"


@pytest.fixture
def train_csv(tmp_path):
    path = tmp_path / "data" / "train.csv"
    path.parent.mkdir(parents=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["input", "output"])
        writer.writeheader()
        writer.writerows({"input": f"Say the number {i}:", "output": f" {i} is the number"} for i in range(30))
    return path


def automl_request(name, train, model, **extra):
    output = {"S3OutputPath": str(train.parent.parent / "out")} if hasattr(train, "parent") else None
    return {
        "AutoMLJobName": name,
        "AutoMLJobInputDataConfig": [{"ChannelType": "training", "ContentType": "text/csv;header=present",
                                      "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": str(train)}}}],
        "AutoMLProblemTypeConfig": {"TextGenerationJobConfig": {
            "BaseModelName": model,
            "TextGenerationHyperParameters": {"epochCount": "1", "learningRate": "0.01", "batchSize": "4"},
        }},
        "RoleArn": ROLE,
        "OutputDataConfig": output,
        **extra,
    }


def wait_for_automl(sm, name, timeout=600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = sm.describe_auto_ml_job_v2(AutoMLJobName=name)
        if job["AutoMLJobStatus"] in ("Completed", "Failed", "Stopped"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"AutoML job {name} did not finish")


def error_of(call, **kwargs):
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


def test_automl_job_through_boto3_and_deploy_best(sm, runtime, wait, tiny_hub_model, train_csv, tmp_path):
    arn = sm.create_auto_ml_job_v2(**automl_request("numbers", train_csv, tiny_hub_model,
                                                    OutputDataConfig={"S3OutputPath": str(tmp_path / "out")},
                                                    Tags=[{"Key": "seed", "Value": "003"}]))["AutoMLJobArn"]
    assert arn == "arn:aws:sagemaker:local:000000000000:automl-job/numbers"
    job = wait_for_automl(sm, "numbers")
    assert job["AutoMLJobStatus"] == "Completed", job.get("FailureReason")
    assert job["AutoMLProblemTypeConfigName"] == "TextGeneration"
    best = job["BestCandidate"]
    assert best["CandidateName"] == "numbers-candidate-001" and best["ObjectiveStatus"] == "Succeeded"
    assert best["FinalAutoMLJobObjectiveMetric"]["MetricName"] == "ValidationLoss"
    container = best["InferenceContainers"][0]
    assert container["Image"].startswith("springboard-engine:") and container["ModelDataUrl"]
    assert "BaseModelName" not in best  # Springboard's additions stay off the wire
    candidates = sm.list_candidates_for_auto_ml_job(AutoMLJobName="numbers", SortBy="FinalObjectiveMetricValue")
    assert [c["CandidateName"] for c in candidates["Candidates"]] == ["numbers-candidate-001"]
    assert [j["AutoMLJobName"] for j in sm.list_auto_ml_jobs()["AutoMLJobSummaries"]] == ["numbers"]
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "seed", "Value": "003"}]
    # the same job through Springboard's own SDK
    from springboard import AutoMLV2

    assert AutoMLV2.attach("numbers").best_candidate()["CandidateName"] == "numbers-candidate-001"
    # the candidate is a training job like any other
    assert sm.describe_training_job(TrainingJobName="numbers-candidate-001")["TrainingJobStatus"] == "Completed"

    # deploy the best candidate as seed 003 does: CreateModel from its inference container
    sm.create_model(ModelName="best", ExecutionRoleArn=ROLE, Containers=best["InferenceContainers"])
    sm.create_endpoint_config(EndpointConfigName="best", ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": "best", "InitialInstanceCount": 1, "InstanceType": "ml.g5.12xlarge"}])
    sm.create_endpoint(EndpointName="best", EndpointConfigName="best")
    wait("endpoint_in_service", EndpointName="best")
    import json

    out = runtime.invoke_endpoint(EndpointName="best", ContentType="application/json",
                                  Body=json.dumps({"inputs": "Say the number 2:", "parameters": {"max_new_tokens": 3}}))
    assert "generated_text" in json.loads(out["Body"].read())[0]


def test_automl_errors_and_stop(sm, tiny_hub_model, train_csv):
    code, message = error_of(sm.describe_auto_ml_job_v2, AutoMLJobName="nope")
    assert code == "ResourceNotFound" and "nope" in message
    assert error_of(sm.list_candidates_for_auto_ml_job, AutoMLJobName="nope")[0] == "ResourceNotFound"
    assert error_of(sm.stop_auto_ml_job, AutoMLJobName="nope")[0] == "ResourceNotFound"
    # AutoML names are at most 32 characters (botocore's model)
    code, message = error_of(sm.create_auto_ml_job_v2, **automl_request("n" * 33, train_csv, tiny_hub_model))
    assert "Member must have length less than or equal to 32" in message
    both = automl_request("both", train_csv, tiny_hub_model, DataSplitConfig={"ValidationFraction": 0.3})
    both["AutoMLJobInputDataConfig"].append({**both["AutoMLJobInputDataConfig"][0], "ChannelType": "validation"})
    code, message = error_of(sm.create_auto_ml_job_v2, **both)
    assert code == "ValidationException" and "ValidationFraction" in message
    # a long job, stopped
    long = automl_request("long", train_csv, tiny_hub_model)
    long["AutoMLProblemTypeConfig"]["TextGenerationJobConfig"]["TextGenerationHyperParameters"]["epochCount"] = "10"
    sm.create_auto_ml_job_v2(**long)
    assert error_of(sm.create_auto_ml_job_v2, **long)[0] == "ResourceInUse"
    sm.stop_auto_ml_job(AutoMLJobName="long")
    job = wait_for_automl(sm, "long")
    assert job["AutoMLJobStatus"] == "Stopped"


def test_automl_reads_and_writes_s3(sm, tiny_hub_model, train_csv, s3_bucket):
    from springboard import storage

    storage.publish_file(train_csv, s3_bucket + "/automl/train.csv")
    req = automl_request("on-s3", s3_bucket + "/automl/train.csv", tiny_hub_model,
                         OutputDataConfig={"S3OutputPath": s3_bucket + "/automl-out"})
    sm.create_auto_ml_job_v2(**req)
    job = wait_for_automl(sm, "on-s3")
    assert job["AutoMLJobStatus"] == "Completed", job.get("FailureReason")
    url = job["BestCandidate"]["InferenceContainers"][0]["ModelDataUrl"]
    assert url.startswith(s3_bucket + "/automl-out/")
    assert storage.list_files(url)  # the best model is on S3
