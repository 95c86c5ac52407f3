import os
import time
from pathlib import Path

import pytest

from springboard.errors import ConflictError, NotFoundError, ValidationError
from springboard.jobs import JobStore, refresh, resume, stop, submit, wait_for

HERE = Path(__file__).parent


@pytest.fixture(autouse=True)
def importable(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))


def test_completes_with_metrics_and_transitions():
    job = submit("test", "count-1", "jobfuncs:count", {"n": 3}, wait=True)
    assert job.status == "Completed", job.failure_reason
    assert (Path(job.output_dir) / "done.txt").read_text() == "0"
    statuses = [t.status for t in job.transitions]
    assert statuses == ["Starting", "Training", "Completed"]
    rows = JobStore().metrics("count-1", "train_loss")
    assert [(m.step, m.value) for m in rows] == [(0, 1.0), (1, 0.5), (2, 1 / 3)]
    assert rows[1].epoch == pytest.approx(0.1)
    assert job.end_time >= job.start_time >= job.creation_time


def test_failure_reason_names_file_line_field():
    job = submit("test", "fails", "jobfuncs:fail", {}, wait=True)
    assert job.status == "Failed"
    assert job.failure_reason == "train.jsonl:3: field 'completion': missing key"
    crashed = submit("test", "crashes", "jobfuncs:crash", {}, wait=True)
    assert crashed.failure_reason == "RuntimeError: boom"
    assert "Traceback" in crashed.log_path.read_text()


def test_names_validated_and_unique():
    with pytest.raises(ValidationError, match="invalid job name"):
        submit("test", "bad_name", "jobfuncs:count", {"n": 1})
    with pytest.raises(ValidationError):
        submit("test", "-x", "jobfuncs:count", {"n": 1})
    with pytest.raises(ValidationError):
        submit("test", "a" * 64, "jobfuncs:count", {"n": 1})
    submit("test", "twice", "jobfuncs:count", {"n": 1}, wait=True)
    with pytest.raises(ConflictError):
        submit("test", "twice", "jobfuncs:count", {"n": 1})
    with pytest.raises(NotFoundError):
        JobStore().get("nope")


def test_stop_then_resume_continues():
    submit("test", "stoppable", "jobfuncs:count", {"n": 200, "sleep": 0.05})
    deadline = time.time() + 30
    while not JobStore().metrics("stoppable") and time.time() < deadline:
        time.sleep(0.1)
    job = stop("stoppable")
    assert job.status == "Stopped"
    assert [t.status for t in job.transitions][-2:] == ["Stopping", "Stopped"]
    done_steps = len(JobStore().metrics("stoppable"))
    assert 0 < done_steps < 200
    JobStore().update("stoppable", config={"n": done_steps + 2})
    job = wait_for(resume("stoppable").name)
    assert job.status == "Completed"
    assert (Path(job.output_dir) / "done.txt").read_text() == str(done_steps)


def test_killed_worker_is_failed_then_resumes_from_checkpoint():
    submit("test", "killed", "jobfuncs:count", {"n": 5, "die_at": 2})
    job = wait_for("killed", poll=0.2, timeout=60)
    assert job.status == "Failed"
    assert "exited unexpectedly" in job.failure_reason
    job = wait_for(resume("killed").name, poll=0.2)
    assert job.status == "Completed", job.failure_reason
    assert (Path(job.output_dir) / "done.txt").read_text() == "3"
    assert job.attempts == 2
    with pytest.raises(ConflictError, match="already completed"):
        resume("killed")


def test_refresh_unknown():
    with pytest.raises(NotFoundError):
        refresh("missing")


def test_follow_log_yields_every_line_through_the_end(capsys):
    from springboard.cli import main
    from springboard.jobs import follow_log

    job = submit("test", "chatty", "jobfuncs:chatty", {"n": 5, "sleep": 0.2})
    lines = list(follow_log(job))
    assert [i for i in range(5) if any(f"line {i}" in line for line in lines)] == [0, 1, 2, 3, 4]
    assert any("last line" in line for line in lines)
    assert main(["jobs", "logs", "-f", "chatty"]) == 0
    assert "last line" in capsys.readouterr().out
