"""SDK: `AutoMLV2` as in the SageMaker Python SDK (`sagemaker.automl.automlv2`), plus
`AutoMLV2.from_request(dict | path)` for a CreateAutoMLJobV2 request as written for boto3.

    automl = AutoMLV2(
        problem_config=AutoMLTextGenerationConfig(base_model_name="smollm2-135m-instruct",
                                                  text_generation_hyper_params={"epochCount": "1"}),
        output_path="./automl-out",
    )
    automl.fit(AutoMLDataChannel(s3_data_type="S3Prefix", s3_uri="train.csv",
                                 content_type="text/csv;header=present"), job_name="my-job")
    automl.best_candidate()["FinalAutoMLJobObjectiveMetric"]
    predictor = automl.deploy()
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from springboard import jobs
from springboard.automl.request import CreateAutoMLJobV2Request, load_request, parse_request
from springboard.errors import NotFoundError, SpringboardError, ValidationError
from springboard.sdk.arguments import refuse_unknown_kwargs


@dataclass
class AutoMLTextGenerationConfig:
    base_model_name: str | None = None
    accept_eula: bool | None = None
    text_generation_hyper_params: dict[str, str] | None = None
    max_candidates: int | None = None
    max_runtime_per_training_job_in_seconds: int | None = None
    max_total_job_runtime_in_seconds: int | None = None
    # Springboard extension: TextGenerationJobConfig.CandidateGenerationConfig, as a dict.
    candidate_generation_config: dict[str, Any] | None = None

    def to_request_dict(self) -> dict[str, Any]:
        config: dict[str, Any] = {}
        criteria = {
            k: v
            for k, v in {
                "MaxCandidates": self.max_candidates,
                "MaxRuntimePerTrainingJobInSeconds": self.max_runtime_per_training_job_in_seconds,
                "MaxAutoMLJobRuntimeInSeconds": self.max_total_job_runtime_in_seconds,
            }.items()
            if v is not None
        }
        if criteria:
            config["CompletionCriteria"] = criteria
        if self.base_model_name is not None:
            config["BaseModelName"] = self.base_model_name
        if self.accept_eula is not None:
            config["ModelAccessConfig"] = {"AcceptEula": self.accept_eula}
        if self.text_generation_hyper_params is not None:
            config["TextGenerationHyperParameters"] = self.text_generation_hyper_params
        if self.candidate_generation_config is not None:
            config["CandidateGenerationConfig"] = self.candidate_generation_config
        return {"TextGenerationJobConfig": config}


@dataclass
class AutoMLDataChannel:
    s3_data_type: str = "S3Prefix"
    s3_uri: str = ""
    channel_type: str | None = None
    compression_type: str | None = None
    content_type: str | None = None

    def to_request_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"DataSource": {"S3DataSource": {"S3DataType": self.s3_data_type, "S3Uri": str(self.s3_uri)}}}
        if self.channel_type:
            out["ChannelType"] = self.channel_type
        if self.compression_type:
            out["CompressionType"] = self.compression_type
        if self.content_type:
            out["ContentType"] = self.content_type
        return out


# SageMaker AutoMLV2 arguments about AWS infrastructure: meaningless on one machine.
AUTOML_INFRASTRUCTURE_ARGS = frozenset({
    "role", "sagemaker_session", "volume_kms_key", "output_kms_key", "encrypt_inter_container_traffic",
    "vpc_config", "tags",
})


class AutoMLV2:
    """An AutoML text-generation job: configure, `fit`, then inspect and deploy its best candidate.
    SageMaker's infrastructure arguments (`role`, `sagemaker_session`, KMS keys, VPC, tags) are
    accepted and have no effect on one machine; any other unknown keyword is refused."""

    def __init__(
        self,
        problem_config: AutoMLTextGenerationConfig | None = None,
        base_job_name: str | None = None,
        output_path: str | None = None,
        job_objective: dict[str, str] | None = None,
        validation_fraction: float | None = None,
        auto_generate_endpoint_name: bool | None = None,
        endpoint_name: str | None = None,
        **sagemaker_args: Any,
    ) -> None:
        refuse_unknown_kwargs(
            "AutoMLV2", sagemaker_args,
            ["problem_config", "base_job_name", "output_path", "job_objective", "validation_fraction",
             "auto_generate_endpoint_name", "endpoint_name"],
            AUTOML_INFRASTRUCTURE_ARGS,
        )
        self.problem_config = problem_config or AutoMLTextGenerationConfig()
        self.base_job_name = base_job_name
        self.output_path = output_path
        self.job_objective = job_objective
        self.validation_fraction = validation_fraction
        self.auto_generate_endpoint_name = auto_generate_endpoint_name
        self.endpoint_name = endpoint_name
        self.current_job_name: str | None = None
        self._request: CreateAutoMLJobV2Request | None = None

    @classmethod
    def from_request(cls, request: dict[str, Any] | str | Path) -> AutoMLV2:
        """An AutoMLV2 whose `fit()` (no arguments needed) submits this exact request."""
        req = load_request(request) if isinstance(request, (str, Path)) else parse_request(request)
        obj = cls()
        obj._request = req
        obj.current_job_name = None
        return obj

    @classmethod
    def attach(cls, auto_ml_job_name: str) -> AutoMLV2:
        """An AutoMLV2 for an existing job."""
        from springboard.automl.job import get_automl_job

        get_automl_job(auto_ml_job_name)
        obj = cls()
        obj.current_job_name = auto_ml_job_name
        return obj

    def build_request(self, inputs: Any, job_name: str | None = None) -> dict[str, Any]:
        channels = inputs if isinstance(inputs, list) else [inputs]
        request: dict[str, Any] = {
            "AutoMLJobName": job_name or jobs.default_name(self.base_job_name or "automl", max_length=32, short=True),
            "AutoMLJobInputDataConfig": [
                c.to_request_dict() if isinstance(c, AutoMLDataChannel)
                else AutoMLDataChannel(s3_uri=str(c), content_type=None).to_request_dict()
                for c in channels
            ],
            "AutoMLProblemTypeConfig": self.problem_config.to_request_dict(),
        }
        if self.output_path:
            request["OutputDataConfig"] = {"S3OutputPath": str(self.output_path)}
        if self.job_objective:
            request["AutoMLJobObjective"] = dict(self.job_objective)
        if self.validation_fraction is not None:
            request["DataSplitConfig"] = {"ValidationFraction": self.validation_fraction}
        deploy = {k: v for k, v in {"AutoGenerateEndpointName": self.auto_generate_endpoint_name,
                                    "EndpointName": self.endpoint_name}.items() if v is not None}
        if deploy:
            request["ModelDeployConfig"] = deploy
        return request

    def fit(self, inputs: Any = None, wait: bool = True, logs: bool = True, job_name: str | None = None) -> None:
        """Submits the job (from `inputs` — AutoMLDataChannel(s) or paths — or the request given
        to `from_request`) and, with wait=True, waits for it; a Failed job raises its reason."""
        from springboard.automl.job import create_auto_ml_job_v2

        if self._request is not None and inputs is None:
            request: Any = self._request
            if job_name:
                request = parse_request({**self._request.to_dict(), "AutoMLJobName": job_name})
        elif inputs is None:
            raise ValidationError("fit() needs inputs: an AutoMLDataChannel, a list of them, or a data path")
        else:
            request = self.build_request(inputs, job_name)
        job = create_auto_ml_job_v2(request)
        self.current_job_name = job.name
        if wait:
            self.wait(logs=logs)

    def wait(self, logs: bool = True):
        if logs:
            job = jobs.watch(self._name(), poll=2.0)
        else:
            job = jobs.wait_for(self._name())
        if job.status == "Failed":
            raise SpringboardError(f"AutoML job {job.name} failed: {job.failure_reason}")
        return job

    def _name(self, job_name: str | None = None) -> str:
        name = job_name or self.current_job_name
        if not name:
            raise NotFoundError("no AutoML job yet: call fit() first, or AutoMLV2.attach(name)")
        return name

    def describe_auto_ml_job(self, job_name: str | None = None) -> dict[str, Any]:
        from springboard.automl.describe import describe_auto_ml_job_v2

        return describe_auto_ml_job_v2(self._name(job_name))

    describe = describe_auto_ml_job

    def best_candidate(self, job_name: str | None = None) -> dict[str, Any]:
        best = self.describe_auto_ml_job(job_name).get("BestCandidate")
        if best is None:
            raise NotFoundError(f"AutoML job {self._name(job_name)} has no best candidate (yet)")
        return best

    def list_candidates(self, job_name: str | None = None, status_equals: str | None = None,
                        candidate_name: str | None = None, sort_order: str | None = None,
                        sort_by: str | None = None, max_results: int | None = None,
                        candidate_arn: str | None = None) -> list[dict[str, Any]]:
        """SageMaker's arguments; `candidate_arn` filters like `candidate_name` (an ARN ends in
        the lowercased name)."""
        from springboard.automl.describe import list_candidates_for_auto_ml_job

        found = list_candidates_for_auto_ml_job(
            self._name(job_name), status_equals, candidate_name, sort_by, sort_order, max_results  # type: ignore[arg-type]
        )["Candidates"]
        if candidate_arn:
            wanted = candidate_arn.rsplit("/", 1)[-1].lower()
            found = [c for c in found if c["CandidateName"].lower() == wanted]
        return found

    def stop(self, job_name: str | None = None) -> None:
        from springboard.automl.job import stop_auto_ml_job

        stop_auto_ml_job(self._name(job_name))

    def deploy(self, initial_instance_count: int | None = None, instance_type: str | None = None,
               candidate: dict[str, Any] | None = None, endpoint_name: str | None = None,
               wait: bool = True, **kwargs: Any):
        """Deploys a candidate (default: the best) and returns a Predictor."""
        from springboard.sdk.model import Model

        chosen = candidate or self.best_candidate()
        containers = chosen.get("InferenceContainers") or []
        if not containers:
            raise NotFoundError(f"candidate {chosen.get('CandidateName')} has no model")
        from springboard import jobs

        # The local artifact (the training job's output) serves; ModelDataUrl may be a remote copy.
        artifact = jobs.JobStore().get(chosen["CandidateName"]).output_dir
        return Model(model_data=artifact, name=self._name()).deploy(endpoint_name=endpoint_name, wait=wait, **kwargs)
