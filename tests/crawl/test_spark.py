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
