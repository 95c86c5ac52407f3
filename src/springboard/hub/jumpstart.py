"""The catalog in JumpStart's own metadata format, so the real `sagemaker` SDK can use every
catalog model as a JumpStart model id.

The SDK (`sagemaker.jumpstart.cache`) reads a manifest (`models_manifest.json`: one header per
model version with `model_id`, `version`, `min_version`, `spec_key`) and one spec file per
header. It reads them from S3, or from local folders when both
`AWS_JUMPSTART_MANIFEST_LOCAL_ROOT_DIR_OVERRIDE` and `AWS_JUMPSTART_SPECS_LOCAL_ROOT_DIR_OVERRIDE`
name existing directories; `export_specs(DIR)` writes both into one directory.

The spec fields are the ones `sagemaker.jumpstart.types.JumpStartModelSpecs` reads. The S3
keys in them (`hosting_artifact_key`, `training_artifact_key`, ...) are not objects anywhere:
the SDK prefixes them with its content bucket and sends the URIs in CreateModel /
CreateTrainingJob, and the control plane maps them back to a catalog model with
`parse_artifact_uri`. Nothing is ever downloaded from those URIs.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from springboard import settings
from springboard.errors import SpringboardError, ValidationError
from springboard.hub.catalog import list_specs
from springboard.hub.spec import ModelSpec

log = logging.getLogger("springboard.hub")

MANIFEST_FILE = "models_manifest.json"  # sagemaker.jumpstart.constants.JUMPSTART_DEFAULT_MANIFEST_FILE_S3_KEY
# constants.JUMPSTART_DEFAULT_PROPRIETARY_MANIFEST_KEY: read from the content bucket on S3 even in
# local-override mode (cache._get_json_file supports only open-weight files locally).
PROPRIETARY_MANIFEST_FILE = "proprietary-sdk-manifest.json"
MANIFEST_ENV = "AWS_JUMPSTART_MANIFEST_LOCAL_ROOT_DIR_OVERRIDE"
SPECS_ENV = "AWS_JUMPSTART_SPECS_LOCAL_ROOT_DIR_OVERRIDE"
# constants.ENV_VARIABLE_JUMPSTART_CONTENT_BUCKET_OVERRIDE: the bucket the SDK reads JumpStart
# content from on S3 (else AWS's `jumpstart-cache-prod-<region>`).
CONTENT_BUCKET_ENV = "AWS_JUMPSTART_CONTENT_BUCKET_OVERRIDE"
# The oldest SDK the specs are written for: the v2 SDK the seeds use (issue 11: >=2.200).
MIN_SDK_VERSION = "2.200.0"
# Every key we write starts with this, so a URI built from one is recognisable in any bucket.
KEY_PREFIX = "springboard-jumpstart"
# Images are recorded, never pulled: Springboard runs the model itself. Instance type picks the
# device (CPU families vs GPU families), as the control plane documents.
INFERENCE_IMAGE = "springboard.local/springboard-inference:{device}"
TRAINING_IMAGE = "springboard.local/springboard-training:{device}"
CPU_FAMILIES = ("c4", "c5", "c5d", "c5n", "c6i", "c6id", "c7i", "m4", "m5", "m5d", "m6i", "m6id",
                "m7i", "r5", "r5d", "r6i", "r6id", "r7i", "t2", "t3", "local")
GPU_FAMILIES = ("g4dn", "g5", "g6", "g6e", "p2", "p3", "p3dn", "p4d", "p4de", "p5", "local_gpu")
DEFAULT_CPU_INSTANCE = "ml.m5.2xlarge"
CPU_INSTANCES = ["ml.m5.xlarge", "ml.m5.2xlarge", "ml.m5.4xlarge", "ml.c5.2xlarge", "ml.c5.4xlarge"]
GPU_INSTANCES = ["ml.g5.xlarge", "ml.g5.2xlarge", "ml.g5.12xlarge", "ml.p4d.24xlarge"]

# Lines the training loop logs (train/loop.py); the SDK sends these as MetricDefinitions and the
# control plane applies them to the job log, as SageMaker applies them to CloudWatch logs.
_NUMBER = r"([0-9]+\.[0-9]+(?:[eE][-+]?[0-9]+)?)"
METRIC_DEFINITIONS = [
    {"Name": "springboard:train-loss", "Regex": rf"train_loss {_NUMBER}"},
    {"Name": "springboard:eval-loss", "Regex": rf"val_loss {_NUMBER}"},
    {"Name": "springboard:perplexity", "Regex": rf"perplexity {_NUMBER}"},
]


def metric_definitions(spec: ModelSpec) -> list[dict[str, str]]:
    """Ours, plus JumpStart's own names over the transformers-Trainer lines the loop also logs
    (`{'loss': ..., 'learning_rate': ..., 'epoch': ...}`, `{'eval_loss': ..., 'epoch': ...}`), as
    JumpStart's Hugging Face specs define them, so code reading those metric names finds them."""
    prefix = "huggingface-text2text" if spec.task == "text2text" else "huggingface-textgeneration"
    return METRIC_DEFINITIONS + [
        {"Name": f"{prefix}:train-loss", "Regex": r"'loss': ([0-9]+\.[0-9]+)"},
        {"Name": f"{prefix}:eval-loss", "Regex": r"'eval_loss': ([0-9]+\.[0-9]+)"},
    ]

