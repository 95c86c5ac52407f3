"""The control plane's operation registry: what a handler module imports to register itself.

Handler modules (one per resource family) import `Context` and `operation` from here, never
from `controlplane.api`; `api` imports the handler modules once and dispatches through
`OPERATIONS` and `SERVICES`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from fastapi.responses import Response

from springboard.controlplane import protocol

CONTENT_TYPE = "application/x-amz-json-1.1"


@dataclass
class Context:
    """What a handler may use: the server's endpoint manager (the one registry) and the
    control plane's records."""

    manager: Any
    records: Any = field(default=None)

    def __post_init__(self) -> None:
        if self.records is None:
            from springboard.controlplane.resource_store import Records

            self.records = Records()


Handler = Callable[[Context, dict[str, Any]], dict[str, Any] | None]
OPERATIONS: dict[str, Handler] = {}

# Other AWS JSON services on the same `POST /`, by X-Amz-Target prefix (e.g. "Logs_20140328"):
# prefix -> handler(operation name, raw body) -> Response, run in the threadpool.
SERVICES: dict[str, Callable[[str, bytes], Response]] = {}


def operation(name: str) -> Callable[[Handler], Handler]:
    """Registers a handler for a SageMaker operation named as in botocore's model."""
    if protocol.operation(name) is None:
        raise ValueError(f"{name} is not an operation of botocore's sagemaker model")

    def register(func: Handler) -> Handler:
        OPERATIONS[name] = func
        return func

    return register
