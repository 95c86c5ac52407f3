"""A killed crawl run resumes: kill -9 half way, no worker outlives it, export refuses the
half-written output, and the rerun does only the missing files: every record exactly once."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import pytest

from springboard.crawl.dedup import ExactDedup
from springboard.crawl.extract import HtmlToText
from springboard.crawl.job import CrawlJob, Task
from springboard.crawl.runners import local
from springboard.crawl.runners.local import run_local
from springboard.crawl.synth import docs_pages, write_warc
from springboard.errors import ConflictError

HERE = Path(__file__).parent


def job():
    return CrawlJob(steps=[HtmlToText(), ExactDedup()])


@pytest.fixture
def six_warcs(tmp_path):
    pages = list(docs_pages(90, seed=7))
    return [write_warc(tmp_path / "in" / f"w{i}.warc.gz", pages[i * 15:(i + 1) * 15])
            for i in range(6)], [p.url for p in pages]


def _cli(*args):
    return [sys.executable, "-c", "import sys; from springboard.cli import main; sys.exit(main())",
            *args]


def test_kill_9_then_resume_every_record_once(six_warcs, tmp_path):
    warcs, urls = six_warcs
    out = tmp_path / "out"
    args = ["crawl", "run", *map(str, warcs), "--job", f"{HERE / 'jobs_for_tests.py'}:SlowJob",
            "--extract", "none", "--out", str(out), "--processes", "2"]
    proc = subprocess.Popen(_cli(*args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    markers = out / "_tasks"
    deadline = time.monotonic() + 120
    while len(list(markers.glob("*.json")) if markers.exists() else []) < 2:
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    workers = psutil.Process(proc.pid).children(recursive=True)
    assert workers
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, "pool workers outlived the killed run"
    done = {p.stem for p in markers.glob("*.json")}
    assert 2 <= len(done) < 6 and not (out / "_SUCCESS").exists()
    kept = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet")
            if p.stem.split("-")[1] in done}

    refused = subprocess.run(_cli("crawl", "export", str(out), "--out-dir", str(tmp_path / "t")),
                             capture_output=True, text=True)
    assert refused.returncode != 0 and "incomplete crawl output" in refused.stderr

    rerun = subprocess.run(_cli(*args), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    got = Counter(pq.read_table(out).column("url").to_pylist())
    assert got == Counter(urls)  # every record exactly once
    # the files finished before the kill were not redone
    assert {n: (out / n).stat().st_mtime_ns for n in kept} == kept
    assert (out / "_SUCCESS").exists()

    # a finished output is not silently resumed or overwritten
    again = subprocess.run(_cli(*args), capture_output=True, text=True, timeout=60)
    assert again.returncode != 0 and "complete output of an earlier run" in again.stderr


def test_resume_with_global_steps_and_partitions(six_warcs, tmp_path, monkeypatch):
    warcs, urls = six_warcs
    tasks = [Task(i, str(w)) for i, w in enumerate(warcs)]
    out = str(tmp_path / "out")
    real = local._run_task
    calls = []

    def dies_on_fourth(job, task, output, staged):
        calls.append(task.index)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(job, task, output, staged)

    monkeypatch.setattr(local, "_run_task", dies_on_fourth)
    with pytest.raises(KeyboardInterrupt):
        run_local(job(), tasks, out, processes=1, num_output_partitions=2)
    monkeypatch.setattr(local, "_run_task", real)
    with pytest.raises(ConflictError, match="different configuration"):
        run_local(job(), tasks, out, processes=1)
    redone = []
    monkeypatch.setattr(local, "_run_task", lambda job, task, *a: redone.append(task.index)
                        or real(job, task, *a))
    counters = run_local(job(), tasks, out, processes=1,
                         num_output_partitions=2)
    assert redone == [3, 4, 5] and counters["files_done"] == 6
    reference = run_local(job(), tasks, str(tmp_path / "ref"), processes=1, num_output_partitions=2)
    assert pq.read_table(out).to_pylist() == pq.read_table(tmp_path / "ref").to_pylist()
    assert counters == reference and 0 < counters["rows_written"] <= 90
    assert len(list(Path(out).glob("part-*"))) == 2


def test_global_phase_streams_with_one_writer(six_warcs, tmp_path, monkeypatch):
    """Dedup and repartitioning read and write in batches, one Parquet writer open at once,
    however many input files there are."""
    warcs, urls = six_warcs
    monkeypatch.setattr(local, "BATCH_ROWS", 7)
    monkeypatch.setattr(local._PartWriter, "peak_open_writers", 0)
    monkeypatch.setattr(local._PartWriter, "peak_batch_rows", 0)
    tasks = [Task(i, str(w)) for i, w in enumerate(warcs)]
    for n in (None, 4):
        out = tmp_path / f"out{n}"
        run_local(job(), tasks, str(out), processes=1,
                  num_output_partitions=n)
        got = pq.read_table(out).column("url").to_pylist()
        assert len(got) == len(set(got)) > 80 and set(got) <= set(urls)
        assert len(list(out.glob("part-*"))) == (n or 6)
    assert local._PartWriter.peak_open_writers == 1
    assert local._PartWriter.peak_batch_rows == 7


def test_crawl_job_killed_then_jobs_resume(six_warcs, tmp_path):
    """The same through the job system: kill -9 the job's worker, `jobs resume` finishes it."""
    from springboard.cli import main
    from springboard.jobs import JobStore, refresh, resume, wait_for

    warcs, urls = six_warcs
    out = tmp_path / "out"
    assert main(["crawl", "run", *map(str, warcs), "--job",
                 f"{HERE / 'jobs_for_tests.py'}:SlowJob", "--extract", "none", "--out", str(out),
                 "--processes", "2", "--overwrite", "--name", "crawl-killed"]) == 0
    deadline = time.monotonic() + 120
    while len(list((out / "_tasks").glob("*.json")) if (out / "_tasks").exists() else []) < 2:
        assert refresh("crawl-killed").status == "InProgress"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    pid = JobStore().get("crawl-killed").pid
    workers = psutil.Process(pid).children(recursive=True)
    os.kill(pid, signal.SIGKILL)
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive
    assert refresh("crawl-killed").status == "Failed"
    resume("crawl-killed")
    job = wait_for("crawl-killed", timeout=300)
    assert job.status == "Completed", job.failure_reason
    assert Counter(pq.read_table(out).column("url").to_pylist()) == Counter(urls)