Scope = Literal["inference", "training"]
# What a key names: weights to serve or to fine-tune, or a placeholder the SDK insists on sending
# (its script channel "code", a EULA) that carries nothing Springboard needs.
Kind = Literal["inference", "training", "inference-script", "training-script", "eula"]
_KEY = re.compile(
    rf"^{KEY_PREFIX}/(?P<model_id>[A-Za-z0-9._-]+)/(?P<version>[0-9][A-Za-z0-9.+-]*)/(?P<kind>inference-script|training-script|inference|training|eula)(/|$)"
)


@dataclass(frozen=True)
class ArtifactRef:
    """A catalog model named by a JumpStart artifact URI."""

    model_id: str
    version: str
    kind: Kind


def _key(spec: ModelSpec, kind: Kind) -> str:
    return f"{KEY_PREFIX}/{spec.model_id}/{spec.version}/{kind}/"


def artifact_key(spec: ModelSpec, scope: Scope) -> str:
    """The key of a model's weights: "inference" for deploying, "training" for fine-tuning."""
    return _key(spec, scope)


def parse_artifact_uri(uri: str) -> ArtifactRef | None:
    """The catalog model an S3 URI from one of our specs names (`s3://<any bucket>/
    springboard-jumpstart/<model_id>/<version>/<kind>/...`), or None when the URI is not one
    of ours (a user's artifact, a training job's output). `kind` "inference" / "training" names
    the model's weights; the other kinds are channels the SDK always sends (the script tarball
    as channel "code") that a Springboard job does not read."""
    if not uri.startswith("s3://"):
        return None
    _, _, key = uri[len("s3://"):].partition("/")
    match = _KEY.match(key)
    if match is None:
        return None
    return ArtifactRef(match["model_id"], match["version"], match["kind"])  # type: ignore[arg-type]


def _hyperparameter(name: str, default: str) -> dict[str, Any]:
    """One entry of the spec's `hyperparameters` list. The SDK's retrieve_default gives back
    `str(default)`, so the type is only what the value parses as; booleans are text with the
    options JumpStart uses. Ranges are not repeated here: the server's per-family schema
    checks them and names the range in its error."""
    if default in ("True", "False"):
        return {"name": name, "type": "text", "default": default, "options": ["True", "False"],
                "scope": "algorithm"}
    for kind, cast in (("int", int), ("float", float)):
        try:
            return {"name": name, "type": kind, "default": cast(default), "scope": "algorithm"}
        except ValueError:
            continue
    return {"name": name, "type": "text", "default": default, "scope": "algorithm"}


def _variants(image: str) -> dict[str, Any]:
    """Instance-family → image, without regional aliases so the same image answers in every
    region (`JumpStartInstanceTypeVariants._get_regional_property` reads `properties` then)."""
    variants = {f: {"properties": {"image_uri": image.format(device="cpu")}} for f in CPU_FAMILIES}
    variants |= {f: {"properties": {"image_uri": image.format(device="gpu")}} for f in GPU_FAMILIES}
    return {"variants": variants}


