"""CloudWatch Logs over the job logs, through boto3's `logs` client: what the sagemaker SDK
tails while it waits for a job (tests/sdk shows `Estimator.fit()` printing it)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from controlplane.conftest import client
from controlplane.test_training import request, write_data

GROUP = "/aws/sagemaker/TrainingJobs"


def test_job_log_as_cloudwatch_streams_and_events(server, sm, wait, tiny_causal_dir, tmp_path):
    data = write_data(tmp_path / "train")
    sm.create_training_job(**request("logged-job", str(tiny_causal_dir), str(data), str(tmp_path / "out")))
    wait("training_job_completed_or_stopped", TrainingJobName="logged-job")
    logs = client("logs", server.url)

    streams = logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix="logged-job/",
                                        orderBy="LogStreamName", limit=1)["logStreams"]
    assert len(streams) == 1 and streams[0]["logStreamName"].startswith("logged-job/algo-1-")
    stream = streams[0]["logStreamName"]

    # Read it all in pages of 3, as the SDK's log_stream does: follow nextForwardToken until empty.
    events, token = [], None
    while True:
        page = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, startFromHead=True, limit=3,
                                   **({"nextToken": token} if token else {}))
        if not page["events"]:
            break
        events += page["events"]
        token = page["nextForwardToken"]
    messages = [e["message"] for e in events]
    assert any("train_loss" in m for m in messages)
    stamps = [e["timestamp"] for e in events]
    assert stamps == sorted(stamps)  # the SDK's (timestamp, skip) positions need this order

    # startTime: events from that millisecond on (the SDK resumes from its last timestamp).
    later = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, startFromHead=True,
                                startTime=stamps[-1])["events"]
    assert later and all(e["timestamp"] >= stamps[-1] for e in later)
    assert later[-1]["message"] == messages[-1]

    # The same job is not a transform job's stream; a prefix of another job lists nothing.
    assert logs.describe_log_streams(logGroupName="/aws/sagemaker/TransformJobs",
                                     logStreamNamePrefix="logged-job/")["logStreams"] == []
    assert logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix="other-job/")["logStreams"] == []


def test_logs_errors_are_cloudwatch_errors(server):
    logs = client("logs", server.url)
    with pytest.raises(ClientError) as info:
        logs.describe_log_streams(logGroupName="/aws/lambda/x", logStreamNamePrefix="a/")
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as info:
        logs.get_log_events(logGroupName=GROUP, logStreamName="missing-job/algo-1-0", startFromHead=True)
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as info:
        logs.filter_log_events(logGroupName=GROUP)
    assert "DescribeLogStreams" in str(info.value)  # names what is served
