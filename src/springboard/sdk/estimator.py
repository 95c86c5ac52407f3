"""The training SDK, shaped like SageMaker's JumpStartEstimator and TrainingJobAnalytics so
notebook code carries over:

    est = Estimator(model_id="smollm2-135m-instruct", hyperparameters={"epoch": "1"})
    est.fit({"training": "data/train"}, wait=False)
    TrainingJobAnalytics(est.latest_training_job.name).dataframe()
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from springboard import jobs
from springboard.errors import SpringboardError, ValidationError
from springboard.sdk.arguments import refuse_unknown_kwargs
from springboard.train import hyperparameters  # noqa: F401  (SDK surface: hyperparameters.retrieve_default)
from springboard.train.job import TrainingJobConfig

# SageMaker arguments that describe AWS infrastructure (IAM, networking, encryption, storage,
# sessions). They have no meaning on one machine, so they are accepted and documented as such;
# any other unknown keyword is refused, so a misspelling is never silently ignored.
SAGEMAKER_INFRASTRUCTURE_ARGS = frozenset({
    "role", "instance_type", "sagemaker_session", "volume_size", "volume_kms_key", "output_kms_key",
    "tags", "subnets", "security_group_ids", "enable_network_isolation", "encrypt_inter_container_traffic",
    "disable_output_compression", "tolerate_vulnerable_model", "tolerate_deprecated_model", "region",
    "container_log_level", "keep_alive_period_in_seconds", "enable_sagemaker_metrics", "disable_profiler",
    "metric_definitions",
})


class TrainingJob:
    """Handle on a submitted training job (SageMaker's `estimator.latest_training_job`)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.job_name = name

    def describe(self) -> dict[str, Any]:
        job = jobs.refresh(self.name)
        out = job.describe()
        out["TrainingJobName"] = job.name
        out["TrainingJobStatus"] = job.status
        out["ModelArtifacts"] = {"S3ModelArtifacts": job.output_dir}
        out["FinalMetricDataList"] = _final_metrics(job.name)
        return out

    def wait(self, logs: bool = False) -> jobs.Job:
        if logs:
            for line in jobs.follow_log(jobs.JobStore().get(self.name)):
                print(line, flush=True)
        return jobs.wait_for(self.name)

    def stop(self) -> jobs.Job:
        return jobs.stop(self.name)


class Estimator:
    """Fine-tunes a hub model (or a path, or an earlier job's artifact)."""

    def __init__(
        self,
        model_id: str,
        model_version: str = "*",
        hyperparameters: dict[str, Any] | None = None,
        environment: dict[str, str] | None = None,
        output_path: str | None = None,
        base_job_name: str | None = None,
        instance_type: str | None = None,
        instance_count: int = 1,
        max_run: int | None = None,
        **sagemaker_args: Any,
    ) -> None:
        refuse_unknown_kwargs(
            "Estimator", sagemaker_args,
            ["model_id", "model_version", "hyperparameters", "environment", "output_path", "base_job_name",
             "instance_type", "instance_count", "max_run"],
            SAGEMAKER_INFRASTRUCTURE_ARGS,
        )
        # instance_type is accepted so SageMaker code runs unchanged; resources are this machine.
        # instance_count is the number of training processes (data-parallel, accelerate launch).
        from springboard.train.distributed import processes_from_instance_count

        self.instance_count = processes_from_instance_count(instance_count, "instance_count")
        self.model_id = model_id
        self.model_version = model_version
        self.hyperparameters = {k: str(v) for k, v in (hyperparameters or {}).items()}
        self.environment = dict(environment or {})
        self.output_path = output_path
        self.base_job_name = base_job_name
        self.max_run = max_run  # seconds: the job's MaxRuntimeInSeconds (SageMaker's default, 24 h, is no limit here)
        self.latest_training_job: TrainingJob | None = None

    def set_hyperparameters(self, **values: Any) -> None:
        self.hyperparameters.update({k: str(v) for k, v in values.items()})

    def fit(
        self,
        inputs: dict[str, str] | str,
        wait: bool = True,
        logs: bool = True,
        job_name: str | None = None,
    ) -> TrainingJob:
        """Channels: `training` (or `train`), optional `validation` and `test` (evaluated after
        training: test_loss and test_perplexity in the job's metrics and the artifact)."""
        channels = {"training": inputs} if isinstance(inputs, (str, Path)) else dict(inputs)
        unknown = set(channels) - {"training", "validation", "train", "test"}
        if unknown or not ({"training", "train"} & set(channels)):
            raise ValidationError(
                "inputs must have a 'training' channel and optionally 'validation' and 'test'; "
                f"got {sorted(channels)}"
            )
        config = TrainingJobConfig(
            model=self.model_id,
            train=str(channels.get("training") or channels.get("train")),
            validation=str(channels["validation"]) if channels.get("validation") else None,
            test=str(channels["test"]) if channels.get("test") else None,
            hyperparameters=self.hyperparameters,
            output_path=self.output_path,
            accept_eula=str(self.environment.get("accept_eula", "false")).lower() == "true",
            processes=self.instance_count,
        )
        name = job_name or (jobs.default_name(self.base_job_name) if self.base_job_name else None)
        job = jobs.submit(config, name=name, max_runtime=self.max_run)
        self.latest_training_job = TrainingJob(job.name)
        if wait:
            done = self.latest_training_job.wait(logs=logs)
            if done.status == "Failed":
                raise SpringboardError(f"training job {done.name} failed: {done.failure_reason}")
        return self.latest_training_job

    @property
    def model_data(self) -> str:
        """The artifact directory of the latest job."""
        return jobs.JobStore().get(self._job_name()).output_dir

    def _job_name(self) -> str:
        if self.latest_training_job is None:
            raise ValidationError("no training job yet: call fit() first")
        return self.latest_training_job.name

    def deploy(self, endpoint_name: str | None = None, **kwargs: Any):
        """Deploys the fine-tuned model behind an endpoint named `endpoint_name`, by default
        the training job's name (as SageMaker); returns a Predictor."""
        job = jobs.wait_for(self._job_name())
        if job.status != "Completed":
            raise ValidationError(f"training job {job.name} is {job.status}; only a completed job can be deployed")
        from springboard.sdk.model import Model

        return Model(model_data=job.output_dir).deploy(endpoint_name=endpoint_name or job.name, **kwargs)

    @classmethod
    def attach(cls, training_job_name: str) -> Estimator:
        job = jobs.JobStore().get(training_job_name)
        est = cls(
            model_id=job.config["model"], hyperparameters=job.config.get("hyperparameters"),
            output_path=job.config.get("output_path"), instance_count=job.config.get("processes", 1),
            environment={"accept_eula": "true"} if job.config.get("accept_eula") else None,
            max_run=int(job.max_runtime) if job.max_runtime else None,
        )
        est.latest_training_job = TrainingJob(job.name)
        return est


class TrainingJobAnalytics:
    """A job's metric series as a pandas DataFrame: one row per metric point, columns
    `timestamp` (seconds since the job started, as SageMaker), `metric_name`, `value`, plus
    `step` and `epoch`."""

    def __init__(self, training_job_name: str, metric_names: list[str] | None = None) -> None:
        self.name = training_job_name
        self.metric_names = metric_names
        jobs.JobStore().get(training_job_name)

    def dataframe(self, force_refresh: bool = False):
        import pandas as pd

        store = jobs.JobStore()
        job = store.get(self.name)
        rows = store.metrics(self.name)
        if self.metric_names:
            rows = [r for r in rows if r.name in self.metric_names]
        start = job.start_time or job.creation_time
        return pd.DataFrame(
            {
                "timestamp": [r.timestamp - start for r in rows],
                "metric_name": [r.name for r in rows],
                "value": [r.value for r in rows],
                "step": pd.array([r.step for r in rows], dtype="Int64"),
                "epoch": [r.epoch for r in rows],
            },
            columns=["timestamp", "metric_name", "value", "step", "epoch"],
        )


def _final_metrics(name: str) -> list[dict[str, Any]]:
    last: dict[str, Any] = {}
    for m in jobs.JobStore().metrics(name):
        last[m.name] = {"MetricName": m.name, "Value": m.value, "Timestamp": m.timestamp}
    return list(last.values())
