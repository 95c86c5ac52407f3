"""The same job object through both runners gives the same rows (slow: starts Spark)."""

import pyarrow.parquet as pq
import pytest

from springboard.crawl.dedup import ExactDedup, MinhashDedup
from springboard.crawl.extract import HtmlToText
from springboard.crawl.filters import GopherQualityFilter
from springboard.crawl.job import CrawlJob, Task
from springboard.crawl.runners.local import run_local
from springboard.crawl.runners.spark import run_spark

from .jobs_for_tests import ReviewJob

pytestmark = pytest.mark.slow


def _sorted_rows(path):
    rows = pq.read_table(path).to_pylist()
    return sorted(rows, key=lambda r: tuple(str(v) for v in r.values()))


def test_custom_job_identical_local_and_spark(spark, review_warc, tmp_path):
    tasks = [Task(0, str(review_warc)), Task(1, str(review_warc))]
    local = run_local(ReviewJob(steps=[ExactDedup()]), tasks, str(tmp_path / "local"), processes=1)
    remote = run_spark(ReviewJob(steps=[ExactDedup()]), tasks, str(tmp_path / "spark"),
                       spark=spark, num_output_partitions=1)
    assert _sorted_rows(tmp_path / "local") == _sorted_rows(tmp_path / "spark")
    assert len(list((tmp_path / "spark").glob("part-*.parquet"))) == 1
    for key in ("records_read", "rows_kept", "errors.process_record", "rows_written",
                "exact_dedup.dropped.duplicate"):
        assert local[key] == remote[key], key


def test_default_pipeline_identical_with_minhash(spark, docs_warcs, cc_sample, tmp_path):
    tasks = [Task(i, str(p)) for i, p in enumerate([*docs_warcs, cc_sample])]

    def job():
        return CrawlJob(steps=[HtmlToText(), GopherQualityFilter(), ExactDedup(), MinhashDedup()])

    local = run_local(job(), tasks, str(tmp_path / "local"), processes=1)
    remote = run_spark(job(), tasks, str(tmp_path / "spark"), spark=spark)
    assert local["minhash_dedup.dropped.duplicate"] >= 1
    assert _sorted_rows(tmp_path / "local") == _sorted_rows(tmp_path / "spark")
    assert local["rows_written"] == remote["rows_written"]


def test_cc_pyspark_jobs_identical_local_and_spark(spark, cc_sample, tmp_path):
    """cc-pyspark's (key, value) jobs: reduceByKey on Spark, the same reduce locally."""
    import re

    from springboard.crawl.synth import docs_pages, write_wet
    from springboard.errors import DataError

    from .ccpyspark_jobs import AlwaysFails, ServerCountJob, WordCountJob

    docs = [(p.url, re.sub(r"<[^>]+>", " ", p.html)) for p in docs_pages(12, seed=4)]
    wets = [write_wet(tmp_path / "a.wet.gz", docs[:6]), write_wet(tmp_path / "b.wet.gz", docs[6:])]
    for job, inputs in ((WordCountJob, wets), (ServerCountJob, [cc_sample, cc_sample])):
        tasks = [Task(i, str(p)) for i, p in enumerate(inputs)]
        out = tmp_path / job.__name__
        local = run_local(job(), tasks, str(out / "local"), processes=1)
        remote = run_spark(job(), tasks, str(out / "spark"), spark=spark)
        assert _sorted_rows(out / "local") == _sorted_rows(out / "spark")
        assert local["rows_written"] == remote["rows_written"] > 3
    with pytest.raises(DataError, match="raised on every record"):
        run_spark(AlwaysFails(), [Task(0, str(cc_sample))], str(tmp_path / "fails"), spark=spark)


def test_spark_main_entry_point(spark, review_warc, tmp_path):
    """The script spark-submit and EMR Serverless run, with the session it finds active."""
    from pathlib import Path

    from springboard.crawl import spark_main

    import logging

    here = Path(__file__).parent
    handlers = list(logging.getLogger().handlers)  # spark_main configures logging for its run
    rc = spark_main.main([str(review_warc), str(review_warc), "--job",
                          f"{here / 'jobs_for_tests.py'}:ReviewJob", "--dedup", "exact",
                          "--out", str(tmp_path / "out"), "--num-output-partitions", "1"])
    for h in set(logging.getLogger().handlers) - set(handlers):
        logging.getLogger().removeHandler(h)
    assert rc == 0
    assert len(_sorted_rows(tmp_path / "out")) == 11
