"""The SageMaker control plane (`sagemaker` service, JSON 1.1, `POST /` with
`X-Amz-Target: SageMaker.<Operation>`) as an adapter over the rooms: the job store and runner,
the endpoint registry, the hub. One module per resource family; `router` is what the
composition root (springboard.app) mounts beside the runtime routes. It also carries the
runtime's InvokeEndpointAsync, whose output configuration lives in an EndpointConfig."""

from springboard.controlplane.api import OPERATIONS, router
from springboard.controlplane.async_inference import router as _async_router
from springboard.controlplane import logs as _logs  # noqa: F401 - registers Logs_20140328 on POST /
from springboard.controlplane import metrics as _metrics  # noqa: F401 - CloudWatch GetMetricStatistics/ListMetrics

router.include_router(_async_router)

__all__ = ["OPERATIONS", "router"]
