"""Job kinds: the registry (a kind = its config model, its body, its name base), the one
default name, the runner's MaxRuntimeInSeconds for every kind, the one watcher."""

import os
import re
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from pydantic import BaseModel

from springboard import jobs
from springboard.errors import SpringboardError, ValidationError
from springboard.jobs.runner import start_job

HERE = Path(__file__).parent


@pytest.fixture(autouse=True)
def importable(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.syspath_prepend(str(HERE))


def test_every_room_registers_its_kind():
    from springboard.automl.job import AutoMLJobConfig
    from springboard.crawl.config import CrawlRunConfig
    from springboard.train.job import TrainingJobConfig
    from springboard.transform.config import TransformConfig

    transform = TransformConfig(model="org/some-model", input="/in", output="/out")
    kind = jobs.kind_of(transform)  # found from the config alone: transform/job.py is imported on demand
    assert kind.name == "transform" and kind.entrypoint == "springboard.transform.job:run"
    assert kind.output_dir(transform) == "/out" and kind.name_base(transform) == "org/some-model"
    import springboard.crawl.job  # noqa: F401  (registers `crawl`, beside its body)

    kinds = jobs.registered()
    assert {name: k.config for name, k in kinds.items() if name != "test"} == {
        "training": TrainingJobConfig, "transform": TransformConfig, "automl": AutoMLJobConfig, "crawl": CrawlRunConfig,
    }
    for k in kinds.values():  # the worker imports the body by its entrypoint, which registers the kind again
        module, _, function = k.entrypoint.partition(":")
        assert getattr(__import__(module, fromlist=[function]), function) is k.body


def test_unknown_config_and_clashing_kind_are_refused():
    class Other(BaseModel):
        n: int = 1

    with pytest.raises(SpringboardError, match="no job kind takes a Other"):
        jobs.submit(Other())
    with pytest.raises(SpringboardError, match="already registered"):
        jobs.register(jobs.JobKind("transform", Other, lambda ctx, config: None, name_base=lambda config: "x"))
    assert jobs.kind_named("transform").config.__name__ == "TransformConfig"


def test_the_body_gets_its_typed_config_and_a_default_name():
    import jobfuncs

    job = jobs.submit(jobfuncs.Settings(n=2), wait=True)
    assert job.status == "Completed", job.failure_reason
    assert re.fullmatch(r"test-\d{4}(-\d\d){5}-\d{3}", job.name)
    assert (Path(job.output_dir) / "typed.txt").read_text() == "Settings 2"


def test_default_name_like_sagemaker():
    now = datetime(2024, 3, 5, 6, 7, 8, 912345, tzinfo=timezone.utc)
    assert jobs.default_name("smollm2-135m-instruct", now) == "smollm2-135m-instruct-2024-03-05-06-07-08-912"
    assert jobs.default_name("/tmp/models/my_model.v2/", now).startswith("my-model-v2-2024-")
    assert jobs.default_name("HuggingFaceTB/SmolLM2-135M", now) == "SmolLM2-135M-2024-03-05-06-07-08-912"
    long = jobs.default_name("x" * 100, now)
    assert len(long) == 63 and jobs.validate_name(long)
    assert re.fullmatch(r"x+-2024-03-05-06-07-08-912", long)
    short = jobs.default_name("my-long-base-job-name-for-automl", now, max_length=32, short=True)
    assert short == "my-long-base-job-n-240305-060708" and len(short) == 32
    assert jobs.default_name("???", now) == "job-2024-03-05-06-07-08-912"


def test_endpoints_and_sdk_names_come_from_the_same_generator():
    from springboard.sdk.automl import AutoMLV2
    from springboard.serve.deploy import default_endpoint_name

    assert re.fullmatch(r"my-model-\d{4}(-\d\d){5}-\d{3}", default_endpoint_name("/models/my_model"))
    name = AutoMLV2(base_job_name="nightly_run").build_request(["/data/train.csv"])["AutoMLJobName"]
    assert re.fullmatch(r"nightly-run-\d{6}-\d{6}", name)


def test_max_runtime_stops_a_job_of_any_kind():
    job = start_job("test", "slow", "jobfuncs:count", {"n": 400, "sleep": 0.05}, max_runtime=1)
    assert job.max_runtime == 1
    assert jobs.wait_for("slow", poll=0.2, timeout=60).status == "Stopped"
    time.sleep(0.5)  # the status is written a moment before its transition
    job = jobs.JobStore().get("slow")
    assert [t.status for t in job.transitions][-2:] == ["MaxRuntimeExceeded", "Stopped"]
    assert job.transitions[-1].message == "Stopped: MaxRuntimeInSeconds=1 exceeded"
    assert len(jobs.JobStore().metrics("slow", "train_loss")) < 400


def test_max_runtime_must_be_positive():
    import jobfuncs

    with pytest.raises(ValidationError, match="at least 1"):
        jobs.submit(jobfuncs.Settings(n=1), name="never", max_runtime=0)
    assert not jobs.JobStore().exists("never")


def test_jobs_watch_prints_statuses_metrics_and_the_end(capsys):
    from springboard.cli import main

    start_job("test", "watched", "jobfuncs:count", {"n": 3, "sleep": 1.5})
    assert main(["jobs", "watch", "watched"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "watched: InProgress / Training" in out
    assert [line for line in out if "train_loss" in line] == [
        "watched: step 0 train_loss=1", "watched: step 1 train_loss=0.5", "watched: step 2 train_loss=0.333333",
    ]
    assert out[-1] == "watched: Completed"

    start_job("test", "watched-fails", "jobfuncs:fail", {})
    assert main(["jobs", "watch", "watched-fails"]) == 1
    assert capsys.readouterr().out.splitlines()[-1].startswith("watched-fails: Failed — ")
