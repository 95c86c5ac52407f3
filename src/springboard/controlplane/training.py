"""Training jobs: CreateTrainingJob submits the same training job `springboard train` does (one
store, one runner); Describe/List/Stop read and drive that job.

Mapping:
- channels: `training` (or `train`), `validation` and `test` (evaluated after training) are the data; `model` is the base
  model (resolve.py); no `model` channel: the JumpStart tag names the catalog model. `code` (the
  SDK's training script, which every JumpStartEstimator sends) is recorded and not run:
  Springboard's own training loop does the work the script would.
- HyperParameters: strings, validated by the model family's schema. The SDK's own `sagemaker_*`
  keys (script location, log level, ...) configure SageMaker's training toolkit, which
  Springboard replaces: they are kept in the description and not passed to the schema. A value
  the SDK JSON-quoted (`'"3"'`, as framework estimators send) is unquoted.
- ResourceConfig.InstanceCount: the number of training processes (`accelerate launch` when
  more than one); InstanceType is recorded (the device is what this machine has).
- OutputDataConfig.S3OutputPath: on S3 the artifact is published as
  `<path>/<job>/output/model.tar.gz` (ModelArtifacts.S3ModelArtifacts points there), or with
  CompressionType NONE as the prefix `<path>/<job>/output/model/`; a local path gets the
  directory `<path>/<job>/output/model`.
- AlgorithmSpecification.MetricDefinitions: each regex runs over the job's log; the last match's
  first group is the metric's final value (FinalMetricDataList), as SageMaker does with the
  container's logs. Without definitions, the job's own final metrics are listed.
- StoppingCondition.MaxRuntimeInSeconds: the job's runner asks a job running longer to stop
  (secondary status MaxRuntimeExceeded; jobs/worker.py), as for every kind of job.
- RoleArn, images, VPC, checkpoint and debugger settings are recorded and have no effect."""

from __future__ import annotations

import json
import re
from typing import Any

from springboard import jobs, storage
from springboard.controlplane import resolve
from springboard.controlplane.registry import Context, operation
from springboard.controlplane.common import listing, tags_of
from springboard.controlplane.protocol import AwsError, arn, not_found, validation
from springboard.errors import NotFoundError

KIND = "training"
DATA_CHANNELS = {"training": "train", "train": "train", "validation": "validation", "test": "test"}


def model_artifacts(job: jobs.Job) -> str:
    path = job.config.get("output_path")
    if not path:
        return job.output_dir
    if storage.is_remote(path) and job.config.get("output_compression", "gzip") == "gzip":
        return storage.join(path, job.name, "output", "model.tar.gz")
    return storage.join(path, job.name, "output", "model")


