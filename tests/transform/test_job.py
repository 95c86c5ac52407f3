"""Transform as a job: the CLI, the SDK, metrics, failure modes and restarts, each in a real
worker process on the tiny models."""

import ast
import json
import os
import signal
import time
from pathlib import Path

import pytest

from springboard import jobs
from springboard.cli import main
from springboard.jobs import JobStore, refresh, resume, stop, wait_for
from springboard.transform import transform_config
from springboard.sdk.transformer import Transformer


def write_jsonl(path: Path, records) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def test_cli_end_to_end_with_metrics(tmp_path, tiny_t5_dir, capsys):
    src = write_jsonl(tmp_path / "articles.jsonl", [{"id": f"doc{i}", "text_inputs": f"Summarize: text {i}"} for i in range(6)])
    hp = str({"batch_size": 4, "max_length": 8, "top_k": 50, "top_p": 0.95, "do_sample": True})
    rc = main(["transform", "--model", str(tiny_t5_dir), "--input", str(src), "--output", str(tmp_path / "out"),
               "--name", "tx-cli", "--env", f"HYPER_PARAMS={hp}", "--max-payload", "1",
               "--split-type", "Line", "--assemble-with", "Line", "--wait"])
    assert rc == 0, capsys.readouterr()
    assert "tx-cli: Completed - 6 records (0 failed)" in capsys.readouterr().out
    lines = (tmp_path / "out/articles.jsonl.out").read_text().splitlines()
    assert [ast.literal_eval(line)["id"] for line in lines] == [f"doc{i}" for i in range(6)]
    job = JobStore().get("tx-cli")
    assert job.kind == "transform" and job.config["environment"]["HYPER_PARAMS"] == hp
    metrics = {m.name: m.value for m in JobStore().metrics("tx-cli")}
    assert metrics["records_processed"] == 6 and metrics["records_failed"] == 0
    assert metrics["records_per_second"] > 0 and metrics["tokens_per_second"] > 0
    assert "done: 6 records" in job.log_path.read_text()


def test_default_name_and_file_mode_failure(tmp_path, tiny_t5_dir):
    write_jsonl(tmp_path / "in/bad.jsonl", [{"id": 0, "text_inputs": "fine"}, "{broken"])
    write_jsonl(tmp_path / "in/good.jsonl", [{"id": 0, "text_inputs": "fine", "max_new_tokens": 3}])
    job = jobs.submit(transform_config(str(tiny_t5_dir), tmp_path / "in", tmp_path / "out"), wait=True)  # SageMaker's semantics by default
    assert job.name.startswith(f"{tiny_t5_dir.name}-") and len(job.name) <= 63
    assert job.status == "Failed"
    assert "bad.jsonl:2: invalid JSON" in job.failure_reason
    assert not (tmp_path / "out/bad.jsonl.out").exists()
    assert (tmp_path / "out/good.jsonl.out").exists()


def _shard_records(job_dir: Path) -> int:
    total = 0
    for f in (job_dir / "checkpoints/transform/shards").glob("*.json"):
        try:
            total += json.loads(f.read_text())["records"]
        except (ValueError, KeyError):  # replaced while read
            pass
    return total


