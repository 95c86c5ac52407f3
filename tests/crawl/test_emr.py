"""Crawl on EMR Serverless: submission, following and cancelling through the EMR Serverless
API, against moto's EMR Serverless and S3 server on loopback (boto3 on both sides). The entry
point it submits is `spark_main.py`, whose arguments are checked by parsing them as the cluster
will."""

import argparse
import gzip
import io
import time
import zipfile
from pathlib import Path

import boto3
import pytest

from springboard import storage
from springboard.crawl import cli as crawl_cli
from springboard.crawl import spark_main
from springboard.jobs import JobStore, refresh, stop, wait_for

HERE = Path(__file__).parent
ROLE = "arn:aws:iam::123456789012:role/EMRServerlessS3RuntimeRole"


@pytest.fixture
def emr(s3_bucket, moto_s3_server, monkeypatch, review_warc):
    monkeypatch.setenv("AWS_ENDPOINT_URL_EMR_SERVERLESS", moto_s3_server)
    client = boto3.client("emr-serverless")
    app = client.create_application(name="crawl", releaseLabel="emr-7.5.0", type="SPARK")
    storage.publish_file(review_warc, f"{s3_bucket}/in/reviews.warc.gz")
    return client, app["applicationId"], s3_bucket


def _submit(app_id, bucket, name, *extra):
    from springboard.cli import main

    return main(["crawl", "run", f"{bucket}/in/*.warc.gz", "--job",
                 f"{HERE / 'jobs_for_tests.py'}:ReviewJob", "--dedup", "exact",
                 "--runner", "emr-serverless", "--application-id", app_id,
                 "--execution-role", ROLE, "--out", f"{bucket}/out", "--name", name,
                 "--poll-seconds", "0.2", *extra])


def test_submits_spark_main_with_the_package(emr):
    client, app_id, bucket = emr
    assert _submit(app_id, bucket, "emr-crawl", "--wait") == 0
    job = JobStore().get("emr-crawl")
    assert job.kind == "crawl" and job.status == "Completed", job.failure_reason
    run_id = job.config["emr"]["job_run_id"]
    run = client.get_job_run(applicationId=app_id, jobRunId=run_id)["jobRun"]
    assert run["state"] == "SUCCESS" and run["executionRole"] == ROLE
    assert run["name"] == "emr-crawl"
    driver = run["jobDriver"]["sparkSubmit"]
    staging = f"{bucket}/out.emr/emr-crawl"
    assert driver["entryPoint"] == f"{staging}/spark_main.py"
    assert storage.read_bytes(driver["entryPoint"]) == Path(spark_main.__file__).read_bytes()
    assert driver["sparkSubmitParameters"] == f"--py-files {staging}/springboard.zip"
    assert (run["configurationOverrides"]["monitoringConfiguration"]["s3MonitoringConfiguration"]
            ["logUri"]) == f"{staging}/logs/"
    names = zipfile.ZipFile(io.BytesIO(storage.read_bytes(f"{staging}/springboard.zip"))).namelist()
    assert "springboard/crawl/spark_main.py" in names and "jobs_for_tests.py" in names
    assert not [n for n in names if "__pycache__" in n]

    # the arguments are what spark_main parses on the cluster into the same computation
    parser = argparse.ArgumentParser()
    crawl_cli.register(parser.add_subparsers(dest="command"))
    remote = crawl_cli.run_config(parser.parse_args(["crawl", "run", *driver["entryPointArguments"]]))
    assert remote.inputs == [f"{bucket}/in/*.warc.gz"] and remote.output == f"{bucket}/out"
    assert remote.job == "jobs_for_tests:ReviewJob" and remote.dedup == ["exact"]
    assert remote.runner == "local"  # spark_main sets spark itself


