"""CloudWatch metrics (`GraniteServiceVersion20100801.*` on the same `POST /`: the JSON 1.0
protocol botocore uses for CloudWatch), read-only, over the training jobs: what
`sagemaker.analytics.TrainingJobAnalytics(...).dataframe()` reads (GetMetricStatistics), and
ListMetrics.

SageMaker's layout: namespace `/aws/sagemaker/TrainingJobs`, one dimension `TrainingJobName`, one
metric per `AlgorithmSpecification.MetricDefinitions` entry, whose regex SageMaker runs over each
log line; a match is a data point at the line's time. The same here, over the job log as
CloudWatch Logs serves it (logs.py: one timestamp per line). A job without definitions (made by
`springboard train` or the Python SDK) has the metrics it recorded itself (`train_loss`, ...).
Requests are validated against botocore's own `cloudwatch` model; errors carry the query-protocol
codes CloudWatch answers with (`InvalidParameterValue`, ...), as botocore expects."""

from __future__ import annotations

import functools
import json
import math
import re
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel
from starlette.responses import Response

from springboard import jobs
from springboard.controlplane import protocol
from springboard.controlplane.registry import SERVICES, Context
from springboard.controlplane.logs import _events as log_events
from springboard.errors import NotFoundError

TARGET = "GraniteServiceVersion20100801"
CONTENT_TYPE = "application/x-amz-json-1.0"
NAMESPACE = "/aws/sagemaker/TrainingJobs"
DIMENSION = "TrainingJobName"
MAX_DATAPOINTS = 1440  # CloudWatch's cap per GetMetricStatistics answer
PAGE = 500  # metrics per ListMetrics answer, as CloudWatch
RECENT = 3 * 3600  # RecentlyActive=PT3H
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
_TOKEN = re.compile(r"^m/(\d+)$")


