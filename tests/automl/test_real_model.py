"""The Autopilot default (one candidate, objective validation loss) on the real default model."""

from __future__ import annotations

import pytest

from springboard.sdk.automl import AutoMLV2
from springboard.quickstart.dataset import build

from .conftest import make_request, write_csv


@pytest.mark.slow
def test_default_candidate_on_smollm2(tmp_path):
    rows = [
        {"input": f"Summarize this Python documentation in one sentence.\n\n{e.documentation}", "output": e.summary}
        for e in build()[:24]
    ]
    train = write_csv(tmp_path / "data" / "train.csv", rows)
    request = make_request(
        train, name="smol-automl", model="smollm2-135m-instruct",
        TextGenerationHyperParameters={"epochCount": "1", "batchSize": "4", "learningRate": "0.0005"},
    )
    request["DataSplitConfig"] = {"ValidationFraction": 0.25}
    automl = AutoMLV2.from_request(request)
    automl.fit(wait=True, logs=False)
    described = automl.describe()
    assert described["AutoMLJobStatus"] == "Completed", described.get("FailureReason")
    best = automl.best_candidate()
    assert best["CandidateStatus"] == "Completed"
    objective = best["FinalAutoMLJobObjectiveMetric"]
    metrics = {m["MetricName"]: m["Value"] for m in best["CandidateProperties"]["CandidateMetrics"]}
    assert objective["Value"] == pytest.approx(metrics["ValidationLoss"])
    assert 0 < metrics["ValidationLoss"] < 5 and metrics["Perplexity"] > 1
    assert 0 <= metrics["Rouge1"] <= 1 and metrics["Rouge1"] > 0  # real generations, scored
