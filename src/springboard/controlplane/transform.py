"""Transform jobs: CreateTransformJob starts the same batch-transform job `springboard transform`
does, with the model that the named Model maps to. The request's knobs map one to one onto the
transform room's configuration (ContentType, SplitType, BatchStrategy, MaxPayloadInMB, Accept,
AssembleWith, DataProcessing, Environment, TransformResources.InstanceCount,
MaxConcurrentTransforms: batches in flight per worker); locations may be s3://, file:// or local
paths. Recorded without effect: ModelClientConfig (a request is not timed out or retried on its
own), InstanceType, KMS keys, tags."""

from __future__ import annotations

from typing import Any

from springboard import jobs
from springboard.controlplane.registry import Context, operation
from springboard.controlplane.common import listing, tags_of
from springboard.controlplane.endpoints import get_model
from springboard.controlplane.protocol import AwsError, arn, not_found, validation
from springboard.errors import NotFoundError

KIND = "transform"


@operation("CreateTransformJob")
def create_transform_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    from springboard.transform.api import transform_config

    name = params["TransformJobName"]
    if jobs.JobStore().exists(name):
        raise AwsError("ResourceInUse", f"Job name must be unique within an AWS account and region, and a job "
                       f"with this name already exists ({arn('transform-job', name)})")
    model = get_model(ctx, params["ModelName"])
    source = params["TransformInput"]["DataSource"]
    if "S3DataSource" not in source:
        raise validation("TransformInput.DataSource: Springboard reads S3DataSource locations (s3://, file:// or a path)")
    s3 = source["S3DataSource"]
    if s3["S3DataType"] != "S3Prefix":
        raise validation(f"TransformInput S3DataType {s3['S3DataType']}: Springboard reads S3Prefix locations "
                         "(a file, or every file under a prefix)")
    transform_input = params["TransformInput"]
    if transform_input.get("CompressionType") not in (None, "None"):
        raise validation("TransformInput.CompressionType: Springboard reads uncompressed input (CompressionType None)")
    output = params["TransformOutput"]
    knobs: dict[str, Any] = {}
    for key, field in (("ContentType", "content_type"), ("SplitType", "split_type")):
        if transform_input.get(key):
            knobs[field] = transform_input[key]
    for key, field in (("Accept", "accept"), ("AssembleWith", "assemble_with")):
        if output.get(key):
            knobs[field] = output[key]
    if params.get("BatchStrategy"):
        knobs["batch_strategy"] = params["BatchStrategy"]
    if params.get("MaxPayloadInMB") is not None:
        knobs["max_payload"] = params["MaxPayloadInMB"]
    if params.get("MaxConcurrentTransforms"):
        knobs["max_concurrent_transforms"] = params["MaxConcurrentTransforms"]
    processing = params.get("DataProcessing") or {}
    for key, field in (("InputFilter", "input_filter"), ("OutputFilter", "output_filter"), ("JoinSource", "join_source")):
        if processing.get(key):
            knobs[field] = processing[key]
    knobs["instance_count"] = params["TransformResources"]["InstanceCount"]
    request = {k: v for k, v in params.items() if k != "Tags"}
    # the model container's precision (DTYPE / QUANTIZE) and prompt format (SPRINGBOARD_PROMPT_FORMAT)
    # apply unless the job's Environment sets them
    container = model["request"].get("PrimaryContainer") or (model["request"].get("Containers") or [{}])[0]
    precision = {k: v for k, v in (container.get("Environment") or {}).items()
                 if k in ("DTYPE", "QUANTIZE", "SPRINGBOARD_PROMPT_FORMAT")}
    config = transform_config(model["reference"], s3["S3Uri"], output["S3OutputPath"],
                              env={**precision, **(params.get("Environment") or {})}, **knobs)
    # the request is recorded in the job's creating transaction (see training.py)
    jobs.submit(config, name=name, also=ctx.records.put_in("transform-job", name, {"request": request}))
    ctx.records.add_tags("transform-job", name, tags_of(params))
    return {"TransformJobArn": arn("transform-job", name)}


def get_transform_job(name: str) -> jobs.Job:
    try:
        job = jobs.refresh(name)
    except NotFoundError:
        job = None
    if job is None or job.kind != KIND:
        raise not_found(f"Could not find requested job with name {name} ({arn('transform-job', name)})")
    return job


def _request(ctx: Context, job: jobs.Job) -> dict[str, Any]:
    """The SageMaker request the job was made with, or one written from a CLI/SDK job's config."""
    found = ctx.records.get("transform-job", job.name)
    if found is not None:
        return found.data["request"]
    c = job.config
    return {
        "ModelName": c["model"],
        "BatchStrategy": c.get("batch_strategy"),
        "MaxPayloadInMB": int(c["max_payload"]) if c.get("max_payload") is not None else None,
        "MaxConcurrentTransforms": c.get("max_concurrent_transforms") or None,
        "Environment": c.get("environment") or {},
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": c["input"]}},
            "ContentType": c.get("content_type"),
            "SplitType": c.get("split_type"),
        },
        "TransformOutput": {"S3OutputPath": c["output"], "Accept": c.get("accept"), "AssembleWith": c.get("assemble_with")},
        "TransformResources": {"InstanceCount": c.get("instance_count", 1), "InstanceType": "local"},
        "DataProcessing": {"InputFilter": c.get("input_filter"), "OutputFilter": c.get("output_filter"),
                           "JoinSource": c.get("join_source")},
    }


@operation("DescribeTransformJob")
def describe_transform_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    job = get_transform_job(params["TransformJobName"])
    return {
        **_request(ctx, job),
        "TransformJobName": job.name,
        "TransformJobArn": arn("transform-job", job.name),
        "TransformJobStatus": job.status,
        "FailureReason": job.failure_reason,
        "CreationTime": job.creation_time,
        "TransformStartTime": job.start_time,
        "TransformEndTime": job.end_time,
    }


@operation("StopTransformJob")
def stop_transform_job(ctx: Context, params: dict[str, Any]) -> None:
    job = get_transform_job(params["TransformJobName"])
    if job.done:
        raise validation(f"The transform job {job.name} is {job.status} and cannot be stopped.")
    jobs.JobStore().request_stop(job.name)


@operation("ListTransformJobs")
def list_transform_jobs(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    items = []
    for job in jobs.JobStore().list(kind=KIND):
        job = jobs.refresh(job.name)
        items.append({
            "TransformJobName": job.name,
            "TransformJobArn": arn("transform-job", job.name),
            "CreationTime": job.creation_time,
            "TransformEndTime": job.end_time,
            "LastModifiedTime": job.last_modified_time,
            "TransformJobStatus": job.status,
            "FailureReason": job.failure_reason,
        })
    page, token = listing(items, params, name_key="TransformJobName", status_key="TransformJobStatus")
    return {"TransformJobSummaries": page, "NextToken": token}
