"""EMR Serverless: the same crawl, submitted as a Spark job run to an EMR Serverless
application with the entry point `spark-submit` already uses (`spark_main.py`).

`springboard crawl run ... --runner emr-serverless --application-id ID --execution-role ARN
--out s3://bucket/out/` runs as a job of kind `crawl`. Its worker packages the run beside the
output (`s3://bucket/out.emr/<job>/`: `spark_main.py`, `springboard.zip` with our package, the
user's job module and `--py-files`; a local `--venv-archive`, `--records` or `--input-list` is
uploaded too), calls StartJobRun, then follows the run with GetJobRun: its state becomes the
job's secondary status, its Spark driver's stdout/stderr land in the job's log, and a stop
request (`springboard jobs stop`) becomes CancelJobRun. The AWS endpoint, region and
credentials are the standard AWS settings (`AWS_ENDPOINT_URL_EMR_SERVERLESS`,
`AWS_DEFAULT_REGION`, ...)."""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
import logging
import sys
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from springboard import storage
from springboard.crawl.config import CrawlRunConfig, config_to_args, load_job_class
from springboard.errors import JobStopped, NotFoundError, SpringboardError, ValidationError

log = logging.getLogger("springboard.crawl")

TERMINAL = ("SUCCESS", "FAILED", "CANCELLED")


def client():
    try:
        import boto3
    except ImportError:
        raise ValidationError("--runner emr-serverless needs boto3: pip install "
                              "'springboard[spark]'") from None
    from botocore.exceptions import NoRegionError

    try:
        return boto3.client("emr-serverless")
    except NoRegionError:
        raise ValidationError("EMR Serverless: no AWS region; set AWS_DEFAULT_REGION") from None


def _aws_error(exc: Exception, what: str) -> SpringboardError:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        msg = exc.response.get("Error", {}).get("Message", str(exc))
        cls = NotFoundError if code == "ResourceNotFoundException" else ValidationError
        return cls(f"EMR Serverless {what}: {code}: {msg}")
    return SpringboardError(f"EMR Serverless {what}: {type(exc).__name__}: {exc}")


def preflight(config: CrawlRunConfig) -> None:
    """What can be checked before a job is created: inputs EMR can reach, the job class, and
    that the application exists and runs Spark."""
    local = [i for i in config.inputs if "://" not in i]
    if local:
        raise ValidationError(f"--runner emr-serverless reads its inputs from S3 or HTTPS: "
                              f"{local[0]} is a local path (upload it, e.g. with aws s3 cp)")
    load_job_class(config.job)
    for path in config.py_files:
        if not Path(path).exists():
            raise NotFoundError(f"--py-files: {path}: no such file or directory")
    try:
        app = client().get_application(applicationId=config.application_id)["application"]
    except Exception as exc:  # noqa: BLE001 - reported as ours
        raise _aws_error(exc, f"application {config.application_id}") from None
    if app.get("type", "").upper() != "SPARK":
        raise ValidationError(f"EMR Serverless application {config.application_id} is of type "
                              f"{app.get('type')}, not Spark")


@dataclass
class Submission:
    staging: str
    entry_point: str
    arguments: list[str]
    spark_submit_parameters: str
    log_uri: str


def staging_location(output: str, job_name: str) -> str:
    # beside the output, not in it: Spark's overwrite of the output would delete it
    return f"{output.rstrip('/')}.emr/{job_name}"


