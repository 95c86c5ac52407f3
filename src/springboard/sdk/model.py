"""SDK: `Model(...).deploy(endpoint_name=...)` → `Predictor`, as in the SageMaker Python SDK."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from springboard.errors import ValidationError
from springboard.sdk.arguments import refuse_unknown_kwargs
from springboard.serve.deploy import default_endpoint_name, deploy
from springboard.serve.registry import EndpointConfig, EndpointRecord
from springboard.serve.server import ServerClient


# SageMaker arguments about AWS infrastructure (sessions, IAM, networking, encryption, storage,
# timeouts of the managed container): meaningless on one machine, accepted without effect. Any
# other unknown keyword is refused, so a misspelling is never silently ignored.
# The container environment keys this server reads (precision, and the prompt-format switch).
CONTAINER_ENV = ("DTYPE", "QUANTIZE", "SPRINGBOARD_PROMPT_FORMAT")

INFRASTRUCTURE_ARGS = frozenset({
    "sagemaker_session", "vpc_config", "enable_network_isolation", "tags", "kms_key", "volume_size",
    "model_data_download_timeout", "container_startup_health_check_timeout", "endpoint_logging",
    "tolerate_vulnerable_model", "tolerate_deprecated_model", "region",
})


def _refuse_unknown(what: str, given: dict[str, Any], valid: list[str]) -> None:
    refuse_unknown_kwargs(what, given, valid, INFRASTRUCTURE_ARGS)


class Model:
    """A deployable model: a hub `model_id`, or `model_data` (an artifact directory or a
    training job's name). Instance, role and other AWS infrastructure arguments are accepted for
    SageMaker-code compatibility and have no effect: endpoints run on this machine's endpoint
    server. Other unknown keywords are refused. `env`: the model container's environment, the
    settings this server reads (CONTAINER_ENV); any other key is refused."""

    def __init__(self, model_id: str | None = None, model_data: str | Path | None = None, *,
                 name: str | None = None, role: str | None = None, instance_type: str | None = None,
                 env: dict[str, str] | None = None, **sagemaker_args: Any) -> None:
        _refuse_unknown("Model", sagemaker_args, ["model_id", "model_data", "name", "role", "instance_type", "env"])
        if (model_id is None) == (model_data is None):
            raise ValidationError("Model needs exactly one of model_id or model_data")
        self.env = dict(env or {})
        unknown = sorted(set(self.env) - set(CONTAINER_ENV))
        if unknown:
            raise ValidationError(f"Model env {unknown[0]!r} is not a setting this container reads "
                                  f"(one of {', '.join(CONTAINER_ENV)})")
        from springboard.generate.prompting import from_environment

        from_environment(self.env)  # a bad SPRINGBOARD_PROMPT_FORMAT fails here, naming it
        self.model_id = model_id
        self.model_data = str(model_data) if model_data is not None else None
        self.name = name

    @property
    def ref(self) -> str:
        return self.model_id or self.model_data or ""

    def deploy(self, endpoint_name: str | None = None, initial_instance_count: int | None = None,
               instance_type: str | None = None, *, accept_eula: bool = False, wait: bool = True,
               batching: bool = True, max_batch_size: int = 16, max_wait_ms: float = 10.0,
               device: str | None = None, dtype: str | None = None, quantize: str | None = None,
               adapters: dict[str, str] | None = None, **sagemaker_args: Any) -> Predictor:
        """Creates the endpoint (starting the server in the background if none runs) and,
        with wait=True, waits until it is InService; a Failed endpoint raises its reason."""
        _refuse_unknown("Model.deploy", sagemaker_args, [
            "endpoint_name", "initial_instance_count", "instance_type", "accept_eula", "wait", "batching",
            "max_batch_size", "max_wait_ms", "device", "dtype", "quantize", "adapters"])
        name = endpoint_name or default_endpoint_name(self.name or self.ref)
        config = EndpointConfig(name=name, model=self.ref, batching=batching, max_batch_size=max_batch_size,
                                max_wait_ms=max_wait_ms, device=device, dtype=dtype or self.env.get("DTYPE"),
                                quantize=quantize or self.env.get("QUANTIZE"),
                                prompt_format=self.env.get("SPRINGBOARD_PROMPT_FORMAT", "").strip().lower() or None,
                                accept_eula=accept_eula, adapters=dict(adapters or {}))
        return Predictor(name, client=deploy(config, wait=wait))

    def transformer(self, instance_count: int = 1, instance_type: str | None = None, **kwargs: Any):
        """A batch-transform `Transformer` for this model (SageMaker's `Model.transformer`)."""
        from springboard.sdk.transformer import Transformer  # loads the transform room on use

        kwargs["env"] = {**self.env, **(kwargs.get("env") or {})}  # the container's settings, then the job's
        return Transformer(self.ref, instance_count=instance_count, instance_type=instance_type, **kwargs)


class Predictor:
    """Invokes one endpoint through the SageMaker runtime path (JSON in, JSON out)."""

    def __init__(self, endpoint_name: str, *, client: ServerClient | None = None, **sagemaker_args: Any) -> None:
        _refuse_unknown("Predictor", sagemaker_args, ["endpoint_name", "client"])
        self.endpoint_name = endpoint_name
        self._client = client

    @property
    def client(self) -> ServerClient:
        if self._client is None:
            self._client = ServerClient()
        return self._client

    def predict(self, data: dict[str, Any] | list[Any] | str | bytes, custom_attributes: str | None = None,
                content_type: str | None = None, accept: str = "application/json") -> Any:
        if isinstance(data, (dict, list)):
            body, default_type = json.dumps(data).encode("utf-8"), "application/json"
        elif isinstance(data, str):
            body, default_type = data.encode("utf-8"), "application/x-text"
        else:
            body, default_type = data, "application/json"
        response = self.client.invoke(self.endpoint_name, body, content_type or default_type, accept, custom_attributes)
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.content

    def describe(self) -> EndpointRecord:
        return self.client.describe(self.endpoint_name)

    def delete_endpoint(self) -> None:
        self.client.delete(self.endpoint_name)

