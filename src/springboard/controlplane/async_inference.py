"""The runtime's InvokeEndpointAsync (`POST /endpoints/{name}/async-invocations`): the request
body is read from `X-Amzn-SageMaker-InputLocation`, run through the same invocation path as
InvokeEndpoint (payload adapters, EULA check, batching), and the answer is written to the
EndpointConfig's `AsyncInferenceConfig.OutputConfig.S3OutputPath` as `<InferenceId>.out`
(errors to `S3FailurePath` as `<InferenceId>-error.out`), through storage.py so s3://, file://
and local paths all work. The call answers 202 at once, as SageMaker does.
`InvocationTimeoutSeconds` bounds the model's work; `RequestTTLSeconds` has nothing to bound
here (a request is handed to the endpoint's batcher at once, there is no separate queue)."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from springboard import confinement, storage
from springboard.controlplane.resource_store import Records
from springboard.serve.routes import InvocationFailed, invoke, runtime_endpoint
from springboard.errors import AccessDeniedError, NotFoundError, SpringboardError

log = logging.getLogger("springboard.controlplane")

router = APIRouter()
_tasks: set[asyncio.Task[None]] = set()  # running inferences (kept so they are not collected)


def _error(kind: str, message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"Message": message}, status_code=status, headers={"x-amzn-errortype": kind})


def _output_config(records: Records, name: str, created: float) -> dict[str, Any] | None:
    endpoint = records.get("endpoint", name)
    if endpoint is None or endpoint.data.get("endpoint_created") != created:
        return None  # made without an EndpointConfig (CLI, SDK), or another endpoint of that name
    config = records.get("endpoint-config", endpoint.data["EndpointConfigName"])
    if config is None:
        return None
    return (config.data["request"].get("AsyncInferenceConfig") or {}).get("OutputConfig")


@router.post("/endpoints/{name}/async-invocations")
async def invoke_endpoint_async(name: str, request: Request) -> Response:
    headers = request.headers
    try:
        endpoint = runtime_endpoint(request.app.state.manager, name)
    except InvocationFailed as exc:
        return _error(exc.kind, exc.message, exc.status)
    records = await asyncio.to_thread(Records)
    output = await asyncio.to_thread(_output_config, records, endpoint.name, endpoint.record.creation_time)
    if not output or not output.get("S3OutputPath"):
        return _error("ValidationError", f"Endpoint {name} is not an asynchronous endpoint: create it from an "
                      "EndpointConfig with AsyncInferenceConfig.OutputConfig.S3OutputPath")
    source = headers.get("x-amzn-sagemaker-inputlocation")
    if not source:
        return _error("ValidationError", "InputLocation (X-Amzn-SageMaker-InputLocation) is required")
    try:
        timeout = float(headers.get("x-amzn-sagemaker-invocationtimeoutseconds") or 900)
    except ValueError:
        return _error("ValidationError", "InvocationTimeoutSeconds must be a number of seconds")
    if not 1 <= timeout <= 3600:
        return _error("ValidationError", f"InvocationTimeoutSeconds must be between 1 and 3600 (got {timeout:g})")
    try:
        source = confinement.confine(source, "InputLocation")
        found = await asyncio.to_thread(storage.exists, source)
    except AccessDeniedError as exc:
        return _error("AccessDeniedException", str(exc), 403)
    except SpringboardError as exc:
        return _error("ValidationError", f"InputLocation: {exc}")
    if not found:
        return _error("ValidationError", f"InputLocation {source} does not exist")
    inference_id = headers.get("x-amzn-sagemaker-inference-id") or str(uuid.uuid4())
    base = output["S3OutputPath"]
    if headers.get("x-amzn-sagemaker-s3outputpathextension"):
        base = storage.join(base, headers["x-amzn-sagemaker-s3outputpathextension"])
    filename = headers.get("x-amzn-sagemaker-filename")
    target = storage.join(base, filename or f"{inference_id}.out")
    failure = storage.join(output.get("S3FailurePath") or base, f"{inference_id}-error.out")
    forwarded = {
        "content-type": headers.get("x-amzn-sagemaker-content-type", "application/json"),
        "accept": headers.get("x-amzn-sagemaker-accept", "application/json"),
    }
    if headers.get("x-amzn-sagemaker-custom-attributes"):
        forwarded["x-amzn-sagemaker-custom-attributes"] = headers["x-amzn-sagemaker-custom-attributes"]
    task = asyncio.create_task(_run(request, endpoint, source, forwarded, target, failure, timeout))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return JSONResponse(
        {"InferenceId": inference_id},
        status_code=202,
        headers={"X-Amzn-SageMaker-OutputLocation": target, "X-Amzn-SageMaker-FailureLocation": failure},
    )


async def _run(request: Request, endpoint: Any, source: str, headers: dict[str, str], target: str, failure: str,
               timeout: float) -> None:
    """One asynchronous inference: the same `invoke` as InvokeEndpoint, on the stored body,
    within InvocationTimeoutSeconds (SageMaker's default 900 s)."""
    try:
        body = await asyncio.to_thread(storage.read_bytes, source)
        try:
            response = await asyncio.wait_for(
                invoke(endpoint, _replayed(request, body, headers), stream_frames=False), timeout)
        except asyncio.TimeoutError:
            await _fail(failure, "ModelInvocationTimeExceeded",
                        f"the model did not answer within InvocationTimeoutSeconds={timeout:g}")
            return
        if hasattr(response, "body_iterator"):
            chunks = [c if isinstance(c, bytes) else c.encode() async for c in response.body_iterator]
            data = b"".join(chunks)
        else:
            data = response.body
        await asyncio.to_thread(storage.write_bytes, target, data)
        log.info("async inference on %s written to %s", endpoint.name, target)
    except InvocationFailed as exc:
        await _fail(failure, exc.kind, exc.message)
    except (SpringboardError, NotFoundError, OSError) as exc:
        await _fail(failure, type(exc).__name__, str(exc))
    except Exception as exc:  # noqa: BLE001 - the caller only sees the failure file
        log.exception("async inference on %s failed", endpoint.name)
        await _fail(failure, type(exc).__name__, str(exc))


async def _fail(location: str, kind: str, message: str) -> None:
    try:
        await asyncio.to_thread(storage.write_text, location, json.dumps({"ErrorType": kind, "Message": message}))
    except Exception:  # noqa: BLE001 - nowhere left to report it
        log.exception("could not write the failure to %s", location)


def _replayed(request: Request, body: bytes, headers: dict[str, str]) -> Request:
    """A request carrying the stored body and the forwarded headers, for the runtime's path."""
    scope = {
        "type": "http",
        "method": "POST",
        "path": request.url.path,
        "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
        "query_string": b"",
        "app": request.app,
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        # No client waits on an asynchronous inference, so none goes away: the runtime's
        # until_disconnected (serve/limits.py) would take a disconnect here as an abandoned request.
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    return Request(scope, receive)
