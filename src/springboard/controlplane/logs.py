"""CloudWatch Logs (`Logs_20140328.*`, JSON 1.1 on the same `POST /`), read-only, over the job
logs: what the `sagemaker` SDK reads when it waits for a job with logs (the default of
`Estimator.fit()` and `Transformer.wait()`), so unchanged code prints the job's log as it does
against SageMaker.

SageMaker's layout: log group `/aws/sagemaker/TrainingJobs` (`TransformJobs`, `AutoMLJobs`),
one stream per instance named `<job>/algo-1-<epoch seconds>`. A Springboard job has one log file,
so one stream. An event is one line; its timestamp is the line's own logging time
(`YYYY-mm-dd HH:MM:SS,mmm`, local time, as jobs.runner writes it) or the previous line's
(tracebacks, tool output), so a line keeps its timestamp on every read, as the SDK's
(timestamp, skip) positions need."""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path
from typing import Any

from starlette.responses import Response

from springboard import jobs
from springboard.controlplane import protocol
from springboard.controlplane.registry import CONTENT_TYPE, SERVICES
from springboard.controlplane.protocol import AwsError
from springboard.errors import NotFoundError

log = logging.getLogger("springboard.controlplane")

GROUPS = {
    "/aws/sagemaker/TrainingJobs": "training",
    "/aws/sagemaker/TransformJobs": "transform",
    "/aws/sagemaker/AutoMLJobs": "automl",
}
PAGE = 1000  # events per GetLogEvents answer (CloudWatch's own cap is 10,000 / 1 MB)
_STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}),(\d{3}) ")
_TOKEN = re.compile(r"^f/(\d+)$")


class LogsError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def handle(name: str, body: bytes) -> Response:
    """Parsed and validated as the SageMaker operations are (protocol.parse_body, then botocore's
    `logs` model: member types, ranges and patterns), so a bad body is a 400, never a 500."""
    try:
        handler = OPERATIONS.get(name)
        if handler is None:
            raise LogsError("UnknownOperationException",
                            f"Springboard serves CloudWatch Logs {', '.join(sorted(OPERATIONS))} only (got {name})")
        params = protocol.parse_body(body)
        operation = protocol.operation(name, "logs")
        assert operation is not None  # every handler is named after an operation of the model
        protocol.validate(operation, params)
        return Response(json.dumps(handler(params)), media_type=CONTENT_TYPE)
    except (LogsError, AwsError) as exc:
        return _error(exc.code, exc.message, getattr(exc, "status", 400))
    except Exception as exc:  # noqa: BLE001 - answered in the AWS shape, never a plain-text 500
        log.exception("Logs_20140328.%s failed", name)
        return _error("ServiceUnavailableException", f"{type(exc).__name__}: {exc}", 500)


def _error(code: str, message: str, status: int) -> Response:
    return Response(json.dumps({"__type": code, "message": message}), status_code=status, media_type=CONTENT_TYPE)


def _required(params: dict[str, Any], key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not value:
        raise LogsError("InvalidParameterException", f"{key} is required (a non-empty string)")
    return value


def _job(group: str, job_name: str) -> jobs.Job | None:
    kind = GROUPS.get(group)
    if kind is None:
        raise LogsError("ResourceNotFoundException",
                        f"The specified log group does not exist: {group} (Springboard serves {', '.join(GROUPS)})")
    try:
        job = jobs.JobStore().get(job_name)
    except (NotFoundError, ValueError):
        return None
    return job if job.kind == kind else None


def _stream_name(job: jobs.Job) -> str:
    return f"{job.name}/algo-1-{int(job.creation_time)}"


def _events(job: jobs.Job) -> list[dict[str, Any]]:
    path: Path = job.log_path
    if not path.exists():
        return []
    stamp = int((job.start_time or job.creation_time) * 1000)
    ingested = int(path.stat().st_mtime * 1000)
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = _STAMP.match(line)
        if match:
            parsed = time.mktime(time.strptime(match[1], "%Y-%m-%d %H:%M:%S"))
            stamp = max(stamp, int(parsed * 1000) + int(match[2]))
        out.append({"timestamp": stamp, "message": line, "ingestionTime": max(ingested, stamp)})
    return out


def describe_log_streams(params: dict[str, Any]) -> dict[str, Any]:
    group = _required(params, "logGroupName")
    prefix = params.get("logStreamNamePrefix") or ""
    job_name = prefix.split("/", 1)[0]
    if not job_name:
        raise LogsError("InvalidParameterException",
                        "logStreamNamePrefix must start with a job name (streams are '<job>/algo-1-<time>')")
    job = _job(group, job_name)
    if job is None or not job.log_path.exists():
        return {"logStreams": []}
    name = _stream_name(job)
    if not name.startswith(prefix):
        return {"logStreams": []}
    events = _events(job)
    first = events[0]["timestamp"] if events else int(job.creation_time * 1000)
    last = events[-1]["timestamp"] if events else first
    return {"logStreams": [{
        "logStreamName": name,
        "creationTime": int(job.creation_time * 1000),
        "firstEventTimestamp": first,
        "lastEventTimestamp": last,
        "lastIngestionTime": int(job.log_path.stat().st_mtime * 1000),
        "arn": f"arn:aws:logs:local:000000000000:log-group:{group}:log-stream:{name}",
    }]}


def get_log_events(params: dict[str, Any]) -> dict[str, Any]:
    group = _required(params, "logGroupName")
    stream = _required(params, "logStreamName")
    job = _job(group, stream.split("/", 1)[0])
    if job is None or stream != _stream_name(job):
        raise LogsError("ResourceNotFoundException", f"The specified log stream does not exist: {stream}")
    if params.get("startFromHead") is False and not params.get("nextToken"):
        raise LogsError("InvalidParameterException",
                        "Springboard reads job logs from the head: pass startFromHead=true")
    events = _events(job)
    start, end = params.get("startTime"), params.get("endTime")
    token = params.get("nextToken")
    if token:
        match = _TOKEN.match(str(token))
        if match is None:
            raise LogsError("InvalidParameterException", f"nextToken {token!r} was not issued by this server")
        index = int(match[1])
    else:
        index = 0
        if start is not None:
            while index < len(events) and events[index]["timestamp"] < int(start):
                index += 1
    limit = params.get("limit") or PAGE
    if not isinstance(limit, int) or limit < 1:
        raise LogsError("InvalidParameterException", "limit must be a positive integer")
    page = []
    for event in events[index : index + min(limit, PAGE)]:
        if end is not None and event["timestamp"] >= int(end):
            break
        page.append(event)
    following = index + len(page)
    return {"events": page, "nextForwardToken": f"f/{following}", "nextBackwardToken": f"b/{index}"}


OPERATIONS = {"DescribeLogStreams": describe_log_streams, "GetLogEvents": get_log_events}
SERVICES["Logs_20140328"] = handle
