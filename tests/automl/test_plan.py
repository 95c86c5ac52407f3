"""Hyperparameter mapping onto the trainer, and the candidates a search proposes."""

from __future__ import annotations

from springboard.automl.candidates import schedule
from springboard.automl.plan import build_plan
from springboard.automl.request import parse_request
from springboard.automl.search import Search
from springboard.automl.state import AutoMLState
from springboard.train import hyperparameters as hps

from .conftest import make_request


def test_mapping_onto_the_trainer(train_csv):
    plan = build_plan(parse_request(make_request(train_csv, TextGenerationHyperParameters={
        "epochCount": "3", "batchSize": "8", "learningRate": "0.0003", "learningRateWarmupSteps": "5"})))
    search = Search(plan, AutoMLState())
    proposal = search.propose()
    hp = schedule(plan, proposal, n_train=64)
    assert hp["epoch"] == "3" and hp["per_device_train_batch_size"] == "8"
    assert hp["learning_rate"] == "0.0003" and hp["warmup_steps"] == "5" and hp["instruction_tuned"] == "True"
    # What the trainer makes of it: its own schema, the model's defaults under the mapped values.
    parsed = hps.parse("causal-lm", hp, plan.base_models[0].defaults)
    assert (parsed.epochs, parsed.per_device_train_batch_size, parsed.learning_rate, parsed.warmup_steps) == (3, 8, 3e-4, 5)
    assert parsed.instruction_tuned is True
    assert parsed.eval_steps == 0  # one candidate: validation each epoch, no pruning points


def test_unset_hyperparameters_keep_the_model_defaults(train_csv):
    plan = build_plan(parse_request(make_request(train_csv)))
    hp = schedule(plan, Search(plan, AutoMLState()).propose(), n_train=32)
    assert set(hp) == {"instruction_tuned", "logging_steps"}


def test_search_is_seeded_and_sets_pruning_points(train_csv):
    request = make_request(
        train_csv,
        TextGenerationHyperParameters={"epochCount": "2", "batchSize": "4"},
        CompletionCriteria={"MaxCandidates": 4},
        CandidateGenerationConfig={"HyperParameterRanges": {
            "learningRate": {"MinValue": "0.0001", "MaxValue": "0.1", "ScalingType": "Logarithmic"},
            "loraRank": {"Values": ["4", "16"]}}},
    )
    plan = build_plan(parse_request(request))

    def proposals():
        search = Search(plan, AutoMLState())
        out = []
        for _ in range(3):
            p = search.propose()
            out.append(p.hyperparameters)
            search.study.tell(p.trial, 1.0)
        return out

    first = proposals()
    assert first == proposals()  # same request, same candidates
    assert len({p["learningRate"] for p in first}) == 3
    assert all(1e-4 <= float(p["learningRate"]) <= 0.1 and p["loraRank"] in ("4", "16") for p in first)
    assert all(p["epochCount"] == "2" and p["batchSize"] == "4" for p in first)
    hp = schedule(plan, Search(plan, AutoMLState()).propose(), n_train=32)
    assert hp["eval_steps"] == "4"  # 8 steps/epoch x 2 epochs, evaluated every quarter
    assert "lora_r" in hp