def _add_path(zf: zipfile.ZipFile, path: Path, arcbase: str) -> None:
    if path.is_dir():
        for f in sorted(path.rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts and f.suffix != ".pyc":
                zf.write(f, f"{arcbase}/{f.relative_to(path).as_posix()}")
    else:
        zf.write(path, arcbase)


def _job_module(job: str | None) -> tuple[str | None, Path | None, str]:
    """(the --job value the cluster uses, the local file or package to ship, its name in the
    zip). A module importable from site-packages is expected in the venv archive/image."""
    if not job:
        return None, None, ""
    target, _, cls = job.rpartition(":")
    if target.endswith(".py"):
        path = Path(target)
        return f"{path.stem}:{cls}", path, f"{path.stem}.py"
    top = target.split(".")[0]
    spec = importlib.util.find_spec(top)
    if spec is None:
        raise ValidationError(f"--job {job}: module {top} not found")
    if spec.submodule_search_locations:
        pkg = Path(next(iter(spec.submodule_search_locations)))
        ship = None if "-packages" in str(pkg) else pkg
        return job, ship, top
    origin = Path(spec.origin or "")
    ship = None if "-packages" in str(origin) else origin
    return job, ship, f"{top}.py"


def local_imports(script: Path) -> dict[str, Path]:
    """The modules a job script imports from its own directory tree (its helpers), by
    dotted name: they travel with it. Installed libraries come from the venv archive/image."""
    from modulefinder import ModuleFinder

    root = script.resolve().parent
    # searching only the script's tree: everything else is the venv's or the standard library's
    finder = ModuleFinder(path=[str(root)])
    try:
        finder.run_script(str(script))
    except SyntaxError as exc:
        raise ValidationError(f"--job {script}: {exc}") from None
    found = {}
    for name, module in finder.modules.items():
        file = Path(module.__file__).resolve() if module.__file__ else None
        if name != "__main__" and file is not None and root in file.parents:
            found[name] = file
    return found


def package(config: CrawlRunConfig, job_name: str) -> Submission:
    """Uploads what the run needs next to the output and returns the StartJobRun pieces."""
    import springboard

    staging = staging_location(config.output, job_name)
    remote_job, ship, arcname = _job_module(config.job)
    with tempfile.TemporaryDirectory() as tmp:
        zpath = Path(tmp) / "springboard.zip"
        with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
            _add_path(zf, Path(springboard.__file__).parent, "springboard")
            if ship is not None:
                _add_path(zf, ship, arcname)
                if ship.suffix == ".py":
                    for name, file in local_imports(ship).items():
                        arc = name.replace(".", "/") + ("/__init__.py" if file.name == "__init__.py"
                                                        else ".py")
                        if arc not in zf.namelist():
                            zf.write(file, arc)
            for extra in config.py_files:
                p = Path(extra)
                _add_path(zf, p, p.name)
        zip_uri = storage.publish_file(zpath, f"{staging}/springboard.zip")
    # found, not imported: the entry point runs the CLI, which submits through this module
    entry_file = importlib.util.find_spec("springboard.crawl.spark_main").origin
    entry = storage.publish_file(entry_file, f"{staging}/spark_main.py")
    updates: dict[str, Any] = {"job": remote_job}
    for key in ("records", "input_list"):
        value = getattr(config, key)
        if value and "://" not in value:
            updates[key] = storage.publish_file(value, f"{staging}/{Path(value).name}")
    remote = config.model_copy(update=updates)
    params = [f"--py-files {zip_uri}"]
    if config.venv_archive:
        archive = config.venv_archive
        if "://" not in archive:
            archive = storage.publish_file(archive, f"{staging}/{Path(archive).name}")
        python = "./environment/bin/python"
        params += [f"--conf spark.archives={archive}#environment",
                   f"--conf spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON={python}",
                   f"--conf spark.emr-serverless.driverEnv.PYSPARK_PYTHON={python}",
                   f"--conf spark.executorEnv.PYSPARK_PYTHON={python}"]
    return Submission(staging, entry, config_to_args(remote), " ".join(params), f"{staging}/logs/")


def start(config: CrawlRunConfig, job_name: str, token: str) -> tuple[str, Submission]:
    sub = package(config, job_name)
    try:
        run = client().start_job_run(
            applicationId=config.application_id,
            executionRoleArn=config.execution_role,
            name=job_name,
            clientToken=token,
            jobDriver={"sparkSubmit": {"entryPoint": sub.entry_point,
                                       "entryPointArguments": sub.arguments,
                                       "sparkSubmitParameters": sub.spark_submit_parameters}},
            configurationOverrides={"monitoringConfiguration": {
                "s3MonitoringConfiguration": {"logUri": sub.log_uri}}},
            tags={"springboard-job": job_name},
        )
    except Exception as exc:  # noqa: BLE001 - reported as ours
        raise _aws_error(exc, "StartJobRun") from None
    return run["jobRunId"], sub


def driver_logs(log_uri: str, application_id: str, run_id: str) -> list[tuple[str, str]]:
    """The Spark driver's stdout and stderr, where EMR Serverless writes them under the log
    URI (`applications/<app>/jobs/<run>/SPARK_DRIVER/std{out,err}.gz`)."""
    out = []
    base = f"{log_uri.rstrip('/')}/applications/{application_id}/jobs/{run_id}/SPARK_DRIVER"
    for name in ("stdout", "stderr"):
        uri = f"{base}/{name}.gz"
        if storage.exists(uri):
            out.append((name, gzip.GzipFile(fileobj=io.BytesIO(storage.read_bytes(uri)))
                        .read().decode("utf-8", "replace")))
    return out


def run_emr_job(ctx, config: CrawlRunConfig) -> None:
    """The body of a crawl job on EMR Serverless: submit (or re-attach after a resume), follow,
    cancel on stop, copy the driver's logs, record the counters."""
    emr = client()
    state = dict(ctx.config.get("emr") or {})
    run_id = state.get("job_run_id")
    if run_id:
        try:
            prior = emr.get_job_run(applicationId=config.application_id, jobRunId=run_id)["jobRun"]
        except Exception as exc:  # noqa: BLE001
            raise _aws_error(exc, f"GetJobRun {run_id}") from None
        if prior["state"] in TERMINAL and prior["state"] != "SUCCESS":
            run_id = None  # a resumed job starts a new run
        else:
            ctx.log.info("re-attached to EMR Serverless job run %s (%s)", run_id, prior["state"])
    if not run_id:
        ctx.set_secondary_status("Packaging", staging_location(config.output, ctx.name))
        run_id, sub = start(config, ctx.name, f"{ctx.name}-{ctx.attempt}")
        state = {"application_id": config.application_id, "job_run_id": run_id,
                 **{k: v for k, v in asdict(sub).items() if k != "arguments"},
                 "arguments": sub.arguments}
        ctx.update_config(emr=state)
        ctx.log.info("started EMR Serverless job run %s on application %s", run_id,
                     config.application_id)
    last = None
    try:
        while True:
            if ctx.should_stop():
                raise JobStopped(f"job {ctx.name} stopped on request")
            run = emr.get_job_run(applicationId=config.application_id, jobRunId=run_id)["jobRun"]
            if run["state"] != last:
                last = run["state"]
                ctx.set_secondary_status(f"EMR {last}", run.get("stateDetails", ""))
            if last in TERMINAL:
                break
            time.sleep(config.poll_seconds)
    except JobStopped:
        _cancel(emr, ctx, config, run_id)
        _copy_logs(state, config, run_id)
        raise
    _copy_logs(state, config, run_id)
    if last != "SUCCESS":
        raise SpringboardError(f"EMR Serverless job run {run_id} ended {last}"
                               + (f": {run['stateDetails']}" if run.get("stateDetails") else ""))
    counters_uri = storage.join(config.output, "_counters.json")
    if storage.exists(counters_uri):
        counters = json.loads(storage.read_text(counters_uri))
        ctx.log_metrics(step=int(counters.get("files_done", 0)),
                        **{k: float(v) for k, v in counters.items()})


def _cancel(emr, ctx, config: CrawlRunConfig, run_id: str, timeout: float = 120) -> None:
    ctx.log.info("cancelling EMR Serverless job run %s", run_id)
    try:
        emr.cancel_job_run(applicationId=config.application_id, jobRunId=run_id)
    except Exception as exc:  # noqa: BLE001
        raise _aws_error(exc, f"CancelJobRun {run_id}") from None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = emr.get_job_run(applicationId=config.application_id, jobRunId=run_id)["jobRun"]["state"]
        if s in TERMINAL:
            ctx.log.info("EMR Serverless job run %s: %s", run_id, s)
            return
        time.sleep(min(config.poll_seconds, 2))


def _copy_logs(state: dict, config: CrawlRunConfig, run_id: str) -> None:
    """The driver's output into the job's log (the worker's stderr is the log file)."""
    for name, text in driver_logs(state.get("log_uri", ""), config.application_id, run_id):
        sys.stderr.write(f"----- EMR Serverless Spark driver {name} ({run_id}) -----\n{text}")
        if not text.endswith("\n"):
            sys.stderr.write("\n")
    sys.stderr.flush()
