"""Seed 000's notebook cells that need more than the model classes, with the real `sagemaker` SDK
against a live server and moto's S3, set up as `springboard jumpstart env` sets it up: the model
list with the seed's filter (the SDK reads JumpStart's proprietary manifest and the specs from
S3 even with the local overrides) and the training curves through `TrainingJobAnalytics`
(CloudWatch GetMetricStatistics) with the seed's metric definitions."""

from __future__ import annotations

import json

import pytest

from springboard.hub import list_models, register_model

ROLE = "arn:aws:iam::111122223333:role/springboard"
# The seed's MetricDefinitions: the transformers Trainer's lines, as JumpStart's containers print them.
SEED_METRICS = [
    {"Name": "train:loss", "Regex": "'loss': ([0-9\\.]+)"},
    {"Name": "eval:loss", "Regex": "'eval_loss': ([0-9\\.]+)"},
    {"Name": "train:epoch", "Regex": "'epoch': ([0-9\\.]+)"},
]


def test_list_jumpstart_models_with_the_seeds_filter(sdk_server):
    from sagemaker.jumpstart.filters import And
    from sagemaker.jumpstart.notebook_utils import list_jumpstart_models

    found = list_jumpstart_models(filter=And("task == text2text", "framework == huggingface",
                                             "training_supported == true"))
    assert found == ["huggingface-text2text-flan-t5-base", "huggingface-text2text-flan-t5-large",
                     "huggingface-text2text-flan-t5-small", "huggingface-text2text-flan-t5-xl",
                     "huggingface-text2text-flan-t5-xxl"]
    # Unfiltered: exactly the catalog (the proprietary manifest's header names no model).
    assert list_jumpstart_models() == list_models()
    assert list_jumpstart_models(filter="model_type == proprietary") == []


def test_training_job_analytics_dataframe_with_the_seeds_metric_definitions(sdk_server, reexport, tiny_causal_dir):
    import boto3
    from sagemaker import TrainingJobAnalytics
    from sagemaker.jumpstart.estimator import JumpStartEstimator

    register_model("tiny-causal", tiny_causal_dir)
    reexport()
    s3 = boto3.client("s3")
    bucket = sdk_server.bucket.removeprefix("s3://")
    rows = [{"question": f"What is {a} plus {b}?", "answer": str(a + b)} for a in range(4) for b in range(4)]
    s3.put_object(Bucket=bucket, Key="seed/train/data.jsonl", Body="\n".join(json.dumps(r) for r in rows).encode())
    s3.put_object(Bucket=bucket, Key="seed/train/template.json",
                  Body=json.dumps({"prompt": "Question: {question}\nAnswer:", "completion": " {answer}"}).encode())

    estimator = JumpStartEstimator(
        model_id="tiny-causal", role=ROLE, metric_definitions=SEED_METRICS,
        hyperparameters={"epoch": "2", "instruction_tuned": "True", "max_input_length": "64",
                         "per_device_train_batch_size": "4", "validation_split_ratio": "0.25",
                         "logging_steps": "1"},
    )
    estimator.fit({"train": f"{sdk_server.bucket}/seed/train/"}, logs=False)  # the channel name "train" works too
    name = estimator.latest_training_job.name
    desc = boto3.client("sagemaker").describe_training_job(TrainingJobName=name)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    final = {m["MetricName"]: m["Value"] for m in desc["FinalMetricDataList"]}
    assert {"train:loss", "eval:loss", "train:epoch", "huggingface-textgeneration:eval-loss"} <= set(final)
    assert final["train:epoch"] == pytest.approx(2.0)
    assert final["eval:loss"] == pytest.approx(final["huggingface-textgeneration:eval-loss"], abs=1e-4)

    seeds = ["train:loss", "eval:loss", "train:epoch"]
    frame = TrainingJobAnalytics(training_job_name=name, metric_names=seeds).dataframe()
    assert set(frame["metric_name"]) == {"train:loss", "eval:loss", "train:epoch"}
    assert list(frame.columns) == ["timestamp", "metric_name", "value"]
    assert (frame["value"] > 0).all()
    # Without metric_names: every name the job's MetricDefinitions give (the seed's and the spec's).
    names = set(TrainingJobAnalytics(training_job_name=name).dataframe()["metric_name"])
    assert {"train:loss", "eval:loss", "springboard:train-loss"} <= names
