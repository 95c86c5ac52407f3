import os
import time
from pathlib import Path

import pytest

from springboard.errors import ConflictError, NotFoundError, ValidationError
from springboard.jobs import JobStore, refresh, resume, stop, wait_for
from springboard.jobs.runner import start_job as submit

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
    done_steps = len(JobStore().metrics("stoppable", "train_loss"))
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


def _wait_until(predicate, timeout=60.0):
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, "condition not reached"
        time.sleep(0.05)


def test_concurrent_resumes_start_exactly_one_worker():
    import threading

    from springboard.errors import ConflictError

    submit("test", "racy", "jobfuncs:count", {"n": 6, "die_at": 2})
    assert wait_for("racy", poll=0.2, timeout=60).status == "Failed"
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def go():
        barrier.wait()
        try:
            resume("racy")
            outcomes.append("started")
        except ConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 7 + ["started"]
    job = wait_for("racy", poll=0.2, timeout=60)
    assert job.status == "Completed", job.failure_reason
    assert job.attempts == 2  # one worker per attempt: the original and one resume


def test_resumed_steps_are_recorded_exactly_once():
    # Checkpoint every 3 steps, killed at step 4: steps 3 and 4 run again after the resume.
    submit("test", "repeats", "jobfuncs:count", {"n": 8, "die_at": 4, "ckpt_every": 3})
    assert wait_for("repeats", poll=0.2, timeout=60).status == "Failed"
    assert [m.step for m in JobStore().metrics("repeats", "attempt")] == [0, 1, 2, 3, 4]
    job = wait_for(resume("repeats").name, poll=0.2, timeout=60)
    assert job.status == "Completed", job.failure_reason
    rows = JobStore().metrics("repeats", "attempt")
    assert [m.step for m in rows] == list(range(8))
    # The repeated steps hold the values of the run that continued.
    assert [m.value for m in rows] == [1, 1, 1, 2, 2, 2, 2, 2]


def test_stop_while_writing_output_finishes_completed(capsys):
    import signal

    submit("test", "finishing", "jobfuncs:finalize", {})
    job_dir = JobStore().get("finishing").job_dir
    (job_dir / "go").write_text("")
    _wait_until(lambda: (job_dir / "writing").exists())
    job = JobStore().request_stop("finishing")
    assert job.status == "InProgress" and job.secondary_status == "Uploading"
    from springboard.cli import main

    assert main(["jobs", "stop", "finishing", "--no-wait"]) == 0
    assert "a stop is no longer taken, it will end Completed" in capsys.readouterr().out
    os.killpg(job.pid, signal.SIGTERM)  # ignored while the output is written
    (job_dir / "release").write_text("")
    job = stop("finishing")
    assert job.status == "Completed", job.failure_reason
    assert sorted(p.name for p in Path(job.output_dir).iterdir()) == ["part-1", "part-2"]


def test_stop_before_writing_output_stops_without_output():
    submit("test", "stops-early", "jobfuncs:finalize", {})
    _wait_until(lambda: JobStore().get("stops-early").secondary_status == "Training")
    assert JobStore().request_stop("stops-early").status == "Stopping"
    job = wait_for("stops-early", poll=0.1, timeout=60)
    assert job.status == "Stopped"
    assert not Path(job.output_dir).exists()


def test_launch_failure_fails_the_job(monkeypatch):
    from springboard.errors import SpringboardError
    from springboard.jobs import runner

    monkeypatch.setattr(runner.sys, "executable", "/nonexistent/python")
    with pytest.raises(SpringboardError, match="could not start"):
        submit("test", "no-start", "jobfuncs:count", {"n": 1})
    job = refresh("no-start")
    assert job.status == "Failed" and "could not start the job's process" in job.failure_reason


def test_stop_never_signals_a_reused_pid():
    """The job's worker is gone and its PID now belongs to another process: the job is seen
    dead and that process is never signalled."""
    import subprocess

    from springboard.jobs.runner import process_start

    other = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        store = JobStore()
        store.create("stale", "test", "jobfuncs:count", {"n": 1})
        # Recorded start time of the (dead) worker: not the start time of the process now at that PID.
        real = process_start(other.pid)
        assert real is not None
        store.update("stale", pid=other.pid, pid_start=str(int(real) - 1))
        job = stop("stale", grace=0.5)
        assert job.status == "Failed" and "exited unexpectedly" in job.failure_reason
        assert other.poll() is None  # not killed
        # The same PID with its own start time is the worker, alive.
        store.create("live", "test", "jobfuncs:count", {"n": 1})
        store.update("live", pid=other.pid, pid_start=real)
        assert refresh("live").status == "InProgress"
    finally:
        other.kill()
        other.wait()


def test_job_whose_worker_never_started_is_failed_then_resumable():
    """The submitter died between recording the job and starting its worker."""
    import sqlite3

    from springboard.jobs.runner import LAUNCH_GRACE_S

    store = JobStore()
    store.create("orphan", "test", "jobfuncs:count", {"n": 2})
    assert refresh("orphan").status == "InProgress"  # just recorded: its launch may be under way
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE jobs SET updated = updated - ? WHERE name = 'orphan'", (LAUNCH_GRACE_S + 1,))
    job = refresh("orphan")
    assert job.status == "Failed" and "never started" in job.failure_reason
    assert wait_for(resume("orphan").name, poll=0.2, timeout=60).status == "Completed"