def _default_payloads(spec: ModelSpec) -> dict[str, Any]:
    """Example requests in the shape this model's endpoint answers (serve/payloads.py), so
    `JumpStartModel.retrieve_all_examples()` and the SDK's payload helpers work."""
    prompts = {
        "pythonDefinition": "What is a Python list comprehension?",
        "haiku": "Write a haiku about the sea.",
    }
    payloads: dict[str, Any] = {}
    for alias, prompt in prompts.items():
        if spec.payload_format == "text2text":
            payloads[alias] = {
                "content_type": "application/json",
                "accept": "application/json",
                "prompt_key": "text_inputs",
                "output_keys": {"generated_text": "generated_texts[0]"},
                "body": {"text_inputs": prompt, "max_new_tokens": 50},
            }
        else:
            output = "[0].generation" if spec.payload_format == "llama" else "[0].generated_text"
            payloads[alias] = {
                "content_type": "application/json",
                "accept": "application/json",
                "prompt_key": "inputs",
                "output_keys": {"generated_text": output},
                "body": {"inputs": prompt, "parameters": {"max_new_tokens": 50, "do_sample": False}},
            }
    return payloads


def jumpstart_spec(spec: ModelSpec) -> dict[str, Any]:
    """The JumpStart spec document for one catalog model."""
    url = f"https://huggingface.co/{spec.source.repo_id}" if spec.source.repo_id else ""
    doc: dict[str, Any] = {
        "model_id": spec.model_id,
        "url": url,
        "version": spec.version,
        "min_sdk_version": MIN_SDK_VERSION,
        "training_supported": spec.training_supported,
        # Any artifact can be fine-tuned again (DESIGN: model artifact).
        "incremental_training_supported": spec.training_supported,
        "hosting_artifact_key": artifact_key(spec, "inference"),
        "hosting_script_key": _key(spec, "inference-script") + "sourcedir.tar.gz",
        # No inference script: the SDK then takes the "prepacked" key. A key ending in "/" is an
        # uncompressed S3 prefix, as JumpStart's LLMs: the SDK sends a ModelDataSource.
        "hosting_use_script_uri": False,
        "hosting_prepacked_artifact_key": artifact_key(spec, "inference"),
        "hosting_instance_type_variants": _variants(INFERENCE_IMAGE),
        "inference_vulnerable": False,
        "inference_dependencies": [],
        "inference_vulnerabilities": [],
        "training_vulnerable": False,
        "training_dependencies": [],
        "training_vulnerabilities": [],
        "deprecated": False,
        "inference_environment_variables": [],
        "default_inference_instance_type": DEFAULT_CPU_INSTANCE,
        "supported_inference_instance_types": CPU_INSTANCES + GPU_INSTANCES,
        "model_kwargs": {},
        "deploy_kwargs": {},
        "predictor_specs": {
            "supported_content_types": ["application/json"],
            "supported_accept_types": ["application/json"],
            "default_content_type": "application/json",
            "default_accept_type": "application/json",
        },
        "default_payloads": _default_payloads(spec),
        # False: with isolation the SDK drops a transformer's `env` (Model.transformer), and the
        # seed's HYPER_PARAMS would never arrive; Springboard has no network to isolate from.
        "inference_enable_network_isolation": False,
        "resource_name_base": spec.model_id[:40].rstrip("-."),
        "gated_bucket": False,
        "dynamic_container_deployment_supported": False,
    }
    if spec.requires_eula:
        # Makes the SDK ask for accept_eula=True and send ModelAccessConfig.AcceptEula.
        doc["hosting_eula_key"] = _key(spec, "eula") + f"{spec.license}.txt"
    if spec.training_supported:
        doc |= {
            "training_artifact_key": artifact_key(spec, "training"),
            "training_script_key": _key(spec, "training-script") + "sourcedir.tar.gz",
            "training_instance_type_variants": _variants(TRAINING_IMAGE),
            "hyperparameters": [_hyperparameter(k, v) for k, v in spec.default_hyperparameters.items()],
            "metrics": metric_definitions(spec),
            "default_training_instance_type": DEFAULT_CPU_INSTANCE,
            "supported_training_instance_types": CPU_INSTANCES + GPU_INSTANCES,
            # As JumpStart's LLM specs: the SDK sends OutputDataConfig.CompressionType NONE and the
            # artifact is published as a prefix, not gzipped (minutes for a 0.5 GB float32 model).
            "estimator_kwargs": {"disable_output_compression": True},
            "fit_kwargs": {},
            "training_enable_network_isolation": False,
        }
    return doc


