"""cc-pyspark's way of writing a job runs as written: warcio's record API, (key, value)
output reduced by key, and a job whose every record raised fails."""

import json
import re
from collections import Counter

import pyarrow.parquet as pq
import pytest
from warcio.archiveiterator import ArchiveIterator

from springboard.crawl.job import Task
from springboard.crawl.runners.local import run_local
from springboard.crawl.synth import docs_pages, write_wet
from springboard.errors import DataError

from .ccpyspark_jobs import AlwaysFails, ServerCountJob, WarcioApiJob, WordCountJob

HERE = __import__("pathlib").Path(__file__).parent


@pytest.fixture(scope="module")
def wet_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("wet")
    docs = [(p.url, re.sub(r"<[^>]+>", " ", p.html)) for p in docs_pages(30, seed=4)]
    return [write_wet(d / "a.warc.wet.gz", docs[:12]), write_wet(d / "b.warc.wet.gz", docs[12:])], docs


def _table(out):
    return pq.read_table(out).to_pylist()


def test_word_count_reduces_by_key(wet_files, tmp_path):
    files, docs = wet_files
    counters = run_local(WordCountJob(), [Task(i, str(f)) for i, f in enumerate(files)],
                         str(tmp_path / "out"), processes=2)
    tf, df = Counter(), Counter()
    for _, text in docs:
        words = Counter(w.lower() for w in re.findall(r"\w+", text))
        tf.update(words)
        df.update(words.keys())
    rows = _table(tmp_path / "out")
    assert {r["key"]: (r["val"]["tf"], r["val"]["df"]) for r in rows} == \
        {w: (tf[w], df[w]) for w in tf}
    assert [r["key"] for r in rows] == sorted(tf)  # one row per key, in key order
    assert counters["records_processed"] == 30 and counters["rows_written"] == len(tf)
    assert (tmp_path / "out" / "_SUCCESS").exists()


def test_server_count_on_real_warc(cc_sample, tmp_path):
    counters = run_local(ServerCountJob(), [Task(0, str(cc_sample)), Task(1, str(cc_sample))],
                         str(tmp_path / "out"), processes=1, num_output_partitions=1)
    expected = Counter()
    with open(cc_sample, "rb") as f:
        for rec in ArchiveIterator(f):
            if rec.rec_type == "response":
                server = rec.http_headers.get_header("server")
                expected[server.strip() if server else ServerCountJob.fallback_server_name] += 2
    rows = _table(tmp_path / "out")
    assert {r["key"]: r["val"] for r in rows} == dict(expected)
    assert sum(r["val"] for r in rows) == 32 and counters["keys"] == len(expected) > 3


def test_warcio_api_tuples_job(cc_sample, tmp_path):
    run_local(WarcioApiJob(), [Task(0, str(cc_sample))], str(tmp_path / "out"))
    rows = {r["key"]: r["val"] for r in _table(tmp_path / "out")}
    assert rows["01spb.ru"] > 1000 and len(rows) >= 10


def test_every_record_raising_fails_the_run(cc_sample, tmp_path):
    with pytest.raises(DataError, match=r"raised on every record .*AttributeError: 16.*"
                                        r"no_such_attribute"):
        run_local(AlwaysFails(), [Task(0, str(cc_sample))], str(tmp_path / "out"))
    assert not (tmp_path / "out" / "_SUCCESS").exists()


def test_cli_job_every_record_raising_exits_nonzero(cc_sample, tmp_path, capsys):
    from springboard.cli import main

    rc = main(["crawl", "run", str(cc_sample), "--job", f"{HERE / 'ccpyspark_jobs.py'}:AlwaysFails",
               "--out", str(tmp_path / "out")])
    assert rc != 0
    assert "raised on every record" in capsys.readouterr().err


def test_cli_word_count_and_export_column_case_insensitive(wet_files, tmp_path, capsys):
    from springboard.cli import main

    files, _ = wet_files
    assert main(["crawl", "run", *map(str, files), "--job",
                 f"{HERE / 'ccpyspark_jobs.py'}:WordCountJob", "--out", str(tmp_path / "wc"),
                 "--processes", "1"]) == 0
    counters = json.loads((tmp_path / "wc" / "_counters.json").read_text())
    assert counters["rows_written"] > 100
    # Spark resolves column names case-insensitively; so does export
    assert main(["crawl", "export", str(tmp_path / "wc"), "--column", "KEY", "--format", "txt",
                 "--out-dir", str(tmp_path / "train")]) == 0
    words = (tmp_path / "train" / "train.txt").read_text().split()
    assert len(words) == counters["rows_written"] and "the" in words


def test_job_whose_every_record_raised_ends_failed(cc_sample, tmp_path):
    from springboard.cli import main
    from springboard.jobs import JobStore

    rc = main(["crawl", "run", str(cc_sample), "--job", f"{HERE / 'ccpyspark_jobs.py'}:AlwaysFails",
               "--out", str(tmp_path / "out"), "--name", "all-fail", "--wait"])
    job = JobStore().get("all-fail")
    assert rc != 0 and job.status == "Failed"
    assert "raised on every record" in job.failure_reason and "AttributeError" in job.failure_reason
