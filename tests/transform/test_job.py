"""Transform as a job: the CLI, the SDK, metrics, failure modes and restarts, each in a real
worker process on the tiny models."""

import ast
import json
import os
import signal
import time
from pathlib import Path

import pytest

from springboard.cli import main
from springboard.jobs import JobStore, refresh, resume, stop, wait_for
from springboard.transform import run_transform
from springboard.transform.sdk import Transformer


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
    job = run_transform(str(tiny_t5_dir), tmp_path / "in", tmp_path / "out", on_error="file")
    assert job.name.startswith(f"{tiny_t5_dir.name}-") and len(job.name) <= 63
    assert job.status == "Failed"
    assert "bad.jsonl:2: invalid JSON" in job.failure_reason
    assert not (tmp_path / "out/bad.jsonl.out").exists()
    assert (tmp_path / "out/good.jsonl.out").exists()


def test_killed_worker_resumes_from_last_complete_line(tmp_path, tiny_causal_dir):
    # Small enough for a loaded CI box, slow enough per record (one record per pass, 16 new
    # tokens) that the kill lands mid-file on a fast one: it fires at the first complete line.
    n = 40
    write_jsonl(tmp_path / "in/a.jsonl", [{"id": i, "text_inputs": f"record {i} says"} for i in range(n)])
    job = run_transform(str(tiny_causal_dir), tmp_path / "in", tmp_path / "out", name="tx-kill", wait=False,
                        batch_strategy="SingleRecord", env={"HYPER_PARAMS": "{'max_new_tokens': 16}"})
    partial = tmp_path / "out/a.jsonl.out.partial"
    state = job.job_dir / "checkpoints/transform-state.json"
    deadline = time.time() + 120
    while time.time() < deadline:  # until one record is written and recorded
        if state.exists() and json.loads(state.read_text())["files"]["a.jsonl"]["records"] >= 1:
            break
        time.sleep(0.01)
    pid = JobStore().get("tx-kill").pid
    os.kill(pid, signal.SIGKILL)
    job = wait_for("tx-kill", poll=0.1, timeout=30)
    assert job.status == "Failed" and "exited unexpectedly" in job.failure_reason
    assert not (tmp_path / "out/a.jsonl.out").exists(), "killed too late: the file completed"
    done_before = partial.read_text().count("\n")
    assert 1 <= done_before < n
    job = wait_for(resume("tx-kill").name, poll=0.2, timeout=180)
    assert job.status == "Completed", job.failure_reason
    assert job.attempts == 2
    assert "resuming after record" in job.log_path.read_text()
    out = [json.loads(line) for line in (tmp_path / "out/a.jsonl.out").read_text().splitlines()]
    assert [r["id"] for r in out] == list(range(n))
    metrics = [m for m in JobStore().metrics("tx-kill") if m.name == "records_processed"]
    assert metrics[-1].value == n


def test_sdk_transformer_stop_and_resume(tmp_path, tiny_causal_dir):
    write_jsonl(tmp_path / "in/a.jsonl", [{"id": i, "text_inputs": f"item {i}"} for i in range(40)])
    write_jsonl(tmp_path / "in/b.jsonl", [{"id": i, "text_inputs": f"other {i}"} for i in range(3)])
    transformer = Transformer(str(tiny_causal_dir), instance_count=1, output_path=str(tmp_path / "out"),
                              assemble_with="Line", max_payload=1, strategy="SingleRecord",
                              env={"HYPER_PARAMS": str({"batch_size": 1, "max_new_tokens": 8})})
    transformer.transform(str(tmp_path / "in"), content_type="application/jsonlines", split_type="Line",
                          job_name="tx-sdk", wait=False)
    partial = tmp_path / "out/a.jsonl.out.partial"
    deadline = time.time() + 120
    while time.time() < deadline and not (partial.exists() and partial.read_text().count("\n") >= 1):
        time.sleep(0.01)
    job = stop("tx-sdk")
    assert job.status == "Stopped"
    assert not (tmp_path / "out/b.jsonl.out").exists()
    resume("tx-sdk")
    job = transformer.wait(logs=False)
    assert job.status == "Completed", job.failure_reason
    assert transformer.describe()["JobStatus"] == "Completed"
    ids = [json.loads(line)["id"] for line in (tmp_path / "out/a.jsonl.out").read_text().splitlines()]
    assert ids == list(range(40))
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