def split_hyperparameters(values: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(the model's hyperparameters, the SDK's sagemaker_* keys)."""
    model: dict[str, str] = {}
    sdk: dict[str, str] = {}
    for key, value in values.items():
        if key.startswith("sagemaker_"):
            sdk[key] = value
            continue
        if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
            try:
                decoded = json.loads(value)
            except ValueError:
                decoded = None
            if isinstance(decoded, str):
                value = decoded
        model[key] = value
    return model, sdk


def _channel_uri(channel: dict[str, Any]) -> str:
    source = channel["DataSource"]
    if "S3DataSource" not in source:
        kind = next(iter(source), "?")
        raise validation(f"channel {channel['ChannelName']!r}: Springboard reads S3DataSource locations "
                         f"(s3://, file:// or a path), not {kind}")
    return source["S3DataSource"]["S3Uri"]


@operation("CreateTrainingJob")
def create_training_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    from springboard.train.job import TrainingJobConfig

    name = params["TrainingJobName"]
    store = jobs.JobStore()
    if store.exists(name):
        raise AwsError("ResourceInUse", f"Training job names must be unique within an AWS account and region, "
                       f"and a training job with this name already exists ({arn('training-job', name)})")
    tags = tags_of(params)
    data: dict[str, str] = {}
    model_channel: str | None = None
    for channel in params.get("InputDataConfig") or []:
        cname = channel["ChannelName"]
        if cname == "model":
            model_channel = _channel_uri(channel)
            continue
        if cname == "code":
            continue  # the SDK's training script (source_dir): Springboard's own loop trains instead
        role = DATA_CHANNELS.get(cname)
        if role is None:
            raise validation(f"channel {cname!r}: Springboard reads channels training (or train), validation "
                             "(or test) and model (the base model)")
        if role in data:
            raise validation(f"channel {cname!r}: a {role} channel was already given")
        data[role] = _channel_uri(channel)
    if "train" not in data:
        raise validation("InputDataConfig: Springboard needs a 'training' channel with the training data")
    model = resolve.model_reference(
        model_channel, tags, params.get("Environment"),
        f"CreateTrainingJob {name} (channel 'model')",
    )
    hyperparameters, _sdk = split_hyperparameters(params.get("HyperParameters") or {})
    resources = params["ResourceConfig"]
    if resources.get("InstanceGroups"):
        raise validation("ResourceConfig.InstanceGroups: Springboard takes InstanceType and InstanceCount")
    from springboard.train.distributed import processes_from_instance_count

    processes = processes_from_instance_count(resources.get("InstanceCount", 1), "ResourceConfig.InstanceCount")
    env = params.get("Environment") or {}
    config = TrainingJobConfig(
        model=model,
        train=data["train"],
        validation=data.get("validation"),
        test=data.get("test"),
        hyperparameters=hyperparameters,
        output_path=params["OutputDataConfig"]["S3OutputPath"],
        output_compression="none" if params["OutputDataConfig"].get("CompressionType") == "NONE" else "gzip",
        accept_eula=str(env.get("accept_eula", "")).lower() == "true",
        processes=processes,
    )
    # The request is recorded in the job's own creating transaction: a concurrent create of the
    # same name that loses writes nothing (and so cannot remove the winner's StoppingCondition).
    request = {k: v for k, v in params.items() if k != "Tags"}
    jobs.submit(config, name=name, max_runtime=(params.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds"),
                also=ctx.records.put_in("training-job", name, {"request": request}))
    ctx.records.add_tags("training-job", name, tags)
    return {"TrainingJobArn": arn("training-job", name)}


def get_training_job(ctx: Context, name: str) -> jobs.Job:
    try:
        job = jobs.refresh(name)
    except NotFoundError:
        job = None
    if job is None or job.kind != KIND:
        raise not_found(f"Requested resource not found: training job {name!r} ({arn('training-job', name)})")
    return job


def training_request(ctx: Context, job: jobs.Job) -> dict[str, Any]:
    """The SageMaker request the job was made with, or one written from a CLI/SDK job's config."""
    found = ctx.records.get("training-job", job.name)
    if found is not None:
        return found.data["request"]
    config = job.config
    channels = [{"ChannelName": "training", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": config["train"]}}}]
    for name in ("validation", "test"):
        if config.get(name):
            channels.append({"ChannelName": name,
                             "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": config[name]}}})
    return {
        "AlgorithmSpecification": {"TrainingInputMode": "File", "TrainingImage": f"springboard:{config['model']}"},
        "HyperParameters": config.get("hyperparameters") or {},
        "InputDataConfig": channels,
        "OutputDataConfig": {"S3OutputPath": config.get("output_path") or job.output_dir},
        "ResourceConfig": {"InstanceCount": config.get("processes", 1), "VolumeSizeInGB": 0},
        "StoppingCondition": {"MaxRuntimeInSeconds": int(job.max_runtime)} if job.max_runtime else {},
    }


def final_metrics(ctx: Context, job: jobs.Job, definitions: list[dict[str, str]]) -> list[dict[str, Any]]:
    """FinalMetricDataList: the last value each MetricDefinitions regex finds in the job's log,
    or, without definitions, the last value of each metric the job recorded."""
    if not definitions:
        last: dict[str, dict[str, Any]] = {}
        for m in jobs.JobStore().metrics(job.name):
            last[m.name] = {"MetricName": m.name, "Value": m.value, "Timestamp": m.timestamp}
        return list(last.values())
    try:
        text = job.log_path.read_text(encoding="utf-8", errors="replace")
        stamp = job.log_path.stat().st_mtime
    except OSError:
        return []
    out = []
    for definition in definitions:
        try:
            pattern = re.compile(definition["Regex"])
        except re.error as exc:
            raise validation(f"MetricDefinitions {definition['Name']!r}: bad regex: {exc}") from None
        value = None
        for match in pattern.finditer(text):
            try:
                value = float(match.group(1) if pattern.groups else match.group(0))
            except (ValueError, IndexError):
                continue
        if value is not None:
            out.append({"MetricName": definition["Name"], "Value": value, "Timestamp": stamp})
    return out


@operation("DescribeTrainingJob")
def describe_training_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    job = get_training_job(ctx, params["TrainingJobName"])
    request = training_request(ctx, job)
    definitions = (request.get("AlgorithmSpecification") or {}).get("MetricDefinitions") or []
    out = {
        **request,
        "TrainingJobName": job.name,
        "TrainingJobArn": arn("training-job", job.name),
        "ModelArtifacts": {"S3ModelArtifacts": model_artifacts(job)},
        "TrainingJobStatus": job.status,
        "SecondaryStatus": job.secondary_status,
        "FailureReason": job.failure_reason,
        "CreationTime": job.creation_time,
        "TrainingStartTime": job.start_time,
        "TrainingEndTime": job.end_time,
        "LastModifiedTime": job.last_modified_time,
        "SecondaryStatusTransitions": [
            {"Status": t.status, "StartTime": t.start_time, "EndTime": t.end_time, "StatusMessage": t.message}
            for t in job.transitions
        ],
        "FinalMetricDataList": final_metrics(ctx, job, definitions),
    }
    if job.start_time and job.end_time:
        out["TrainingTimeInSeconds"] = int(job.end_time - job.start_time)
    return out


@operation("StopTrainingJob")
def stop_training_job(ctx: Context, params: dict[str, Any]) -> None:
    job = get_training_job(ctx, params["TrainingJobName"])
    if job.done:
        raise validation(f"The training job {job.name} is {job.status} and cannot be stopped.")
    jobs.JobStore().request_stop(job.name)


@operation("ListTrainingJobs")
def list_training_jobs(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    items = []
    for job in jobs.JobStore().list(kind=KIND):
        job = jobs.refresh(job.name)
        items.append({
            "TrainingJobName": job.name,
            "TrainingJobArn": arn("training-job", job.name),
            "CreationTime": job.creation_time,
            "TrainingEndTime": job.end_time,
            "LastModifiedTime": job.last_modified_time,
            "TrainingJobStatus": job.status,
            "SecondaryStatus": job.secondary_status,
        })
    page, token = listing(items, params, name_key="TrainingJobName", status_key="TrainingJobStatus")
    return {"TrainingJobSummaries": page, "NextToken": token}
