"""SDK: `Model(...).deploy(endpoint_name=...)` → `Predictor`, as in the SageMaker Python SDK."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from springboard.errors import SpringboardError, ValidationError
from springboard.serve.registry import EndpointConfig, EndpointRecord
from springboard.serve.server import ServerClient


class Model:
    """A deployable model: a hub `model_id`, or `model_data` (an artifact directory or a
    training job's name). Instance and role arguments are accepted for SageMaker-code
    compatibility and ignored: endpoints run on this machine's endpoint server."""

    def __init__(self, model_id: str | None = None, model_data: str | Path | None = None, *,
                 name: str | None = None, role: str | None = None, instance_type: str | None = None,
                 **_ignored: Any) -> None:
        if (model_id is None) == (model_data is None):
            raise ValidationError("Model needs exactly one of model_id or model_data")
        self.model_id = model_id
        self.model_data = str(model_data) if model_data is not None else None
        self.name = name

    @property
    def ref(self) -> str:
        return self.model_id or self.model_data or ""

    def deploy(self, endpoint_name: str | None = None, initial_instance_count: int | None = None,
               instance_type: str | None = None, *, accept_eula: bool = False, wait: bool = True,
               batching: bool = True, max_batch_size: int = 16, max_wait_ms: float = 10.0,
               device: str | None = None, dtype: str | None = None, **_ignored: Any) -> Predictor:
        """Creates the endpoint (starting the server in the background if none runs) and,
        with wait=True, waits until it is InService; a Failed endpoint raises its reason."""
        name = endpoint_name or _default_name(self.name or self.ref)
        config = EndpointConfig(name=name, model=self.ref, batching=batching, max_batch_size=max_batch_size,
                                max_wait_ms=max_wait_ms, device=device, dtype=dtype, accept_eula=accept_eula)
        client = ServerClient(start=True)
        client.create(config)
        predictor = Predictor(name, client=client)
        if wait:
            record = client.wait(name)
            if record.status != "InService":
                raise SpringboardError(f"endpoint {name} {record.status}: {record.failure_reason}")
        return predictor

    def transformer(self, instance_count: int = 1, instance_type: str | None = None, **kwargs: Any):
        """A batch-transform `Transformer` for this model (SageMaker's `Model.transformer`)."""
        # Imported here: transform sits beside serve in the flow; only this SDK seam joins them.
        from springboard.transform.sdk import Transformer

        return Transformer(self.ref, instance_count=instance_count, instance_type=instance_type, **kwargs)


class Predictor:
    """Invokes one endpoint through the SageMaker runtime path (JSON in, JSON out)."""

    def __init__(self, endpoint_name: str, *, client: ServerClient | None = None, **_ignored: Any) -> None:
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


def _default_name(base: str) -> str:
    """`<model>-<timestamp>`, within SageMaker's 63-character endpoint name rule."""
    slug = re.sub(r"[^a-zA-Z0-9]+", "-", Path(base).name).strip("-") or "endpoint"
    stamp = time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime()) + f"-{int(time.time() * 1000) % 1000:03d}"
    return f"{slug[: 62 - len(stamp)].rstrip('-')}-{stamp}"
