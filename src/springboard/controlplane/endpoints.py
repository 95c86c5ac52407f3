"""Models, EndpointConfigs and Endpoints. A Model records which Springboard model reference its
container maps to (see resolve.py); an EndpointConfig names one Model; CreateEndpoint deploys
that reference through the server's endpoint manager, the same registry `springboard deploy`
uses, so endpoints made either way are seen both ways.

Accepted and recorded but without effect here: `ExecutionRoleArn` (there is no IAM),
`Image` (Springboard's own engine serves every model), VPC, KMS and data-capture settings.
`InstanceType` picks the device: a GPU family (ml.g*, ml.p*) serves on CUDA when this machine
has a GPU, anything else on the CPU."""

from __future__ import annotations

import re
import time
from typing import Any

from springboard.controlplane import resolve
from springboard.controlplane.registry import Context, operation
from springboard.controlplane.common import listing, tags_of
from springboard.controlplane.protocol import AwsError, arn, not_found, validation
from springboard.errors import LimitExceededError, NotFoundError

GPU_INSTANCE = re.compile(r"^ml\.(g\d|p\d)")


def device_for(instance_type: str | None) -> str | None:
    """'cuda' for a GPU instance type on a machine with a GPU; None (the engine's CPU default)
    otherwise."""
    if instance_type and GPU_INSTANCE.match(instance_type):
        import torch

        if torch.cuda.is_available():
            return "cuda"
    return None


# --- models ----------------------------------------------------------------------------------------


