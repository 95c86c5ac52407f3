"""The seeds' notebook flows in examples/, run end to end with the real `sagemaker` SDK / boto3
against a Springboard server they start (and moto as S3), on the default model, with small sizes
(the examples' defaults are bigger; the README gives their numbers)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
pytestmark = pytest.mark.slow


def run_example(script: str, workdir: Path, *args: str, timeout: int = 1500) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    for key in [k for k in env if k.startswith(("AWS_", "SAGEMAKER_"))]:
        del env[key]  # the example sets up its own endpoints, as on a clean machine
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), "--workdir", str(workdir), *args],
                          env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return json.loads((workdir / "report.json").read_text())


def test_seed000_instruction_tuning_deploy_both_and_compare(tmp_path):
    report = run_example("jumpstart_instruction_tuning.py", tmp_path / "w", "--train-examples", "40",
                         "--test-examples", "4", "--epochs", "1")
    assert set(report["rougeL"]) == {"pre-trained", "fine-tuned"}
    assert report["test_examples"] == 4 and report["training_job"]
    assert "huggingface-text2text-flan-t5-xl" in report["text2text_models"]  # the seed's first cell
    assert report["metrics"] == ["eval:loss", "train:epoch", "train:loss"]  # TrainingJobAnalytics


def test_seed001_batch_transform_and_real_time_batch_with_rouge(tmp_path):
    report = run_example("batch_transform_rouge.py", tmp_path / "w", "--records", "8")
    assert report["records"] == 8
    for kind in ("batch_transform", "real_time"):
        assert set(report["rouge"][kind]) == {"rouge1", "rouge2", "rougeL"}
        assert report["rouge"][kind]["rouge1"] > 0  # the model wrote something related


def test_seed002_dolly_instruction_tuning_and_domain_adaptation(tmp_path):
    report = run_example("dolly_and_domain_adaptation.py", tmp_path / "w", "--dolly-examples", "24",
                         "--domain-topics", "3", "--max-train-samples", "16")
    assert set(report["answers"]) == {"instruction", "domain"}
    assert all(isinstance(a, str) for a in report["answers"].values())
    for names in report["metrics"].values():  # TrainingJobAnalytics, the spec's metric definitions
        assert {"springboard:train-loss", "huggingface-textgeneration:eval-loss"} <= set(names)


def test_seed003_autopilot_best_candidate_deployed(tmp_path):
    report = run_example("autopilot_text_generation.py", tmp_path / "w", "--rows", "32")
    assert report["best_candidate"] and report["objective"]
    assert isinstance(report["answer"], str)


def test_seed004_crawl_then_domain_adaptation(tmp_path):
    report = run_example("crawl_to_domain_adaptation_sagemaker.py", tmp_path / "w", "--pages", "40",
                         "--max-train-samples", "8")
    assert report["documents"] > 0
    assert len(report["completions"]) == 2