def spec_key(spec: ModelSpec) -> str:
    return f"community_models/{spec.model_id}/specs_v{spec.version}.json"


def export_specs(directory: str | Path) -> Path:
    """Writes `models_manifest.json` and one spec per catalog model under `directory` (both
    override variables point at it). Files are replaced atomically, so an SDK reading while
    the server starts never sees half a file. Returns the directory."""
    root = Path(directory).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise ValidationError(f"{root}: not a directory")
    root.mkdir(parents=True, exist_ok=True)
    manifest = []
    for spec in list_specs():
        key = spec_key(spec)
        _write_json(root / key, jumpstart_spec(spec))
        manifest.append(
            {"model_id": spec.model_id, "version": spec.version, "min_version": MIN_SDK_VERSION,
             "spec_key": key}
        )
    _write_json(root / MANIFEST_FILE, manifest)
    _write_json(root / PROPRIETARY_MANIFEST_FILE, proprietary_manifest())
    return root


def proprietary_manifest() -> list[dict[str, str]]:
    """JumpStart's proprietary (marketplace) model manifest. Springboard has no such models, but
    the SDK's `list_jumpstart_models` indexes this list's first header, so an empty list fails
    there. The one header names no model: its min_version is beyond every SDK, and the SDK leaves
    a model that needs a newer SDK out of every listing."""
    return [{
        "model_id": f"{KEY_PREFIX}-no-proprietary-models",
        "version": "1.0.0",
        "min_version": "999.0.0",
        "spec_key": f"proprietary-models/{KEY_PREFIX}-no-proprietary-models/proprietary_specs_1.0.0.json",
    }]


def publish_content(directory: str | Path, bucket: str) -> str:
    """Copies an export (`export_specs`) into S3 bucket `bucket` at the keys the SDK reads from
    its content bucket (`AWS_JUMPSTART_CONTENT_BUCKET_OVERRIDE`): the proprietary manifest, which
    it reads from S3 even with the local overrides set, and the model specs, which
    `list_jumpstart_models` reads from S3 when a filter names a spec field
    (`training_supported == true`), plus the manifest. Creates the bucket when missing; S3 is this
    process's (`AWS_ENDPOINT_URL_S3`, credentials). Returns `s3://<bucket>`."""
    from springboard import storage

    root = Path(directory)
    keys = [MANIFEST_FILE, PROPRIETARY_MANIFEST_FILE]
    keys += [h["spec_key"] for h in json.loads((root / MANIFEST_FILE).read_text())]
    target = f"s3://{bucket}"
    try:
        storage.make_bucket(target)
        for key in keys:
            storage.write_bytes(f"{target}/{key}", (root / key).read_bytes())
    except SpringboardError as exc:
        raise SpringboardError(f"could not write the JumpStart metadata into {target}: {exc}") from None
    except Exception as exc:  # botocore/s3fs: no credentials, access denied, ...
        endpoint = storage.s3_options().get("endpoint_url", "the AWS profile's S3")
        raise SpringboardError(
            f"could not write the JumpStart metadata into {target} on {endpoint} "
            f"({type(exc).__name__}: {exc}); start the S3 store and export AWS_ACCESS_KEY_ID / "
            "AWS_SECRET_ACCESS_KEY first (any values on moto or loopback MinIO)"
        ) from None
    return target


def home_export_dir() -> Path:
    return settings.home() / "jumpstart"


def export_to_home() -> Path:
    """What the server does on start: the catalog as JumpStart metadata in
    `SPRINGBOARD_HOME/jumpstart`, the folder `sdk_environment` points the SDK at, and, when the
    server runs under `jumpstart env`'s settings (`AWS_JUMPSTART_CONTENT_BUCKET_OVERRIDE`), in
    that bucket too, so the S3 copy lists the models registered since (the SDK reads specs there
    for `list_jumpstart_models` filters). An S3 failure is logged: the server still starts."""
    root = export_specs(home_export_dir())
    bucket = os.environ.get(CONTENT_BUCKET_ENV)
    if bucket:
        try:
            publish_content(root, bucket)
        except SpringboardError as exc:
            log.warning("%s", exc)
    return root