@operation("CreateModel")
def create_model(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = params["ModelName"]
    if ctx.records.get("model", name):
        raise validation(f'Cannot create already existing model "{arn("model", name)}".')
    containers = params.get("Containers") or []
    primary = params.get("PrimaryContainer")
    if primary and containers:
        raise validation("give PrimaryContainer or Containers, not both")
    if not primary:
        if len(containers) != 1:
            raise validation(
                f"Springboard serves one container per model; Containers has {len(containers)} "
                "(inference pipelines are not supported)"
            )
        primary = containers[0]
    if primary.get("Mode") == "MultiModel":
        raise validation("Springboard serves one model per container: Mode MultiModel is not supported")
    tags = tags_of(params)
    prompt_env(primary.get("Environment"))  # a bad SPRINGBOARD_PROMPT_FORMAT fails CreateModel
    reference = resolve.model_reference(
        resolve.container_location(primary),
        tags,
        primary.get("Environment"),
        f"CreateModel {name}",
    )
    data = {
        "request": {k: v for k, v in params.items() if k != "Tags"},
        "reference": reference,
        "accept_eula": resolve.container_accepts_eula(primary),
        "created": time.time(),
    }
    if not ctx.records.add("model", name, data):
        raise validation(f'Cannot create already existing model "{arn("model", name)}".')
    ctx.records.add_tags("model", name, tags)
    return {"ModelArn": arn("model", name)}


def prompt_env(env: dict[str, str] | None) -> str | None:
    """The container's SPRINGBOARD_PROMPT_FORMAT (auto | chat | raw), or a ValidationException."""
    from springboard.errors import ValidationError
    from springboard.generate.prompting import from_environment

    try:
        return from_environment(env)
    except ValidationError as exc:
        raise validation(f"PrimaryContainer.Environment {exc}") from None


def get_model(ctx: Context, name: str) -> dict[str, Any]:
    found = ctx.records.get("model", name)
    if found is None:
        raise not_found(f'Could not find model "{arn("model", name)}".')
    return found.data


@operation("DescribeModel")
def describe_model(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = params["ModelName"]
    data = get_model(ctx, name)
    request = data["request"]
    return {
        **request,
        "ModelName": ctx.records.get("model", name).name,
        "ModelArn": arn("model", name),
        "CreationTime": data["created"],
    }


@operation("DeleteModel")
def delete_model(ctx: Context, params: dict[str, Any]) -> None:
    name = params["ModelName"]
    get_model(ctx, name)
    ctx.records.remove("model", name)


@operation("ListModels")
def list_models(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    items = [
        {"ModelName": r.name, "ModelArn": arn("model", r.name), "CreationTime": r.data["created"]}
        for r in ctx.records.list("model")
    ]
    page, token = listing(items, params, name_key="ModelName")
    return {"Models": page, "NextToken": token}


# --- endpoint configs -------------------------------------------------------------------------------


@operation("CreateEndpointConfig")
def create_endpoint_config(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = params["EndpointConfigName"]
    config_arn = arn("endpoint-config", name)
    if ctx.records.get("endpoint-config", name):
        raise validation(f'Cannot create already existing endpoint configuration "{config_arn}".')
    variants = params["ProductionVariants"]
    if len(variants) != 1:
        raise validation(
            f"Springboard serves one production variant per endpoint; ProductionVariants has {len(variants)}"
        )
    if params.get("ShadowProductionVariants"):
        raise validation("Springboard does not serve shadow variants (ShadowProductionVariants)")
    variant = variants[0]
    if not variant.get("ModelName"):
        raise validation("ProductionVariants.1.ModelName: Springboard needs the model the variant serves")
    get_model(ctx, variant["ModelName"])
    count = variant.get("InitialInstanceCount")
    if count is not None and count != 1 and not variant.get("ServerlessConfig"):
        raise AwsError(
            "ResourceLimitExceeded",
            f"InitialInstanceCount {count}: a Springboard server hosts one copy of each endpoint's model "
            "(InitialInstanceCount must be 1)",
        )
    if count is None and not variant.get("ServerlessConfig"):
        raise validation("ProductionVariants.1: give InitialInstanceCount (1) or ServerlessConfig")
    async_config = params.get("AsyncInferenceConfig")
    if async_config and not (async_config.get("OutputConfig") or {}).get("S3OutputPath"):
        raise validation("AsyncInferenceConfig.OutputConfig.S3OutputPath: Springboard needs where to write results")
    data = {"request": {k: v for k, v in params.items() if k != "Tags"}, "created": time.time()}
    if not ctx.records.add("endpoint-config", name, data):
        raise validation(f'Cannot create already existing endpoint configuration "{config_arn}".')
    ctx.records.add_tags("endpoint-config", name, tags_of(params))
    return {"EndpointConfigArn": config_arn}


def get_endpoint_config(ctx: Context, name: str) -> dict[str, Any]:
    found = ctx.records.get("endpoint-config", name)
    if found is None:
        raise not_found(f'Could not find endpoint configuration "{arn("endpoint-config", name)}".')
    return found.data


@operation("DescribeEndpointConfig")
def describe_endpoint_config(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = params["EndpointConfigName"]
    data = get_endpoint_config(ctx, name)
    return {
        **data["request"],
        "EndpointConfigName": ctx.records.get("endpoint-config", name).name,
        "EndpointConfigArn": arn("endpoint-config", name),
        "CreationTime": data["created"],
    }


@operation("DeleteEndpointConfig")
def delete_endpoint_config(ctx: Context, params: dict[str, Any]) -> None:
    name = params["EndpointConfigName"]
    get_endpoint_config(ctx, name)
    ctx.records.remove("endpoint-config", name)


@operation("ListEndpointConfigs")
def list_endpoint_configs(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    items = [
        {"EndpointConfigName": r.name, "EndpointConfigArn": arn("endpoint-config", r.name), "CreationTime": r.data["created"]}
        for r in ctx.records.list("endpoint-config")
    ]
    page, token = listing(items, params, name_key="EndpointConfigName")
    return {"EndpointConfigs": page, "NextToken": token}


# --- endpoints -------------------------------------------------------------------------------------


def _serve_config(ctx: Context, endpoint_name: str, config_name: str) -> Any:
    """The serve room's EndpointConfig for a SageMaker EndpointConfig."""
    from springboard.serve.registry import EndpointConfig

    config = get_endpoint_config(ctx, config_name)["request"]
    variant = config["ProductionVariants"][0]
    model = get_model(ctx, variant["ModelName"])
    env = (model["request"].get("PrimaryContainer") or (model["request"].get("Containers") or [{}])[0]).get(
        "Environment") or {}
    return EndpointConfig(
        name=endpoint_name,
        model=model["reference"],
        device=device_for(variant.get("InstanceType")),
        dtype=env.get("DTYPE"),  # the precision (generate/precision.py), as TGI containers read it
        quantize=env.get("QUANTIZE"),
        prompt_format=prompt_env(env),  # SPRINGBOARD_PROMPT_FORMAT (generate/prompting.py)
        accept_eula=bool(model.get("accept_eula")),
    )


@operation("CreateEndpoint")
def create_endpoint(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    from springboard.jobs import validate_name

    name = params["EndpointName"]
    validate_name(name, "endpoint")
    endpoint_arn = arn("endpoint", name)
    try:
        ctx.manager.describe(name)
    except NotFoundError:
        pass
    else:
        raise validation(f'Cannot create already existing endpoint "{endpoint_arn}".')
    config = _serve_config(ctx, name, params["EndpointConfigName"])
    try:
        record = ctx.manager.create(config)
    except LimitExceededError as exc:
        raise AwsError("ResourceLimitExceeded", str(exc)) from None
    # `endpoint_created` ties this record to this endpoint: one deleted and made again by the CLI
    # under the same name is another endpoint, with no EndpointConfig.
    ctx.records.put("endpoint", name, {"EndpointConfigName": params["EndpointConfigName"],
                                       "endpoint_created": record.creation_time})
    ctx.records.delete_tags("endpoint", name, [t["Key"] for t in ctx.records.tags("endpoint", name)])
    ctx.records.add_tags("endpoint", name, tags_of(params))
    return {"EndpointArn": endpoint_arn}


def _record(ctx: Context, name: str) -> Any:
    try:
        return ctx.manager.describe(name)
    except NotFoundError:
        raise not_found(f'Could not find endpoint "{arn("endpoint", name)}".') from None


@operation("DescribeEndpoint")
def describe_endpoint(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = params["EndpointName"]
    record = _record(ctx, name)
    extra = _extra(ctx, record)
    out: dict[str, Any] = {
        "EndpointName": record.name,
        "EndpointArn": arn("endpoint", record.name),
        "EndpointStatus": record.status,
        "FailureReason": record.failure_reason,
        "CreationTime": record.creation_time,
        "LastModifiedTime": record.last_modified_time,
        "ProductionVariants": [_variant_summary(record)],
    }
    if extra is not None:
        out["EndpointConfigName"] = extra.data["EndpointConfigName"]
        if extra.data.get("model") and record.status != "Updating" and record.model != extra.data["model"]:
            # the update failed and was rolled back: the endpoint still runs its old configuration
            out["EndpointConfigName"] = extra.data.get("PreviousConfigName")
        config = ctx.records.get("endpoint-config", extra.data["EndpointConfigName"])
        if config is not None and config.data["request"].get("AsyncInferenceConfig"):
            out["AsyncInferenceConfig"] = config.data["request"]["AsyncInferenceConfig"]
    return out


def _extra(ctx: Context, record: Any) -> Any:
    """The control plane's record of this endpoint (its EndpointConfig), if it made it."""
    extra = ctx.records.get("endpoint", record.name)
    if extra is None or extra.data.get("endpoint_created") != record.creation_time:
        return None
    return extra


def _variant_summary(record: Any) -> dict[str, Any]:
    serving = 1 if record.status == "InService" else 0
    summary: dict[str, Any] = {
        "VariantName": "AllTraffic",
        "CurrentWeight": 1.0,
        "DesiredWeight": 1.0,
        "CurrentInstanceCount": serving,
        "DesiredInstanceCount": 1,
    }
    if record.precision:
        # what the engine serves with (generate/precision.py), as the image it resolved to:
        # "springboard-<backend>:<weights>" (`springboard endpoints describe` adds the reason)
        backend, _, weights = record.precision.partition(" - ")[0].partition(":")
        summary["DeployedImages"] = [{"SpecifiedImage": "springboard", "ResolvedImage": f"springboard-{backend}:{weights}",
                                      "ResolutionTime": record.last_modified_time}]
    return summary


@operation("DeleteEndpoint")
def delete_endpoint(ctx: Context, params: dict[str, Any]) -> None:
    import anyio.from_thread

    name = params["EndpointName"]
    _record(ctx, name)
    anyio.from_thread.run(ctx.manager.delete, name)
    ctx.records.remove("endpoint", name)


@operation("ListEndpoints")
def list_endpoints(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    items = [
        {
            "EndpointName": r.name,
            "EndpointArn": arn("endpoint", r.name),
            "CreationTime": r.creation_time,
            "LastModifiedTime": r.last_modified_time,
            "EndpointStatus": r.status,
        }
        for r in ctx.manager.list()
    ]
    page, token = listing(items, params, name_key="EndpointName", status_key="EndpointStatus")
    return {"Endpoints": page, "NextToken": token}


@operation("UpdateEndpoint")
def update_endpoint(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Moves the endpoint to another EndpointConfig: the new model loads while the old one
    keeps serving (status Updating), then takes over."""
    name = params["EndpointName"]
    record = _record(ctx, name)
    if record.status not in ("InService", "Failed"):
        raise validation(f'Cannot update endpoint "{arn("endpoint", name)}" while it is {record.status}.')
    for unsupported in ("RetainAllVariantProperties", "ExcludeRetainedVariantProperties", "DeploymentConfig"):
        if params.get(unsupported):
            raise validation(f"{unsupported}: Springboard replaces the whole configuration; leave it out")
    import anyio.from_thread

    config = _serve_config(ctx, name, params["EndpointConfigName"])
    previous = _extra(ctx, record)
    anyio.from_thread.run(ctx.manager.update, config)
    ctx.records.put("endpoint", name, {
        "EndpointConfigName": params["EndpointConfigName"],
        "PreviousConfigName": previous.data["EndpointConfigName"] if previous else None,
        "model": config.model,
        "endpoint_created": record.creation_time,
    })
    return {"EndpointArn": arn("endpoint", name)}
