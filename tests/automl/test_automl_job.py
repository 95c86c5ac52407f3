"""AutoML jobs end to end on the tiny model: the default candidate through the CLI with
auto-deploy, a 2-candidate search, pruning, and stop."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest
import yaml

from springboard import jobs
from springboard.automl import (
    describe_auto_ml_job_v2,
    list_candidates_for_auto_ml_job,
    stop_auto_ml_job,
)
from springboard.automl.plan import build_plan
from springboard.automl.request import parse_request
from springboard.automl.search import Search
from springboard.automl.state import AutoMLState
from springboard.cli import main
from springboard.sdk.automl import AutoMLV2

from .conftest import make_request

STANDARD = {"TrainingLoss", "ValidationLoss", "Perplexity", "Rouge1", "Rouge2", "RougeL", "RougeLSum"}


@pytest.fixture
def endpoint_server(sb_home):
    """Kills the endpoint server a deploy started in this test's home."""
    yield
    info = sb_home / "server.json"
    if info.exists():
        pid = json.loads(info.read_text()).get("pid")
        if pid:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


def test_default_candidate_cli_deploy_and_describe(tmp_path, train_csv, capsys, endpoint_server, sb_home):
    request = make_request(
        train_csv, name="numbers",
        TextGenerationHyperParameters={"epochCount": "1", "learningRate": "0.01", "batchSize": "4"},
    )
    request["OutputDataConfig"] = {"S3OutputPath": f"file://{tmp_path}/out"}
    request["ModelDeployConfig"] = {"EndpointName": "numbers-ep"}
    request["RoleArn"] = "arn:aws:iam::123456789012:role/ignored"
    path = tmp_path / "request.yaml"
    path.write_text(yaml.safe_dump(request))
    assert main(["automl", "create", "--request", str(path), "--wait"]) == 0, capsys.readouterr()
    capsys.readouterr()

    assert main(["automl", "describe", "numbers"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["AutoMLJobStatus"] == "Completed" and d["AutoMLJobSecondaryStatus"] == "Completed"
    assert [t["Status"] for t in d["AutoMLJobSecondaryStatusTransitions"]] == [
        "Starting", "AnalyzingData", "TrainingModels", "MaxCandidatesReached",
        "GeneratingModelInsightsReport", "DeployingModel", "Completed",
    ]
    assert {"AutoMLJobName", "AutoMLJobArn", "CreationTime", "EndTime", "LastModifiedTime", "AutoMLJobInputDataConfig",
            "OutputDataConfig", "AutoMLProblemTypeConfig", "ResolvedAttributes"} <= set(d)
    assert d["AutoMLProblemTypeConfigName"] == "TextGeneration"
    assert d["ModelDeployResult"] == {"EndpointName": "numbers-ep"}
    best = d["BestCandidate"]
    assert best["CandidateName"] == "numbers-candidate-001"
    assert (best["CandidateStatus"], best["ObjectiveStatus"]) == ("Completed", "Succeeded")
    objective = best["FinalAutoMLJobObjectiveMetric"]
    assert (objective["MetricName"], objective["Type"], objective["StandardMetricName"]) == ("ValidationLoss", "Minimize", "ValidationLoss")
    metrics = {m["StandardMetricName"]: m for m in best["CandidateProperties"]["CandidateMetrics"]}
    assert set(metrics) == STANDARD
    assert metrics["TrainingLoss"]["Set"] == "Train" and metrics["Rouge1"]["Set"] == "Validation"
    assert all(set(m) == {"MetricName", "StandardMetricName", "Value", "Set"} for m in metrics.values())
    assert best["CandidateSteps"] == [{
        "CandidateStepType": "AWS::SageMaker::TrainingJob",
        "CandidateStepArn": "arn:aws:sagemaker:local:000000000000:training-job/numbers-candidate-001",
        "CandidateStepName": "numbers-candidate-001",
    }]
    # The candidate is a training job, its objective its last validation loss.
    store = jobs.JobStore()
    assert store.get("numbers-candidate-001").kind == "training"
    assert objective["Value"] == store.metrics("numbers-candidate-001", "val_loss")[-1].value
    assert objective["Value"] < store.metrics("numbers-candidate-001", "val_loss")[0].value
    hp = store.get("numbers-candidate-001").config["hyperparameters"]
    assert (hp["epoch"], hp["learning_rate"], hp["per_device_train_batch_size"]) == ("1", "0.01", "4")
    assert main(["jobs", "list"]) == 0
    listed = capsys.readouterr().out
    assert "numbers-candidate-001" in listed and "training" in listed and "automl" in listed
    # The best model copied under S3OutputPath, SageMaker's layout.
    url = best["InferenceContainers"][0]["ModelDataUrl"]
    assert url == f"file://{tmp_path}/out/numbers/numbers-candidate-001/output/model"
    assert (tmp_path / "out/numbers/numbers-candidate-001/output/model/config.json").exists()
    # The insights report: data, metrics, curves as embedded PNGs, base vs best samples.
    report = Path(best["CandidateProperties"]["CandidateArtifactLocations"]["ModelInsights"].removeprefix("file://"))
    html = report.read_text()
    assert "data:image/png;base64," in html and "numbers-candidate-001" in html
    assert "Sample generations" in html and "Say the number" in html and "32" in html
    assert "<script" not in html and "http" not in html.replace("http-equiv", "")

    # The deployed endpoint answers through the real sagemaker-runtime client.
    import boto3

    url = json.loads((sb_home / "server.json").read_text())["url"]
    runtime = boto3.client("sagemaker-runtime", endpoint_url=url, region_name="us-east-1",
                           aws_access_key_id="x", aws_secret_access_key="x")
    response = runtime.invoke_endpoint(
        EndpointName="numbers-ep", ContentType="application/json",
        Body=json.dumps({"inputs": "Say the number 3:", "parameters": {"max_new_tokens": 4}}),
    )
    body = json.loads(response["Body"].read())
    assert isinstance(body, list) and isinstance(body[0]["generated_text"], str)

    assert main(["automl", "list-candidates", "numbers"]) == 0
    assert "numbers-candidate-001" in capsys.readouterr().out


def _seed_for(request: dict, order: list[str]) -> int:
    """A sampler seed whose first proposals' learning rates come in `order` (computed with the
    same Search the job uses, so the test does not depend on Optuna's RNG details)."""
    for seed in range(200):
        request["AutoMLProblemTypeConfig"]["TextGenerationJobConfig"]["CandidateGenerationConfig"]["Seed"] = seed
        plan = build_plan(parse_request(request))
        search = Search(plan, AutoMLState())
        got = []
        for _ in order:
            proposal = search.propose()
            got.append(proposal.hyperparameters["learningRate"])
            search.study.tell(proposal.trial, 1.0)
        if got == order:
            return seed
    raise AssertionError(f"no seed gives {order}")


def search_request(train_csv, name: str, epochs: str, pruning: bool, batch: str = "4") -> dict:
    return make_request(
        train_csv, name=name,
        TextGenerationHyperParameters={"epochCount": epochs, "batchSize": batch, "learningRateWarmupSteps": "0"},
        CompletionCriteria={"MaxCandidates": 2},
        CandidateGenerationConfig={
            "HyperParameterRanges": {"learningRate": {"Values": ["0.02", "0.00001"]}, "loraRank": {"Values": ["8"]}},
            "EnablePruning": pruning,
            "MaxEvaluationRecords": 2,
        },
    )


def test_two_candidate_search_picks_lower_validation_loss(train_csv):
    request = search_request(train_csv, "search", "1", pruning=False)
    _seed_for(request, ["0.00001", "0.02"])  # the better candidate second: the pick is not just "the first"
    automl = AutoMLV2.from_request(request)
    automl.fit(wait=True, logs=False)
    candidates = automl.list_candidates(sort_by="FinalObjectiveMetricValue")
    assert [c["CandidateStatus"] for c in candidates] == ["Completed", "Completed"]
    values = [c["FinalAutoMLJobObjectiveMetric"]["Value"] for c in candidates]
    assert values[0] < values[1]
    assert candidates[0]["CandidateName"] == "search-candidate-002"
    assert candidates[0]["HyperParameters"]["learningRate"] == "0.02"
    best = automl.best_candidate()
    assert best["CandidateName"] == "search-candidate-002"
    assert best["FinalAutoMLJobObjectiveMetric"]["Value"] == values[0]
    by_time = list_candidates_for_auto_ml_job("search", sort_by="CreationTime", sort_order="Descending")["Candidates"]
    assert [c["CandidateName"] for c in by_time] == ["search-candidate-002", "search-candidate-001"]
    training = {j.name for j in jobs.JobStore().list(kind="training")}
    assert training == {"search-candidate-001", "search-candidate-002"}
    d = automl.describe()
    assert d["AutoMLJobStatus"] == "Completed" and "ModelDeployResult" not in d


def test_pruning_stops_a_worse_candidate(train_csv):
    # 20 training records, batch 1, 10 epochs: 200 steps, validated every 50 on 20 records, so a
    # pruned candidate still has most of its run ahead when the pruner (polling every 0.25 s)
    # sees its first point, even on an idle machine where a tiny model trains fast.
    request = search_request(train_csv, "prune", "10", pruning=True, batch="1")
    request["DataSplitConfig"] = {"ValidationFraction": 0.5}
    _seed_for(request, ["0.02", "0.00001"])
    AutoMLV2.from_request(request).fit(wait=True, logs=False)
    candidates = {c["CandidateName"]: c for c in list_candidates_for_auto_ml_job("prune")["Candidates"]}
    first, second = candidates["prune-candidate-001"], candidates["prune-candidate-002"]
    assert first["CandidateStatus"] == "Completed"
    assert second["CandidateStatus"] == "Stopped" and second["ObjectiveStatus"] == "Failed"
    step = int(re.match(r"pruned at step (\d+): validation loss", second["FailureReason"]).group(1))
    assert step < 200
    val_steps = [m.step for m in jobs.JobStore().metrics("prune-candidate-002", "val_loss")]
    assert 200 not in val_steps  # it did not run to the end
    assert jobs.JobStore().get("prune-candidate-002").status == "Stopped"
    assert describe_auto_ml_job_v2("prune")["BestCandidate"]["CandidateName"] == "prune-candidate-001"


def test_stop_propagates_to_the_running_candidate(train_csv):
    from springboard.automl import create_auto_ml_job_v2

    request = make_request(train_csv, name="stopme", TextGenerationHyperParameters={"epochCount": "10", "batchSize": "1"})
    create_auto_ml_job_v2(request)
    store = jobs.JobStore()
    deadline = time.time() + 180
    while time.time() < deadline and not (store.exists("stopme-candidate-001") and store.metrics("stopme-candidate-001", "train_loss")):
        time.sleep(0.5)
    assert store.metrics("stopme-candidate-001", "train_loss"), "the candidate never started training"
    job = stop_auto_ml_job("stopme")
    assert job.status == "Stopped"
    assert store.get("stopme-candidate-001").status == "Stopped"
    candidate = list_candidates_for_auto_ml_job("stopme")["Candidates"][0]
    assert candidate["CandidateStatus"] == "Stopped" and candidate["FailureReason"] == "stopped with its AutoML job"


@pytest.mark.parametrize(
    "criteria,reason,ended_by",
    [
        ({"MaxRuntimePerTrainingJobInSeconds": 1}, "stopped after MaxRuntimePerTrainingJobInSeconds (1s)",
         "MaxCandidatesReached"),
        ({"MaxAutoMLJobRuntimeInSeconds": 5}, "stopped when the AutoML job reached MaxAutoMLJobRuntimeInSeconds",
         "MaxAutoMLJobRuntimeReached"),
    ],
)
def test_runtime_budgets_stop_the_candidate(train_csv, criteria, reason, ended_by):
    from springboard.automl import create_auto_ml_job_v2

    request = make_request(train_csv, name="budget", CompletionCriteria=criteria,
                           TextGenerationHyperParameters={"epochCount": "10", "batchSize": "1"})
    job = create_auto_ml_job_v2(request, wait=True)
    assert job.status == "Failed"
    assert job.failure_reason.startswith("no candidate completed with an objective value")
    statuses = [t.status for t in job.transitions]
    assert ended_by in statuses and "GeneratingModelInsightsReport" not in statuses
    candidate = list_candidates_for_auto_ml_job("budget")["Candidates"][0]
    assert candidate["CandidateStatus"] == "Stopped" and candidate["FailureReason"] == reason
    assert jobs.JobStore().get("budget-candidate-001").status == "Stopped"
    d = describe_auto_ml_job_v2("budget")
    assert d["AutoMLJobStatus"] == "Failed" and "BestCandidate" not in d and d["FailureReason"] == job.failure_reason


def test_seed_003_request_runs_and_says_why_the_model_cannot_learn(tmp_path, train_csv, capsys):
    """Seed 003 as written: a plain text/csv channel, learning rate 1e-6 with 10 warm-up steps
    and batch 32 on a small set. It runs, and the CLI, the candidate's training job (log and
    describe) and the AutoML describe say the schedule never leaves the warm-up."""
    request = make_request(
        train_csv, name="seed3",
        TextGenerationHyperParameters={"epochCount": "1", "learningRate": "0.000001",
                                       "learningRateWarmupSteps": "10", "batchSize": "32"},
        CompletionCriteria={"MaxCandidates": 1},
    )
    request["AutoMLJobInputDataConfig"][0]["ContentType"] = "text/csv"
    path = tmp_path / "request.yaml"
    path.write_text(yaml.safe_dump(request))
    assert main(["automl", "create", "--request", str(path), "--wait"]) == 0
    out = capsys.readouterr().out
    assert "warning: seed3-candidate-001: the warm-up (10 steps) is not shorter than the run" in out
    assert "the model cannot learn" in out
    candidate = describe_auto_ml_job_v2("seed3")["BestCandidate"]
    assert any("never leaves the warm-up" in w for w in candidate["Warnings"])
    training = jobs.JobStore().get("seed3-candidate-001")
    assert any("the model cannot learn" in w for w in training.describe()["Warnings"])
    assert "never leaves the warm-up" in training.log_path.read_text()
    assert any("never leaves the warm-up" in w for w in jobs.JobStore().get("seed3").describe()["Warnings"])


def test_max_runtime_stops_the_automl_job_and_its_candidate(train_csv):
    """The runner's MaxRuntimeInSeconds holds for an AutoML job too: the job is stopped, and it
    stops the candidate it was training."""
    from springboard.automl.job import AutoMLJobConfig

    req = parse_request(make_request(train_csv, name="limited",
                                     TextGenerationHyperParameters={"epochCount": "10", "batchSize": "1"}))
    job = jobs.submit(AutoMLJobConfig(request=req.to_dict(), plan=build_plan(req)), name="limited", max_runtime=8)
    job = jobs.wait_for(job.name, poll=0.5, timeout=300)
    assert job.status == "Stopped" and "MaxRuntimeExceeded" in [t.status for t in job.transitions]
    candidate = jobs.wait_for("limited-candidate-001", poll=0.5, timeout=60)
    assert candidate.status == "Stopped"
