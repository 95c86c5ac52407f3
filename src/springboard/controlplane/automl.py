"""AutoML text-generation jobs: the automl room already speaks CreateAutoMLJobV2's shapes, so
these handlers pass the request through and serialize its descriptions through botocore's
output shapes (Springboard's additions are dropped on the wire)."""

from __future__ import annotations

from typing import Any

from springboard import jobs
from springboard.controlplane.registry import Context, operation
from springboard.controlplane.common import listing, paginate, tags_of
from springboard.controlplane.protocol import AwsError, arn
from springboard.errors import NotFoundError, SpringboardError

KIND = "automl"


def _missing(name: str) -> AwsError:
    # The AutoML operations name ResourceNotFound in the model, and SageMaker answers it.
    return AwsError("ResourceNotFound", f"Could not find AutoML job with name {name} ({arn('automl-job', name)})")


def _job(name: str) -> jobs.Job:
    try:
        job = jobs.refresh(name)
    except NotFoundError:
        raise _missing(name) from None
    if job.kind != KIND:
        raise _missing(name)
    return job


@operation("CreateAutoMLJobV2")
def create_auto_ml_job_v2(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    from springboard.automl.job import create_auto_ml_job_v2 as create

    name = params["AutoMLJobName"]
    if jobs.JobStore().exists(name):
        raise AwsError("ResourceInUse", f"An AutoML job (or another job) named {name} already exists "
                       f"({arn('automl-job', name)}); AutoMLJobName must be unique")
    create(params)
    ctx.records.add_tags("automl-job", name, tags_of(params))
    return {"AutoMLJobArn": arn("automl-job", name)}


@operation("DescribeAutoMLJobV2")
def describe_auto_ml_job_v2(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    from springboard.automl.describe import describe_auto_ml_job_v2 as describe

    _job(params["AutoMLJobName"])
    out = describe(params["AutoMLJobName"])
    if out.get("BestCandidate"):
        _with_images(out["BestCandidate"])
    return out


@operation("ListCandidatesForAutoMLJob")
def list_candidates_for_auto_ml_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    from springboard.automl.describe import list_candidates_for_auto_ml_job as candidates

    _job(params["AutoMLJobName"])
    everything = candidates(
        params["AutoMLJobName"],
        status_equals=params.get("StatusEquals"),
        candidate_name_equals=params.get("CandidateNameEquals"),
        sort_by=params.get("SortBy"),
        sort_order=params.get("SortOrder"),
    )["Candidates"]
    everything = [_with_images(c) for c in everything]
    page, token = paginate(everything, params)
    return {"Candidates": page, "NextToken": token}


@operation("StopAutoMLJob")
def stop_auto_ml_job(ctx: Context, params: dict[str, Any]) -> None:
    from springboard.automl.job import stop_auto_ml_job as stop

    job = _job(params["AutoMLJobName"])
    if job.done:
        raise SpringboardError(f"AutoML job {job.name} is {job.status} and cannot be stopped")
    stop(job.name, wait=False)


@operation("ListAutoMLJobs")
def list_auto_ml_jobs(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    from springboard.automl.describe import list_auto_ml_jobs as summaries

    items = summaries()["AutoMLJobSummaries"]
    page, token = listing(items, params, name_key="AutoMLJobName", status_key="AutoMLJobStatus")
    return {"AutoMLJobSummaries": page, "NextToken": token}


def _with_images(candidate: dict[str, Any]) -> dict[str, Any]:
    """InferenceContainers[].Image is required on the wire; Springboard's engine serves every
    model, so the image names it and the base model."""
    for container in candidate.get("InferenceContainers") or []:
        if not container.get("Image"):
            base = (container.get("Environment") or {}).get("SPRINGBOARD_BASE_MODEL", "model")
            container["Image"] = f"springboard-engine:{base}"
    return candidate
