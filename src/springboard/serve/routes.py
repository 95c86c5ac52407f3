"""The serve room's routes: SageMaker runtime paths (what boto3 `sagemaker-runtime` calls), the
single-model container contract (/ping, /invocations) and the endpoint control API the CLI and
SDK use (/springboard/endpoints). The OpenAI-compatible /v1 routes are in openai_api.py.
`springboard.app` composes these routers into the one server; handlers find the endpoints
through `request.app.state.manager`, so a router holds no state of its own."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import pydantic
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from springboard import confinement
from springboard.errors import AccessDeniedError, ConflictError, NotFoundError, SpringboardError, ValidationError
from springboard.generate import GenerationRequest
from springboard.serve import eventstream
from springboard.serve.bodies import decode_json
from springboard.serve.endpoints import Endpoint, EndpointManager, EndpointNotReady, EulaNotAccepted
from springboard.serve.limits import ClientGone, until_disconnected
from springboard.serve.payloads import (
    Invocation,
    custom_attributes,
    is_llama_style,
    parse_invocation,
    render_response,
)
from springboard.serve.tgi_format import stream_events, with_error_event
from springboard.serve.registry import AdapterAttach, EndpointConfig
from springboard.serve.schema import request_body, runtime_body

log = logging.getLogger("springboard.serve")

VARIANT = "AllTraffic"


class InvocationFailed(Exception):
    """An error on an invocation route, rendered per surface (runtime or container)."""

    def __init__(self, kind: str, message: str, status: int) -> None:
        super().__init__(message)
        self.kind, self.message, self.status = kind, message, status


def manager_of(request: Request) -> EndpointManager:
    """The endpoints the server hosts (set by the composition root, `springboard.app`)."""
    return request.app.state.manager


router = APIRouter()


# -- SageMaker runtime ------------------------------------------------------------------------


@router.post("/endpoints/{name}/invocations", openapi_extra=runtime_body())
async def invoke_endpoint(name: str, request: Request) -> Response:
    try:
        endpoint = runtime_endpoint(manager_of(request), name)
        return await invoke(endpoint, request, stream_frames=False)
    except InvocationFailed as exc:
        return _runtime_error(exc)


@router.post("/endpoints/{name}/invocations-response-stream", openapi_extra=runtime_body())
async def invoke_endpoint_stream(name: str, request: Request) -> Response:
    try:
        endpoint = runtime_endpoint(manager_of(request), name)
        return await invoke(endpoint, request, stream_frames=True)
    except InvocationFailed as exc:
        return _runtime_error(exc)


# -- container contract -----------------------------------------------------------------------


@router.get("/ping")
async def ping(request: Request) -> Response:
    states = {e.record.status for e in manager_of(request).endpoints.values()}
    healthy = not states or states == {"InService"}
    return Response(status_code=200 if healthy else 503)


@router.post("/invocations", openapi_extra=runtime_body())
async def invocations(request: Request) -> Response:
    try:
        try:
            endpoint = manager_of(request).default()
        except NotFoundError as exc:
            raise InvocationFailed("NotFound", str(exc), 404) from None
        return await invoke(endpoint, request, stream_frames=False)
    except InvocationFailed as exc:
        return JSONResponse({"code": exc.status, "type": exc.kind, "message": exc.message}, exc.status)


# -- control API (the CLI and SDK) ------------------------------------------------------------


@router.get("/springboard/health")
async def health(request: Request) -> dict[str, Any]:
    return {"status": "ok", "pid": os.getpid(), "endpoints": len(manager_of(request).endpoints)}


@router.post("/springboard/endpoints", status_code=201, openapi_extra=request_body(EndpointConfig))
async def create_endpoint(request: Request) -> Response:
    try:
        config = EndpointConfig.model_validate(decode_json(await request.body()))
        confinement.confine_reference(config.model, "model")
        for adapter, artifact in config.adapters.items():
            confinement.confine_reference(artifact, f"adapters.{adapter}")
        record = manager_of(request).create(config)
    except (ValueError, pydantic.ValidationError, SpringboardError) as exc:
        return _control_error(exc)
    return JSONResponse(record.model_dump(mode="json"), status_code=201)


@router.post("/springboard/endpoints/{name}/adapters", openapi_extra=request_body(AdapterAttach))
async def attach_adapter(name: str, request: Request) -> Response:
    """Attaches a LoRA adapter (a training job's artifact) to the endpoint's loaded base model."""
    try:
        body = AdapterAttach.model_validate(decode_json(await request.body()))
        confinement.confine_reference(body.artifact, "artifact")
        record = await manager_of(request).attach_adapter(name, body.name, body.artifact)
    except (ValueError, pydantic.ValidationError, SpringboardError) as exc:
        return _control_error(exc)
    return JSONResponse(record.model_dump(mode="json"))


@router.get("/springboard/endpoints")
async def list_endpoints(request: Request) -> list[dict[str, Any]]:
    return [r.model_dump(mode="json") for r in manager_of(request).list()]


@router.get("/springboard/endpoints/{name}")
async def describe_endpoint(name: str, request: Request) -> Response:
    manager = manager_of(request)
    try:
        described = manager.describe(name).model_dump(mode="json")
    except SpringboardError as exc:
        return _control_error(exc)
    live = manager.endpoints.get(name)
    if live is not None:  # what it answered lately (in memory: not part of the record on disk)
        described["recent_requests"] = live.stats.summary()
    return JSONResponse(described)


@router.delete("/springboard/endpoints/{name}")
async def delete_endpoint(name: str, request: Request) -> Response:
    try:
        await manager_of(request).delete(name)
    except SpringboardError as exc:
        return _control_error(exc)
    return Response(status_code=204)


def runtime_endpoint(manager: EndpointManager, name: str) -> Endpoint:
    """The endpoint `name` for a SageMaker runtime call (InvokeEndpoint and its async and
    streaming kinds); raises InvocationFailed as the runtime reports it (unknown or failed:
    ValidationError 400; still Creating: ModelNotReadyException 429)."""
    try:
        endpoint = manager.get(name)
    except NotFoundError:
        raise InvocationFailed("ValidationError", f"Endpoint {name} not found.", 400) from None
    if endpoint.record.status == "Creating":
        raise InvocationFailed("ModelNotReadyException", f"Endpoint {name} is still Creating; retry later.", 429)
    if endpoint.record.status != "InService":
        raise InvocationFailed(
            "ValidationError", f"Endpoint {name} is {endpoint.record.status}: {endpoint.record.failure_reason}", 400
        )
    return endpoint


def _client_error(message: str, status: int = 400) -> InvocationFailed:
    """A payload the model container refuses: SageMaker reports it as ModelError (424)."""
    return InvocationFailed("ModelError", message, status)


async def invoke(endpoint: Endpoint, request: Request, stream_frames: bool) -> Response:
    """One runtime invocation of `endpoint` from `request`'s body and SageMaker headers
    (content type, accept, target model, custom attributes): the response, streamed when the
    payload asks for it (as event-stream frames when `stream_frames`, else server-sent events).
    Raises InvocationFailed for a payload the model refuses, a EULA not accepted, a model not
    ready."""
    body = await request.body()  # within the server's body limit (springboard.guard.Guard)
    headers = request.headers
    try:
        inv = parse_invocation(body, headers.get("content-type"), headers.get("accept"))
    except ValidationError as exc:
        raise _client_error(str(exc)) from None
    # SageMaker's multi-model selectors name a LoRA adapter attached to the endpoint
    target = headers.get("x-amzn-sagemaker-target-model") or headers.get("x-amzn-sagemaker-inference-component")
    if target:
        if inv.params.adapter not in (None, target):
            raise _client_error(f"the TargetModel/InferenceComponentName header ({target}) and the payload's "
                                f"adapter_id ({inv.params.adapter}) disagree")
        inv.params = inv.params.model_copy(update={"adapter": target})
    attrs = custom_attributes(headers.get("x-amzn-sagemaker-custom-attributes"))
    try:
        engine = endpoint.serving(eula_accepted=attrs.get("accept_eula", "").lower() == "true")
    except EndpointNotReady as exc:
        raise InvocationFailed("ModelNotReadyException", str(exc), 429) from None
    except EulaNotAccepted as exc:
        raise _client_error(str(exc)) from None
    gen = GenerationRequest(inv.prompts, inv.params, endpoint.text_as_chat(inv.params.adapter))  # dialogs: always templated
    variant = {"x-Amzn-Invoked-Production-Variant": VARIANT}
    if inv.stream:
        try:  # validate (prompt length etc.) before the 200 goes out
            stream = endpoint.stream(inv.prompts[0], gen)
        except ValidationError as exc:
            raise _client_error(str(exc)) from None
        events = _tgi_events(stream, inv)
        if stream_frames:
            return StreamingResponse(
                _framed(events),
                media_type=eventstream.CONTENT_TYPE,
                headers={**variant, "X-Amzn-SageMaker-Content-Type": "text/event-stream"},
            )
        return StreamingResponse(with_error_event(events), media_type="text/event-stream", headers=variant)
    if inv.batch_size is not None and inv.batch_size > endpoint.record.max_batch_size:
        # A pass's memory grows with its rows: the endpoint's max_batch_size bounds every pass.
        raise _client_error(f"field 'batch_size': {inv.batch_size} is over this endpoint's max_batch_size "
                            f"({endpoint.record.max_batch_size}; set at deploy time)")
    try:
        results = await until_disconnected(request, endpoint.generate(gen, inv.batch_size))
    except ClientGone as exc:  # nobody reads this answer; the generation has stopped
        raise InvocationFailed("ClientGone", str(exc), 400) from None
    except ValidationError as exc:
        raise _client_error(str(exc)) from None
    except EndpointNotReady as exc:
        raise InvocationFailed("ModelNotReadyException", str(exc), 429) from None
    except NotFoundError as exc:  # deleted while the request was in flight
        raise InvocationFailed("ValidationError", str(exc), 400) from None
    except Exception as exc:  # the model itself failed
        log.exception("endpoint %s: generation failed", endpoint.name)
        raise _client_error(f"{type(exc).__name__}: {exc}", 500) from None
    llama = is_llama_style(getattr(engine.spec, "model_id", None))
    data = json.dumps(render_response(inv, results, llama)).encode("utf-8")
    content_type = "application/json"
    if stream_frames:
        return StreamingResponse(
            iter([eventstream.payload_part(data)]),
            media_type=eventstream.CONTENT_TYPE,
            headers={**variant, "X-Amzn-SageMaker-Content-Type": content_type},
        )
    return Response(data, media_type=content_type, headers=variant)


def _tgi_events(stream: Any, inv: Invocation) -> Iterator[bytes]:
    """TGI server-sent events for one streamed generation. Runs in Starlette's threadpool."""
    return stream_events(stream, inv.params, inv.tgi)


def _framed(events: Iterator[bytes]) -> Iterator[bytes]:
    try:
        for event in events:
            yield eventstream.payload_part(event)
    except Exception as exc:  # after the 200: report it in-band, as SageMaker does
        log.exception("stream failed")
        yield eventstream.model_stream_error(f"{type(exc).__name__}: {exc}")


def _runtime_error(exc: InvocationFailed) -> JSONResponse:
    """Errors as botocore's rest-json parser reads them: code from x-amzn-errortype,
    message from the body's Message; ModelError carries the container's original status."""
    body: dict[str, Any] = {"Message": exc.message}
    status = exc.status
    if exc.kind == "ModelError":
        side = "client" if exc.status < 500 else "server"
        body = {
            "Message": f'Received {side} error ({exc.status}) from primary with message "{exc.message}".',
            "OriginalStatusCode": exc.status,
            "OriginalMessage": json.dumps({"code": exc.status, "message": exc.message}),
        }
        status = 424
    return JSONResponse(body, status_code=status, headers={"x-amzn-errortype": exc.kind})


def _control_error(exc: Exception) -> JSONResponse:
    status = 400
    if isinstance(exc, NotFoundError):
        status = 404
    elif isinstance(exc, ConflictError):
        status = 409
    elif isinstance(exc, AccessDeniedError):
        status = 403
    message = str(exc)
    if isinstance(exc, pydantic.ValidationError):
        from springboard.generate.params import params_error

        message = str(params_error(exc))
    return JSONResponse({"error": {"type": type(exc).__name__, "message": message}}, status_code=status)