class MetricsError(Exception):
    """`code` is the model's error shape; `query_code` what botocore reports as the error code."""

    def __init__(self, code: str, query_code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.query_code, self.message = code, query_code, message


def _invalid(message: str) -> MetricsError:
    return MetricsError("InvalidParameterValueException", "InvalidParameterValue", message)


def _combination(message: str) -> MetricsError:
    return MetricsError("InvalidParameterCombinationException", "InvalidParameterCombination", message)


@functools.lru_cache(maxsize=1)
def service() -> ServiceModel:
    return ServiceModel(Loader().load_service_model("cloudwatch", "service-2"), "cloudwatch")


def handle(name: str, body: bytes) -> Response:
    try:
        handler = OPERATIONS.get(name)
        if handler is None:
            raise MetricsError("UnknownOperationException", "InvalidAction",
                               f"Springboard serves CloudWatch {', '.join(sorted(OPERATIONS))} only (got {name})")
        op: OperationModel = service().operation_model(name)
        try:
            params = json.loads(body or b"{}")
        except ValueError as exc:
            raise MetricsError("SerializationException", "SerializationException",
                               f"the request body is not JSON: {exc}") from None
        try:
            protocol.validate(op, params)
        except protocol.AwsError as exc:
            raise _invalid(exc.message) from None
        result = handler(params)
        return Response(json.dumps(protocol.serialize(op.output_shape, result)), media_type=CONTENT_TYPE)
    except MetricsError as exc:
        return Response(json.dumps({"__type": exc.code, "message": exc.message}), status_code=400,
                        media_type=CONTENT_TYPE, headers={"x-amzn-query-error": f"{exc.query_code};Sender"})


# --- the data ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    timestamp: float  # epoch seconds
    value: float


def _records() -> Any:
    from springboard.controlplane.resource_store import Records

    return Records()


def job_series(job: jobs.Job) -> dict[str, list[Point]]:
    """Every metric of a training job, as (time, value) points in time order."""
    from springboard.controlplane.training import training_request

    request = training_request(Context(manager=None, records=_records()), job)
    definitions = (request.get("AlgorithmSpecification") or {}).get("MetricDefinitions") or []
    series: dict[str, list[Point]] = defaultdict(list)
    if not definitions:
        for m in jobs.JobStore().metrics(job.name):
            series[m.name].append(Point(m.timestamp, m.value))
        return {name: sorted(points, key=lambda p: p.timestamp) for name, points in series.items()}
    patterns = []
    for definition in definitions:
        try:
            patterns.append((definition["Name"], re.compile(definition["Regex"])))
        except re.error:
            continue  # CreateTrainingJob refused it; a bad one never reaches here from our control plane
    for event in log_events(job):
        for name, pattern in patterns:
            for match in pattern.finditer(event["message"]):
                try:
                    value = float(match.group(1) if pattern.groups else match.group(0))
                except ValueError:
                    continue
                if math.isfinite(value):
                    series[name].append(Point(event["timestamp"] / 1000, value))
    return dict(series)


def _training_job(name: str) -> jobs.Job | None:
    try:
        job = jobs.JobStore().get(name)
    except (NotFoundError, ValueError):
        return None
    return job if job.kind == "training" else None


# --- operations --------------------------------------------------------------------------------


def _dimensions_job(dimensions: list[dict[str, str]]) -> str | None:
    """The job a metric's dimensions name: SageMaker's training metrics have exactly one."""
    if len(dimensions) == 1 and dimensions[0].get("Name") == DIMENSION:
        return dimensions[0].get("Value")
    return None


def _period(params: dict[str, Any]) -> int:
    period = params["Period"]
    if period not in (1, 5, 10, 30) and period % 60:
        raise _invalid(f"The parameter Period must be 1, 5, 10, 30 or a multiple of 60 (got {period}).")
    return period


def get_metric_statistics(params: dict[str, Any]) -> dict[str, Any]:
    statistics = params.get("Statistics") or []
    if params.get("ExtendedStatistics"):
        if statistics:
            raise _combination("The parameters Statistics and ExtendedStatistics are mutually exclusive.")
        raise _invalid("ExtendedStatistics (percentiles) are not served by Springboard: ask for "
                       f"Statistics ({', '.join(STATISTICS)})")
    if not statistics:
        raise MetricsError("MissingRequiredParameterException", "MissingParameter",
                           "Must specify either Statistics or ExtendedStatistics.")
    start, end = protocol.epoch(params["StartTime"]), protocol.epoch(params["EndTime"])
    if start >= end:
        raise _invalid("The parameter StartTime must be less than the parameter EndTime.")
    period = _period(params)
    buckets = math.ceil((end - start) / period)
    if buckets > MAX_DATAPOINTS:
        raise _combination(f"You have requested up to {buckets} datapoints, which exceeds the limit of "
                           f"{MAX_DATAPOINTS}. You may reduce the datapoints requested by increasing Period, "
                           "or decreasing the time range.")
    out: dict[str, Any] = {"Label": params["MetricName"], "Datapoints": []}
    name = _dimensions_job(params.get("Dimensions") or [])
    if params["Namespace"] != NAMESPACE or name is None or params.get("Unit") not in (None, "None"):
        return out  # CloudWatch has no such metric: no data, not an error
    job = _training_job(name)
    if job is None:
        return out
    grouped: dict[int, list[float]] = defaultdict(list)
    for point in job_series(job).get(params["MetricName"], []):
        if start <= point.timestamp < end:
            grouped[int((point.timestamp - start) // period)].append(point.value)
    for index in sorted(grouped):
        values = grouped[index]
        every = {"SampleCount": float(len(values)), "Average": sum(values) / len(values), "Sum": sum(values),
                 "Minimum": min(values), "Maximum": max(values)}
        out["Datapoints"].append({"Timestamp": start + index * period, "Unit": "None",
                                  **{s: every[s] for s in statistics}})
    return out


def _matches(filters: list[dict[str, str]], job_name: str) -> bool:
    for f in filters:
        if f["Name"] != DIMENSION or ("Value" in f and f["Value"] != job_name):
            return False
    return True


def list_metrics(params: dict[str, Any]) -> dict[str, Any]:
    if params.get("OwningAccount") not in (None, protocol.ACCOUNT):
        return {"Metrics": []}  # no linked accounts: only this server's own
    if params.get("Namespace") not in (None, NAMESPACE):
        return {"Metrics": []}
    token = params.get("NextToken")
    offset = 0
    if token:
        match = _TOKEN.match(token)
        if match is None:
            raise _invalid(f"NextToken {token!r} was not issued by this server")
        offset = int(match[1])
    filters = params.get("Dimensions") or []
    wanted = params.get("MetricName")
    recent_since = time.time() - RECENT if params.get("RecentlyActive") == "PT3H" else None
    found = []
    for job in sorted(jobs.JobStore().list(kind="training"), key=lambda j: (j.creation_time, j.name)):
        if not _matches(filters, job.name):
            continue
        for name, points in sorted(job_series(job).items()):
            if wanted not in (None, name) or not points:
                continue
            if recent_since is not None and points[-1].timestamp < recent_since:
                continue
            found.append({"Namespace": NAMESPACE, "MetricName": name,
                          "Dimensions": [{"Name": DIMENSION, "Value": job.name}]})
    page = found[offset : offset + PAGE]
    out: dict[str, Any] = {"Metrics": page}
    if offset + PAGE < len(found):
        out["NextToken"] = f"m/{offset + PAGE}"
    if params.get("IncludeLinkedAccounts"):
        out["OwningAccounts"] = [protocol.ACCOUNT] * len(page)
    return out


OPERATIONS = {"GetMetricStatistics": get_metric_statistics, "ListMetrics": list_metrics}
SERVICES[TARGET] = handle
