"""AddTags, ListTags, DeleteTags on any resource the control plane knows, by ARN
(`arn:aws:sagemaker:<region>:<account>:<type>/<name>`)."""

from __future__ import annotations

import re
from typing import Any

from springboard import jobs
from springboard.controlplane.registry import Context, operation
from springboard.controlplane.common import paginate
from springboard.controlplane.protocol import not_found, validation
from springboard.controlplane.resource_store import KINDS


_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]*:[0-9]{12}:(?P<kind>[a-z-]+)/(?P<name>.+)$")
_JOB_KINDS = {"training-job": "training", "transform-job": "transform", "automl-job": "automl"}


def resource(ctx: Context, resource_arn: str) -> tuple[str, str]:
    """(kind, name) of an existing resource; ValidationException when there is none."""
    match = _ARN.match(resource_arn)
    if not match or match["kind"] not in KINDS:
        raise validation(f"ResourceArn {resource_arn!r}: Springboard tags {', '.join(KINDS)} resources")
    kind, name = match["kind"], match["name"]
    if kind in _JOB_KINDS:
        for job in jobs.JobStore().list(kind=_JOB_KINDS[kind]):
            if job.name.lower() == name:
                return kind, job.name
    elif kind == "endpoint":
        for record in ctx.manager.list():
            if record.name.lower() == name:
                return kind, record.name
    else:
        found = ctx.records.get(kind, name)
        if found is not None:
            return kind, found.name
    raise not_found(f"Could not find resource {resource_arn}")


@operation("AddTags")
def add_tags(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    kind, name = resource(ctx, params["ResourceArn"])
    if len({t["Key"] for t in ctx.records.tags(kind, name)} | {t["Key"] for t in params["Tags"]}) > 50:
        raise validation("a resource has at most 50 tags")
    ctx.records.add_tags(kind, name, params["Tags"])
    return {"Tags": params["Tags"]}


@operation("ListTags")
def list_tags(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    kind, name = resource(ctx, params["ResourceArn"])
    page, token = paginate(ctx.records.tags(kind, name), params, default_size=50)
    return {"Tags": page, "NextToken": token}


@operation("DeleteTags")
def delete_tags(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    kind, name = resource(ctx, params["ResourceArn"])
    ctx.records.delete_tags(kind, name, params["TagKeys"])
    return {}