@pytest.mark.parametrize("instance_count", [1, 2])
def test_kill_9_then_resume_every_record_exactly_once(tmp_path, tiny_causal_dir, instance_count):
    """kill -9 of the job's process mid-file; after `jobs resume` every record of every file is in
    its .out exactly once, in order (one worker, and two with the large file split in shards)."""
    n = 40
    write_jsonl(tmp_path / "in/a.jsonl", [{"id": i, "text_inputs": f"record {i} says"} for i in range(n)])
    write_jsonl(tmp_path / "in/b.jsonl", [{"id": f"b{i}", "text_inputs": f"other {i}"} for i in range(5)])
    name = f"tx-kill-{instance_count}"
    job = jobs.submit(transform_config(str(tiny_causal_dir), tmp_path / "in", tmp_path / "out",
                                       batch_strategy="SingleRecord", instance_count=instance_count,
                                       env={"HYPER_PARAMS": "{'max_new_tokens': 16}"}), name=name)
    deadline = time.time() + 180
    while time.time() < deadline and _shard_records(job.job_dir) < 2:  # some records are saved
        time.sleep(0.01)
    pid = JobStore().get(name).pid
    os.kill(pid, signal.SIGKILL)
    job = wait_for(name, poll=0.1, timeout=30)
    assert job.status == "Failed" and "exited unexpectedly" in job.failure_reason
    assert not (tmp_path / "out/a.jsonl.out").exists(), "killed too late: the file completed"
    done_before = _shard_records(job.job_dir)
    assert 2 <= done_before < n + 5
    job = wait_for(resume(name).name, poll=0.2, timeout=240)
    assert job.status == "Completed", job.failure_reason
    assert job.attempts == 2
    assert "resuming after record" in job.log_path.read_text()
    out = [json.loads(line) for line in (tmp_path / "out/a.jsonl.out").read_text().splitlines()]
    assert [r["id"] for r in out] == list(range(n))
    assert all(r["generated_texts"][0] for r in out)
    out_b = [json.loads(line)["id"] for line in (tmp_path / "out/b.jsonl.out").read_text().splitlines()]
    assert out_b == [f"b{i}" for i in range(5)]
    metrics = [m for m in JobStore().metrics(name) if m.name == "records_processed"]
    assert metrics[-1].value == n + 5


def test_sdk_transformer_stop_and_resume(tmp_path, tiny_causal_dir):
    # enough single-record batches in a that the stop lands before b is reached, however fast
    write_jsonl(tmp_path / "in/a.jsonl", [{"id": i, "text_inputs": f"item {i}"} for i in range(200)])
    write_jsonl(tmp_path / "in/b.jsonl", [{"id": i, "text_inputs": f"other {i}"} for i in range(3)])
    transformer = Transformer(str(tiny_causal_dir), instance_count=1, output_path=str(tmp_path / "out"),
                              assemble_with="Line", max_payload=1, strategy="SingleRecord",
                              env={"HYPER_PARAMS": str({"batch_size": 1, "max_new_tokens": 8})})
    transformer.transform(str(tmp_path / "in"), content_type="application/jsonlines", split_type="Line",
                          job_name="tx-sdk", wait=False)
    job_dir = JobStore().get("tx-sdk").job_dir
    deadline = time.time() + 120
    while time.time() < deadline and _shard_records(job_dir) < 1:
        time.sleep(0.01)
    job = stop("tx-sdk")
    assert job.status == "Stopped"
    assert not (tmp_path / "out/b.jsonl.out").exists()
    resume("tx-sdk")
    job = transformer.wait(logs=False)
    assert job.status == "Completed", job.failure_reason
    assert transformer.describe()["JobStatus"] == "Completed"
    ids = [json.loads(line)["id"] for line in (tmp_path / "out/a.jsonl.out").read_text().splitlines()]
    assert ids == list(range(200))
    assert (tmp_path / "out/b.jsonl.out").read_text().count("\n") == 3


def test_sdk_transform_waits_by_default(tmp_path, tiny_t5_dir, capsys):
    src = write_jsonl(tmp_path / "a.jsonl", [{"id": 1, "text_inputs": "hello", "max_new_tokens": 2}])
    t = Transformer(str(tiny_t5_dir), output_path=str(tmp_path / "out"))
    t.transform(str(src), content_type="application/jsonlines", split_type="Line")
    assert refresh(t.latest_transform_job).status == "Completed"
    assert "done: 1 records" in capsys.readouterr().out  # logs=True printed the job's log
    t.wait()


def test_model_transformer_seed_style(tmp_path, tiny_t5_dir):
    """The seed notebook's shape: model.transformer(...).transform(...), then .wait()."""
    from springboard import Model

    src = write_jsonl(tmp_path / "in" / "articles.jsonl", [{"id": i, "text_inputs": f"text {i}"} for i in range(3)])
    params = {"batch_size": 2, "max_length": 6, "top_k": 50, "top_p": 0.95, "do_sample": True}
    transformer = Model(model_data=str(tiny_t5_dir)).transformer(
        instance_count=1, output_path=str(tmp_path / "out"), assemble_with="Line", max_payload=1,
        env={"HYPER_PARAMS": str(params)},
    )
    transformer.transform(str(src), content_type="application/jsonlines", split_type="Line", logs=False)
    transformer.wait()
    lines = (tmp_path / "out" / "articles.jsonl.out").read_text().splitlines()
    assert [ast.literal_eval(line)["id"] for line in lines] == [0, 1, 2]