# --- the SDK's side: config file and environment ----------------------------------------

# Any ARN passes: Springboard accepts role ARNs and ignores them (there is no IAM). Giving one in
# the SDK config spares the SDK its STS/IAM look-up of "the current role".
DEFAULT_ROLE_ARN = "arn:aws:iam::111122223333:role/springboard"
SDK_CONFIG_FILE = "sagemaker-config.yaml"


def sdk_config(role_arn: str = DEFAULT_ROLE_ARN, bucket: str | None = None) -> dict[str, Any]:
    """The `sagemaker` SDK's own config file (`SAGEMAKER_USER_CONFIG_OVERRIDE`), with what
    makes it talk only to the endpoints it is given:
    - TelemetryOptOut: otherwise every SDK call also GETs an amazonaws.com URL (and asks STS
      for the account id to put in it);
    - role ARNs for training jobs, models and AutoML jobs, so no call needs
      `get_execution_role()` (STS + IAM);
    - DefaultS3Bucket, when given: `Session.default_bucket()` then skips STS (the bucket name
      is not derived from the account id) and only checks the bucket on the S3 endpoint."""
    if not re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@/-]+", role_arn):
        raise ValidationError(
            f"role ARN {role_arn!r}: must look like arn:aws:iam::<12 digits>:role/<name> (the SDK "
            "checks the shape; Springboard ignores the value)"
        )
    modules: dict[str, Any] = {"TelemetryOptOut": True}
    if bucket:
        modules["Session"] = {"DefaultS3Bucket": bucket}
    return {
        "SchemaVersion": "1.0",
        "SageMaker": {
            "PythonSDK": {"Modules": modules},
            "TrainingJob": {"RoleArn": role_arn},
            "Model": {"ExecutionRoleArn": role_arn},
            "AutoMLJobV2": {"RoleArn": role_arn},
        },
    }


def sdk_environment(
    endpoint_url: str,
    s3_endpoint_url: str | None = None,
    region: str = "us-east-1",
    directory: str | Path | None = None,
    role_arn: str = DEFAULT_ROLE_ARN,
    bucket: str | None = None,
) -> dict[str, str]:
    """Environment variables under which unchanged boto3 / `sagemaker` SDK code talks to a
    Springboard server at `endpoint_url` (and S3 at `s3_endpoint_url`, when given). Exports the
    catalog and writes the SDK config file into `directory` (default SPRINGBOARD_HOME/jumpstart).
    With a `bucket`, the export is also published there as the SDK's JumpStart content bucket
    (`publish_content`, through this process's S3 settings, which must name the same store as
    `s3_endpoint_url`)."""
    import yaml

    root = export_specs(directory if directory is not None else home_export_dir())
    if bucket:
        publish_content(root, bucket)
    config_path = root / SDK_CONFIG_FILE
    tmp = config_path.with_name(f".{config_path.name}.{os.getpid()}.tmp")
    tmp.write_text(yaml.safe_dump(sdk_config(role_arn, bucket), sort_keys=False))
    tmp.replace(config_path)
    env = {
        "AWS_ENDPOINT_URL_SAGEMAKER": endpoint_url,
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": endpoint_url,
        # CloudWatch Logs: the server answers DescribeLogStreams/GetLogEvents over the job logs,
        # which the SDK tails while it waits for a training or transform job.
        "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": endpoint_url,  # the service id is "CloudWatch Logs"
        # CloudWatch metrics: GetMetricStatistics/ListMetrics over the jobs' metrics, which
        # TrainingJobAnalytics reads.
        "AWS_ENDPOINT_URL_CLOUDWATCH": endpoint_url,
        MANIFEST_ENV: str(root),
        SPECS_ENV: str(root),
        "SAGEMAKER_USER_CONFIG_OVERRIDE": str(config_path),
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
    }
    if s3_endpoint_url:
        env["AWS_ENDPOINT_URL_S3"] = s3_endpoint_url
    if bucket:
        env[CONTENT_BUCKET_ENV] = bucket
    return env


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)
