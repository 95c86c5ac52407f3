"""The local runner writes an `s3://` output to S3 (through springboard.storage), read back
here with boto3 from moto's S3 server on loopback."""

import io
import json
import os

import boto3
import pyarrow.parquet as pq

from springboard.crawl.dedup import ExactDedup
from springboard.crawl.export import export
from springboard.crawl.job import Task
from springboard.crawl.runners.local import run_local

from .jobs_for_tests import ReviewJob


def test_local_runner_writes_parquet_to_s3(review_warc, s3_bucket, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = f"{s3_bucket}/crawl/out"
    tasks = [Task(0, str(review_warc)), Task(1, str(review_warc))]
    counters = run_local(ReviewJob(steps=[ExactDedup()]), tasks, out, processes=2)
    assert counters["rows_written"] == 11
    assert not (tmp_path / "s3:").exists()

    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"])
    bucket = s3_bucket.removeprefix("s3://")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="crawl/out/")["Contents"])
    parts = [k for k in keys if k.rsplit("/", 1)[1].startswith("part-")]
    assert "crawl/out/_SUCCESS" in keys and "crawl/out/_counters.json" in keys
    assert not [k for k in keys if "/_stage/" in k or "/_tasks/" in k]
    rows = []
    for key in parts:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        rows += pq.read_table(io.BytesIO(body)).to_pylist()
    assert len(rows) == 11 and {r["n"] for r in rows} == {0, 1, 2}
    written = json.loads(s3.get_object(Bucket=bucket, Key="crawl/out/_counters.json")["Body"].read())
    assert written["rows_written"] == 11

    res = export(out, out_dir=tmp_path / "train", fmt="txt")
    assert res.documents == 11
