"""`Transformer`, shaped like `sagemaker.transformer.Transformer`:

    transformer = model.transformer(instance_count=1, output_path="out/", assemble_with="Line",
                                    max_payload=1, env={"HYPER_PARAMS": str(params)})
    transformer.transform("articles.jsonl", content_type="application/jsonlines", split_type="Line")
    transformer.wait()
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from springboard import jobs, settings
from springboard.errors import ValidationError
from springboard.jobs import Job, follow_log, refresh, stop, validate_name, wait_for
from springboard.sdk.arguments import refuse_unknown_kwargs
from springboard.transform.api import transform_config


# Arguments of sagemaker.transformer.Transformer that concern AWS accounts, not the transform.
AWS_ONLY = frozenset({
    "tags", "output_kms_key", "volume_kms_key", "sagemaker_session", "experiment_config",
    "model_client_config", "batch_data_capture_config", "vpc_config", "enable_network_isolation",
})


class Transformer:
    def __init__(
        self,
        model_name: str,
        instance_count: int = 1,
        instance_type: str | None = None,
        strategy: str | None = None,
        assemble_with: str | None = None,
        output_path: str | None = None,
        accept: str | None = None,
        max_concurrent_transforms: int | None = None,
        max_payload: float | None = None,
        env: dict[str, str] | None = None,
        base_transform_job_name: str | None = None,
        **aws_only: Any,
    ) -> None:
        """`model_name`: a hub model id, training job name or artifact path. `instance_count`:
        workers on this machine, each with its own model. `max_concurrent_transforms`: batches
        each worker has in flight (on a causal model their records share one continuous batch).
        `instance_type` is recorded only; the AWS-only arguments in `AWS_ONLY` (tags, KMS keys,
        a session) have no local meaning. Any other keyword is an error."""
        refuse_unknown_kwargs("Transformer", aws_only, [
            "model_name", "instance_count", "instance_type", "strategy", "assemble_with", "output_path",
            "accept", "max_concurrent_transforms", "max_payload", "env", "base_transform_job_name"], AWS_ONLY)
        self.model_name = model_name
        self.instance_count = instance_count
        self.instance_type = instance_type
        self.strategy = strategy
        self.assemble_with = assemble_with
        self.output_path = output_path
        self.accept = accept
        self.max_payload = max_payload
        self.max_concurrent_transforms = max_concurrent_transforms
        self.env = dict(env or {})
        self.base_transform_job_name = base_transform_job_name
        self.latest_transform_job: str | None = None

    def transform(
        self,
        data: str | Path,
        data_type: str = "S3Prefix",
        content_type: str | None = None,
        compression_type: str | None = None,
        split_type: str | None = None,
        job_name: str | None = None,
        input_filter: str | None = None,
        output_filter: str | None = None,
        join_source: str | None = None,
        wait: bool = True,
        logs: bool = True,
        on_error: str = "fail",
        **aws_only: Any,
    ) -> None:
        """Starts the job over `data` (a file, a directory or an s3:// prefix). As in the
        SageMaker SDK it waits by default (`wait=False` returns at once; call `.wait()` later).
        `on_error`: "fail" (SageMaker's: a file with a failed record gets no .out, the job ends
        Failed) or "error_line" (a failed record gets an error line). `instance_count` (set on
        the Transformer) runs that many workers, each with its own model."""
        refuse_unknown_kwargs("Transformer.transform", aws_only, [
            "data", "data_type", "content_type", "compression_type", "split_type", "job_name",
            "input_filter", "output_filter", "join_source", "wait", "logs", "on_error"], AWS_ONLY)
        if compression_type not in (None, "None"):
            raise ValidationError(f"compression_type {compression_type!r} is not supported")
        name = job_name or jobs.default_name(self.base_transform_job_name or self.model_name)
        validate_name(name)
        if self.output_path is None:
            self.output_path = str(settings.jobs_dir() / name / "output")
        knobs: dict[str, Any] = {
            "content_type": content_type,
            "split_type": split_type,
            "batch_strategy": self.strategy,
            "max_payload": self.max_payload,
            "assemble_with": self.assemble_with,
            "accept": self.accept,
            "input_filter": input_filter,
            "output_filter": output_filter,
            "join_source": join_source,
            "instance_count": self.instance_count,
            "max_concurrent_transforms": self.max_concurrent_transforms,
        }
        config = transform_config(self.model_name, data, self.output_path, env=self.env, on_error=on_error,
                                  **{k: v for k, v in knobs.items() if v is not None})
        job = jobs.submit(config, name=name)
        self.latest_transform_job = job.name
        if wait:
            self.wait(logs=logs)

    def wait(self, logs: bool = True) -> Job:
        """Blocks until the latest job ends; `logs` prints its log as it is written."""
        name = self._latest()
        if logs:
            for line in follow_log(refresh(name)):
                print(line, file=sys.stdout, flush=True)
            return refresh(name)
        return wait_for(name, poll=0.5)

    def stop_transform_job(self, wait: bool = True) -> Job:
        return stop(self._latest())

    def describe(self) -> dict[str, Any]:
        return refresh(self._latest()).describe()

    def _latest(self) -> str:
        if not self.latest_transform_job:
            raise ValidationError("no transform job started yet; call transform() first")
        return self.latest_transform_job
