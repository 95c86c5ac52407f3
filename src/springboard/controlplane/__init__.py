"""The SageMaker control plane (`sagemaker` service, JSON 1.1, `POST /` with
`X-Amz-Target: SageMaker.<Operation>`) as an adapter over the rooms: the job store and runner,
the endpoint registry, the hub. One module per resource family; `router` is what the
composition root (springboard.app) mounts beside the runtime routes."""

from springboard.controlplane.api import OPERATIONS, router

__all__ = ["OPERATIONS", "router"]