def test_follow_logs_stop_and_failure(emr, monkeypatch):
    import moto.emrserverless.models as emr_models

    client, app_id, bucket = emr
    monkeypatch.setattr(emr_models, "JOB_STATUS", "RUNNING")  # runs stay RUNNING until told

    def running(name):
        deadline = time.monotonic() + 60
        while refresh(name).secondary_status != "EMR RUNNING":
            assert refresh(name).status == "InProgress", refresh(name).failure_reason
            assert time.monotonic() < deadline
            time.sleep(0.1)
        return JobStore().get(name).config["emr"]

    def put_driver_log(state, text):
        key = (f"{state['log_uri']}applications/{app_id}/jobs/{state['job_run_id']}"
               "/SPARK_DRIVER/stdout.gz")
        storage.write_bytes(key, gzip.compress(text.encode()))

    # stop → CancelJobRun; the driver's output reaches the job's log
    assert _submit(app_id, bucket, "emr-stop") == 0
    state = running("emr-stop")
    put_driver_log(state, "crawl done (spark): rows_written=11\n")
    job = stop("emr-stop")
    assert job.status == "Stopped"
    run = client.get_job_run(applicationId=app_id, jobRunId=state["job_run_id"])["jobRun"]
    assert run["state"] == "CANCELLED"
    log = job.log_path.read_text()
    assert "cancelling EMR Serverless job run" in log and "rows_written=11" in log

    # a run that fails on the cluster fails the job with EMR's reason
    assert _submit(app_id, bucket, "emr-fail", "--overwrite") == 0
    state = running("emr-fail")
    backend = emr_models.emrserverless_backends["123456789012"]["us-east-1"]
    [failing] = [r for r in backend.job_runs[app_id] if r.id == state["job_run_id"]]
    failing.state, failing.state_details = "FAILED", "Job failed, ExitCode: 1"
    job = wait_for("emr-fail", timeout=60)
    assert job.status == "Failed" and "ended FAILED: Job failed, ExitCode: 1" in job.failure_reason


def test_preflight_errors(emr, tmp_path, capsys):
    from springboard.cli import main

    client, app_id, bucket = emr
    base = ["crawl", "run", f"{bucket}/in/x.warc.gz", "--runner", "emr-serverless"]
    cases = [
        ([*base, "--out", f"{bucket}/o", "--execution-role", ROLE], "needs --application-id"),
        ([*base, "--out", str(tmp_path / "o"), "--application-id", app_id, "--execution-role",
          ROLE], "--out must be an s3:// location"),
        ([*base, "--out", f"{bucket}/o", "--application-id", "00nosuchapp", "--execution-role",
          ROLE], "ResourceNotFoundException"),
        (["crawl", "run", str(tmp_path / "x.warc.gz"), "--runner", "emr-serverless",
          "--out", f"{bucket}/o", "--application-id", app_id, "--execution-role", ROLE],
         "is a local path"),
        (["crawl", "run", f"{bucket}/in/x.warc.gz", "--out", str(tmp_path / "o"),
          "--application-id", app_id], "only apply to --runner emr-serverless"),
    ]
    for argv, message in cases:
        assert main(argv) != 0
        last = capsys.readouterr().err.strip().splitlines()[-1]
        assert last.startswith("error: ") and message in last, (argv, last)
    assert JobStore().list() == []


def test_package_ships_the_jobs_local_imports(emr, tmp_path):
    from springboard.crawl.config import CrawlRunConfig
    from springboard.crawl.runners.emr import package

    client, app_id, bucket = emr
    (tmp_path / "helpers").mkdir()
    (tmp_path / "helpers" / "__init__.py").write_text("")
    (tmp_path / "helpers" / "text.py").write_text("def squash(s):\n    return ' '.join(s.split())\n")
    (tmp_path / "myjob.py").write_text(
        "from helpers.text import squash\nfrom springboard.crawl import CrawlJob\n"
        "import json\n\nclass MyJob(CrawlJob):\n    pass\n")
    (tmp_path / "extra.py").write_text("X = 1\n")
    config = CrawlRunConfig(inputs=[f"{bucket}/in/x.warc.gz"], output=f"{bucket}/o",
                            job=f"{tmp_path / 'myjob.py'}:MyJob", runner="emr-serverless",
                            application_id=app_id, execution_role=ROLE,
                            py_files=[str(tmp_path / "extra.py")])
    sub = package(config, "pkg-test")
    names = set(zipfile.ZipFile(io.BytesIO(storage.read_bytes(f"{bucket}/o.emr/pkg-test/springboard.zip"))).namelist())
    assert {"myjob.py", "helpers/__init__.py", "helpers/text.py", "extra.py"} <= names
    assert not [n for n in names if n.startswith("json")]  # the standard library stays home
    assert "--job" in sub.arguments and "myjob:MyJob" in sub.arguments
