"""Issue 19: two simultaneous creates of one job name through boto3 threads: one wins, one gets
ResourceInUse, and the loser's failure leaves the winner's recorded request intact (its
StoppingCondition is what enforces MaxRuntimeInSeconds)."""

from __future__ import annotations

import json
import threading

from botocore.exceptions import ClientError

from .conftest import client
from .test_training import request, write_data


def race(make_client, call, kwargs) -> list:
    """Runs `call` from two threads released together; each thread has its own client."""
    clients = [make_client() for _ in range(2)]
    barrier = threading.Barrier(2)
    outcomes: list = [None, None]

    def run(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = getattr(clients[i], call)(**kwargs)
        except ClientError as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return outcomes


def test_simultaneous_create_training_job_keeps_the_winners_request(server, sm, tiny_causal_dir, tmp_path):
    data = write_data(tmp_path / "data")
    for round_ in range(3):  # the race is between two real threads: try it a few times
        name = f"rt{round_}"
        body = request(name, str(tiny_causal_dir), str(data), str(tmp_path / "out"))
        body["StoppingCondition"] = {"MaxRuntimeInSeconds": 1234}
        outcomes = race(lambda: client("sagemaker", server.url), "create_training_job", body)
        errors = [o for o in outcomes if isinstance(o, ClientError)]
        assert len(errors) == 1, outcomes
        assert errors[0].response["Error"]["Code"] == "ResourceInUse"
        described = sm.describe_training_job(TrainingJobName=name)
        assert described["StoppingCondition"] == {"MaxRuntimeInSeconds": 1234}
        assert [m["Name"] for m in described["AlgorithmSpecification"]["MetricDefinitions"]] == [
            "train:loss", "never:seen"]
        sm.stop_training_job(TrainingJobName=name)


def test_simultaneous_create_transform_job_keeps_the_winners_request(server, sm, tiny_t5_dir, tmp_path):
    from .test_endpoints import make_model

    make_model(sm, "t5", tiny_t5_dir)
    source = tmp_path / "in"
    source.mkdir()
    (source / "x.jsonl").write_text(json.dumps({"inputs": "a b"}) + "\n")
    for round_ in range(3):
        name = f"tr{round_}"
        body = {"TransformJobName": name, "ModelName": "t5", "MaxConcurrentTransforms": 1,
                "Environment": {"round": str(round_)},
                "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": str(source)}},
                                   "ContentType": "application/jsonlines", "SplitType": "Line"},
                "TransformOutput": {"S3OutputPath": str(tmp_path / "out" / name)},
                "TransformResources": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1}}
        outcomes = race(lambda: client("sagemaker", server.url), "create_transform_job", body)
        errors = [o for o in outcomes if isinstance(o, ClientError)]
        assert len(errors) == 1, outcomes
        assert errors[0].response["Error"]["Code"] == "ResourceInUse"
        described = sm.describe_transform_job(TransformJobName=name)
        # as recorded from the request (a job without the record is described from its config:
        # ModelName the model's path, InstanceType "local")
        assert described["ModelName"] == "t5"
        assert described["TransformResources"]["InstanceType"] == "ml.m5.xlarge"
        sm.stop_transform_job(TransformJobName=name)
