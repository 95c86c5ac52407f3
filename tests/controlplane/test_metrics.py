"""CloudWatch metrics (GetMetricStatistics, ListMetrics) through boto3's own `cloudwatch` client:
the training jobs' MetricDefinitions over their logs, as SageMaker publishes them."""

from __future__ import annotations

import datetime as dt

import pytest
from botocore.exceptions import ClientError

from .conftest import client
from .test_training import request, write_data

NAMESPACE = "/aws/sagemaker/TrainingJobs"
# Seed 000's definitions: the transformers Trainer's lines, as JumpStart's containers print them.
SEED_DEFINITIONS = [
    {"Name": "train:loss", "Regex": r"'loss': ([0-9\.]+)"},
    {"Name": "eval:loss", "Regex": r"'eval_loss': ([0-9\.]+)"},
    {"Name": "train:epoch", "Regex": r"'epoch': ([0-9\.]+)"},
]


@pytest.fixture
def cw(server):
    return client("cloudwatch", server.url)


def _statistics(cw, job: str, metric: str, job_desc: dict, **extra) -> list[dict]:
    return cw.get_metric_statistics(
        Namespace=NAMESPACE, MetricName=metric, Dimensions=[{"Name": "TrainingJobName", "Value": job}],
        StartTime=job_desc["TrainingStartTime"], EndTime=job_desc["TrainingEndTime"] + dt.timedelta(minutes=1),
        **{"Period": 60, "Statistics": ["Average", "SampleCount", "Minimum", "Maximum"], **extra},
    )["Datapoints"]


def test_metrics_of_a_training_job_through_boto3_cloudwatch(sm, cw, wait, tiny_causal_dir, tmp_path):
    data = write_data(tmp_path / "data")
    req = request("curves", str(tiny_causal_dir), str(data), str(tmp_path / "out"),
                  validation_split_ratio="0.25", eval_steps="2")
    req["AlgorithmSpecification"]["MetricDefinitions"] = SEED_DEFINITIONS
    sm.create_training_job(**req)
    wait("training_job_completed_or_stopped", TrainingJobName="curves")
    desc = sm.describe_training_job(TrainingJobName="curves")
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    final = {m["MetricName"]: m["Value"] for m in desc["FinalMetricDataList"]}
    assert set(final) == {"train:loss", "eval:loss", "train:epoch"}
    assert final["train:epoch"] == pytest.approx(1.0)

    for metric in ("train:loss", "eval:loss", "train:epoch"):
        points = _statistics(cw, "curves", metric, desc)
        assert points, metric
        assert sum(p["SampleCount"] for p in points) >= 2  # one point per logged line
        for p in points:
            assert p["Minimum"] <= p["Average"] <= p["Maximum"] and p["Unit"] == "None"
            assert desc["TrainingStartTime"] <= p["Timestamp"] <= desc["TrainingEndTime"] + dt.timedelta(minutes=1)
    epochs = _statistics(cw, "curves", "train:epoch", desc, Period=3600, Statistics=["Maximum"])
    assert [p["Maximum"] for p in epochs] == [pytest.approx(1.0)] and set(epochs[0]) == {"Timestamp", "Maximum", "Unit"}
    # CloudWatch answers no data, not an error, for a metric, job or namespace it does not have
    assert _statistics(cw, "curves", "no:such", desc) == []
    assert _statistics(cw, "no-such-job", "train:loss", desc) == []
    assert _statistics(cw, "curves", "train:loss", desc, Unit="Seconds") == []

    listed = cw.list_metrics(Namespace=NAMESPACE, Dimensions=[{"Name": "TrainingJobName", "Value": "curves"}])
    assert sorted(m["MetricName"] for m in listed["Metrics"]) == ["eval:loss", "train:epoch", "train:loss"]
    assert all(m["Dimensions"] == [{"Name": "TrainingJobName", "Value": "curves"}] for m in listed["Metrics"])
    recent = cw.list_metrics(MetricName="eval:loss", RecentlyActive="PT3H")["Metrics"]
    assert [m["MetricName"] for m in recent] == ["eval:loss"]
    assert cw.list_metrics(Namespace="AWS/EC2")["Metrics"] == []
    assert cw.list_metrics(Dimensions=[{"Name": "Host"}])["Metrics"] == []


def test_a_job_without_metric_definitions_has_its_own_metrics(sm, cw, wait, tiny_causal_dir, tmp_path):
    data = write_data(tmp_path / "data")
    req = request("plain", str(tiny_causal_dir), str(data), str(tmp_path / "out"))
    del req["AlgorithmSpecification"]["MetricDefinitions"]
    sm.create_training_job(**req)
    wait("training_job_completed_or_stopped", TrainingJobName="plain")
    desc = sm.describe_training_job(TrainingJobName="plain")
    assert _statistics(cw, "plain", "train_loss", desc)
    assert "train_loss" in {m["MetricName"] for m in cw.list_metrics()["Metrics"]}


def _error(call, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


def test_bad_requests_name_the_parameter(cw):
    now = dt.datetime.now(dt.timezone.utc)
    good = {"Namespace": NAMESPACE, "MetricName": "train:loss", "StartTime": now - dt.timedelta(hours=1),
            "EndTime": now, "Period": 60, "Statistics": ["Average"],
            "Dimensions": [{"Name": "TrainingJobName", "Value": "x"}]}
    code, message = _error(cw.get_metric_statistics, **{**good, "Period": 45})
    assert code == "InvalidParameterValue" and "Period" in message
    backwards = {"StartTime": now, "EndTime": now - dt.timedelta(hours=1)}
    code, message = _error(cw.get_metric_statistics, **{**good, **backwards})
    assert code == "InvalidParameterValue" and "StartTime" in message
    code, message = _error(cw.get_metric_statistics, **{k: v for k, v in good.items() if k != "Statistics"})
    assert code == "MissingParameter" and "Statistics" in message
    code, message = _error(cw.get_metric_statistics, **{**good, "Period": 1, "StartTime": now - dt.timedelta(days=1)})
    assert code == "InvalidParameterCombination" and "1440" in message
    code, message = _error(cw.get_metric_statistics, **{k: v for k, v in good.items() if k != "Statistics"},
                           ExtendedStatistics=["p99"])
    assert code == "InvalidParameterValue" and "ExtendedStatistics" in message
    code, message = _error(cw.list_metrics, NextToken="forged")
    assert code == "InvalidParameterValue" and "NextToken" in message
    # an operation Springboard does not serve is refused by name
    code, message = _error(cw.put_metric_data, Namespace="x", MetricData=[{"MetricName": "m", "Value": 1.0}])
    assert "PutMetricData" in message