def test_seed_001_flow_on_a_causal_model(tmp_path, tiny_causal_dir):
    """Seed 001 as written: accept="text/csv", assemble_with="Line", max_payload=1 and
    HYPER_PARAMS with max_length 50, each .out line read with ast.literal_eval. On a causal model
    max_length bounds the output (it used to count the prompt and every record came back empty)."""
    from springboard import Model

    prompt = "Summarize this article about the weather in the mountains. " * 6
    src = write_jsonl(tmp_path / "in" / "articles.jsonl", [{"id": i, "text_inputs": f"{prompt}{i}"} for i in range(5)])
    params = {"batch_size": 4, "max_length": 50, "top_k": 50, "top_p": 0.95, "do_sample": True}
    transformer = Model(model_data=str(tiny_causal_dir)).transformer(
        instance_count=1, output_path=str(tmp_path / "out"), accept="text/csv", assemble_with="Line",
        max_payload=1, env={"HYPER_PARAMS": str(params)},
    )
    transformer.transform(str(src), content_type="application/jsonlines", split_type="Line", logs=False)
    job = transformer.wait(logs=False)
    assert job.status == "Completed", job.failure_reason
    lines = (tmp_path / "out" / "articles.jsonl.out").read_text().splitlines()
    records = [ast.literal_eval(line) for line in lines]
    assert [r["id"] for r in records] == list(range(5))
    assert all(isinstance(r["generated_texts"], list) and r["generated_texts"][0] for r in records)
    metrics = {m.name: m.value for m in JobStore().metrics(job.name)}
    assert metrics["tokens_per_second"] > 0 and metrics["records_empty"] == 0


def test_unknown_sdk_keyword_is_an_error(tmp_path):
    from springboard.errors import ValidationError

    with pytest.raises(ValidationError, match="instance_cuont"):
        Transformer("m", instance_cuont=2)
    Transformer("m", tags=[{"Key": "a", "Value": "b"}])  # AWS-only: no local meaning


def test_sdk_instance_count_runs_that_many_workers(tmp_path, tiny_t5_dir):
    src = write_jsonl(tmp_path / "in/a.jsonl", [{"id": i, "text_inputs": f"text {i}"} for i in range(8)])
    t = Transformer(str(tiny_t5_dir), instance_count=2, output_path=str(tmp_path / "out"),
                    env={"HYPER_PARAMS": "{'batch_size': 2, 'max_new_tokens': 3}"})
    t.transform(str(src.parent), content_type="application/jsonlines", split_type="Line", job_name="tx-two",
                logs=False)
    job = refresh("tx-two")
    assert job.status == "Completed", job.failure_reason
    assert job.config["instance_count"] == 2
    assert "in 4 shard(s); 2 worker(s)" in job.log_path.read_text()
    assert [json.loads(line)["id"] for line in (tmp_path / "out/a.jsonl.out").read_text().splitlines()] == list(range(8))


def test_cli_max_runtime_stops_the_transform(tmp_path, tiny_causal_dir, capsys):
    """MaxRuntimeInSeconds is the runner's, for a transform job as for training: past it the job
    ends Stopped (MaxRuntimeExceeded) with the records done so far; `--wait` watches it end."""
    src = write_jsonl(tmp_path / "in/a.jsonl", [{"id": i, "text_inputs": f"record {i} says"} for i in range(400)])
    rc = main(["transform", "--model", str(tiny_causal_dir), "--input", str(src), "--output", str(tmp_path / "out"),
               "--name", "tx-limited", "--batch-strategy", "SingleRecord", "--env", "HYPER_PARAMS={'max_new_tokens': 16}",
               "--max-runtime", "2", "--wait"])
    out = capsys.readouterr().out
    assert rc == 1, out
    job = JobStore().get("tx-limited")
    assert job.status == "Stopped" and job.max_runtime == 2
    assert "MaxRuntimeExceeded" in [t.status for t in job.transitions]
    assert "tx-limited: Stopped" in out
    assert jobs.latest_metrics("tx-limited").get("records_processed", 0) < 400
