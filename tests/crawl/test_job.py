import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from springboard.crawl.config import CrawlRunConfig, build_job, build_tasks, execute
from springboard.crawl.dedup import ExactDedup
from springboard.crawl.export import export
from springboard.crawl.job import Task
from springboard.crawl.runners.local import run_local
from springboard.errors import ConflictError

from .jobs_for_tests import ReviewJob

HERE = Path(__file__).parent


def _rows(path):
    t = pq.read_table(path)
    return sorted(map(tuple, (r.values() for r in t.to_pylist())))


def test_custom_process_record_job_local(review_warc, tmp_path):
    job = ReviewJob(steps=[ExactDedup()])
    counters = run_local(job, [Task(0, str(review_warc)), Task(1, str(review_warc))],
                         str(tmp_path / "out"), processes=2)
    rows = _rows(tmp_path / "out")
    # films 0..5 have 1,2,3,1,2,3 reviews; film 3's page fails; file b repeats file a
    assert len(rows) == 1 + 2 + 3 + 2 + 3
    assert counters["errors.process_record"] == 2
    assert counters["exact_dedup.dropped.duplicate"] == 11
    assert counters["records_read"] == 14 and counters["files_done"] == 2
    assert json.loads((tmp_path / "out" / "_counters.json").read_text())["rows_written"] == 11
    assert (tmp_path / "out" / "_SUCCESS").exists()
    assert not (tmp_path / "out" / "_stage").exists()


def test_unreadable_file_counted_and_job_goes_on(review_warc, tmp_path):
    bad = tmp_path / "bad.warc.gz"
    bad.write_bytes(b"\x1f\x8b\x08garbage")
    counters = run_local(ReviewJob(), [Task(0, str(bad)), Task(1, str(review_warc))],
                         str(tmp_path / "out"), processes=1)
    assert counters["errors.not_an_archive"] == 1
    assert len(_rows(tmp_path / "out")) == 11


def test_output_dir_must_be_empty(review_warc, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "x").write_text("x")
    with pytest.raises(ConflictError):
        run_local(ReviewJob(), [Task(0, str(review_warc))], str(out))


def test_default_pipeline_extract_filter_dedup_export(docs_warcs, tmp_path):
    config = CrawlRunConfig(inputs=[str(p) for p in docs_warcs], output=str(tmp_path / "out"),
                            quality=["gopher", "c4"], languages=["eng"],
                            dedup=["exact", "minhash"], processes=2, num_output_partitions=1)
    counters = execute(config)
    assert counters["records_read"] == 40 and counters["html_to_text.extracted"] == 40
    assert counters["minhash_dedup.dropped.duplicate"] >= 1
    assert any(k.startswith("gopher_quality_filter.dropped.") for k in counters)
    parts = sorted((tmp_path / "out").glob("part-*.parquet"))
    assert len(parts) == 1
    texts = pq.read_table(parts[0]).column("text").to_pylist()
    assert len(texts) == counters["rows_written"] > 5
    assert not any("lorem ipsum" in t.lower() or "Privacy policy" in t for t in texts)

    res = export(str(tmp_path / "out"), out_dir=tmp_path / "train", fmt="jsonl")
    lines = (tmp_path / "train" / "train.jsonl").read_text().splitlines()
    assert res.documents == len(lines) == len(texts)
    assert [json.loads(line)["text"] for line in lines] == texts
    res = export(str(tmp_path / "out"), out=tmp_path / "txt" / "corpus.txt", fmt="txt")
    txt = (tmp_path / "txt" / "corpus.txt").read_text().splitlines()
    assert txt == [" ".join(t.split()) for t in texts]
    with pytest.raises(ConflictError, match="only the exported file"):
        export(str(tmp_path / "out"), out=tmp_path / "train" / "other.txt", fmt="txt")


def test_records_list_input_fetches_byte_ranges(tmp_path, cc_sample):
    from springboard.crawl.index import query, write_result
    from springboard.crawl.index_build import build_index

    build_index([str(cc_sample)], tmp_path / "idx", detect_languages=False)
    t = query(str(tmp_path / "idx"), "SELECT * FROM ccindex WHERE url_host_tld IN ('ru', 'ch')")
    write_result(t, tmp_path / "recs.parquet", "records")
    config = CrawlRunConfig(records=str(tmp_path / "recs.parquet"), output=str(tmp_path / "out"))
    assert [len(task.refs) for task in build_tasks(config)] == [3]
    counters = execute(config)
    assert counters["records_read"] == 3
    urls = pq.read_table(tmp_path / "out").column("url").to_pylist()
    assert sorted(urls) == sorted(t.column("url").to_pylist())


def test_cli_run_and_export(review_warc, tmp_path, capsys):
    from springboard.cli import main

    rc = main(["crawl", "run", str(review_warc), "--css", "div.review", "--out",
               str(tmp_path / "out"), "--processes", "1", "--print-config"])
    assert rc == 0
    out = capsys.readouterr().out
    assert '"css": "div.review"' in out and '"rows_written": 12' in out
    assert main(["crawl", "export", str(tmp_path / "out"), "--format", "txt",
                 "--out-dir", str(tmp_path / "train")]) == 0
    assert len((tmp_path / "train" / "train.txt").read_text().splitlines()) == 12


def test_crawl_as_a_job_with_metrics(review_warc, tmp_path, monkeypatch):
    from springboard.cli import main
    from springboard.jobs import JobStore

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE.parent.parent),
                                                       os.environ.get("PYTHONPATH", "")]))
    # a script path: the name `tests` is taken in site-packages (smdebug_rulesconfig ships one)
    rc = main(["crawl", "run", str(review_warc), "--job",
               f"{HERE / 'jobs_for_tests.py'}:ReviewJob", "--out", str(tmp_path / "out"),
               "--name", "crawl-reviews", "--wait"])
    job = JobStore().get("crawl-reviews")
    assert rc == 0, job.failure_reason
    assert job.status == "Completed" and job.kind == "crawl"
    metrics = {m.name: m.value for m in JobStore().metrics("crawl-reviews")}
    assert metrics["rows_written"] == 11 and metrics["errors.process_record"] == 1
    assert len(_rows(tmp_path / "out")) == 11


def test_job_loaded_from_a_script_path(review_warc, tmp_path):
    config = CrawlRunConfig(inputs=[str(review_warc)], output=str(tmp_path / "o"),
                            job=f"{HERE / 'jobs_for_tests.py'}:ReviewJob")
    assert type(build_job(config)).__name__ == "ReviewJob"


def test_export_refuses_incomplete_output_and_matches_columns_like_spark(review_warc, tmp_path):
    from springboard.crawl.export import resolve_column
    from springboard.errors import DataError

    run_local(ReviewJob(), [Task(0, str(review_warc))], str(tmp_path / "out"))
    (tmp_path / "out" / "_SUCCESS").unlink()
    with pytest.raises(DataError, match="incomplete crawl output"):
        export(str(tmp_path / "out"), out_dir=tmp_path / "train")
    assert resolve_column(["url", "Text"], "text", "x") == "Text"
    assert resolve_column(["text", "Text"], "Text", "x") == "Text"
    with pytest.raises(DataError, match="ambiguous"):
        resolve_column(["text", "Text"], "TEXT", "x")


def test_failed_export_leaves_nothing_behind(tmp_path):
    from springboard.crawl.export import export
    from springboard.errors import SpringboardError

    out_dir = tmp_path / "new" / "channel"
    with pytest.raises(SpringboardError):
        export(str(tmp_path / "no-such-crawl-output"), out_dir=out_dir)
    assert not out_dir.exists()
