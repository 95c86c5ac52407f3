"""Native Text Generation Inference routes per endpoint, so TGI clients (huggingface_hub's
InferenceClient, the `text-generation` client, LangChain's HuggingFaceEndpoint) work with an
endpoint's URL as their base URL, `http://HOST:PORT/endpoints/NAME`:

    POST {base}                   TGI's compat route: `stream` in the body picks JSON or SSE
    POST {base}/generate          one answer: {"generated_text", "details"?}
    POST {base}/generate_stream   server-sent events, one per token
    GET  {base}/info              the model and the server's limits
    GET  {base}/health            200 once the endpoint is InService
    {base}/v1/...                 the OpenAI routes for this endpoint (openai_api.py)

Errors are TGI's shape, `{"error": ..., "error_type": ...}` (validation 422, generation 424,
not ready 503), which the clients turn into typed exceptions."""

from __future__ import annotations

import logging
from typing import Any

import pydantic
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr

from springboard.errors import NotFoundError, ValidationError
from springboard.generate import GenerationRequest
from springboard.generate.params import MAX_STOP_SEQUENCES, params_error
from springboard.serve.endpoints import Endpoint, EndpointManager, EndpointNotReady, EulaNotAccepted
from springboard.serve.limits import ClientGone, until_disconnected
from springboard.serve.bodies import decode_json
from springboard.serve.schema import request_body
from springboard.serve.tgi_format import (MAX_BEST_OF, MAX_TOP_N_TOKENS, answer, error_body, parse_parameters,
                                          stream_events, with_error_event)

log = logging.getLogger("springboard.serve")

router = APIRouter(prefix="/endpoints/{name}")


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    inputs: StrictStr
    parameters: dict[str, Any] = pydantic.Field(default_factory=dict)
    stream: StrictBool = False


class TgiFailure(Exception):
    def __init__(self, message: str, error_type: str, status: int) -> None:
        super().__init__(message)
        self.message, self.error_type, self.status = message, error_type, status

    def response(self) -> JSONResponse:
        return JSONResponse(error_body(self.message, self.error_type), status_code=self.status)


def _endpoint(request: Request, name: str) -> Endpoint:
    manager: EndpointManager = request.app.state.manager
    try:
        return manager.serving(name)
    except NotFoundError as exc:
        raise TgiFailure(str(exc), "not_found", 404) from None
    except EndpointNotReady as exc:
        raise TgiFailure(str(exc), "unavailable", 503) from None
    except EulaNotAccepted as exc:
        raise TgiFailure(str(exc), "validation", 422) from None


async def _request(request: Request) -> GenerateRequest:
    try:
        return GenerateRequest.model_validate(decode_json(await request.body(), field="body"))
    except pydantic.ValidationError as exc:
        raise TgiFailure(str(params_error(exc)), "validation", 422) from None
    except ValidationError as exc:  # malformed JSON, too deep, lone surrogates (serve.bodies)
        raise TgiFailure(str(exc), "validation", 422) from None


async def _generate(request: Request, name: str, stream: bool | None) -> Response:
    """stream None: the compat route, where the body's `stream` decides."""
    try:
        endpoint = _endpoint(request, name)
        body = await _request(request)
        streaming = body.stream if stream is None else stream
        try:
            params, options = parse_parameters(body.parameters, stream=streaming)
            gen = GenerationRequest([body.inputs], params, endpoint.text_as_chat(params.adapter))
            if streaming:
                events = stream_events(endpoint.stream(body.inputs, gen), params, options)
                return StreamingResponse(with_error_event(events), media_type="text/event-stream")
            results = await until_disconnected(request, endpoint.generate(gen))
        except ClientGone as exc:  # nobody reads this answer; the generation has stopped
            raise TgiFailure(str(exc), "validation", 400) from None
        except ValidationError as exc:
            raise TgiFailure(str(exc), "validation", 422) from None
        except EndpointNotReady as exc:
            raise TgiFailure(str(exc), "unavailable", 503) from None
        except NotFoundError as exc:  # deleted while the request was in flight
            raise TgiFailure(str(exc), "not_found", 404) from None
        except Exception as exc:  # the model itself failed
            log.exception("endpoint %s: generation failed", name)
            raise TgiFailure(f"{type(exc).__name__}: {exc}", "generation", 424) from None
    except TgiFailure as failure:
        return failure.response()
    out = answer(results[0], params, options)
    return JSONResponse([out] if stream is None else out)


@router.post("", openapi_extra=request_body(GenerateRequest))
async def compat_generate(name: str, request: Request) -> Response:
    return await _generate(request, name, None)


@router.post("/generate", openapi_extra=request_body(GenerateRequest))
async def generate(name: str, request: Request) -> Response:
    return await _generate(request, name, False)


@router.post("/generate_stream", openapi_extra=request_body(GenerateRequest))
async def generate_stream(name: str, request: Request) -> Response:
    return await _generate(request, name, True)


@router.get("/health")
async def health(name: str, request: Request) -> Response:
    try:
        _endpoint(request, name)
    except TgiFailure as failure:
        return failure.response()
    return Response(status_code=200)


@router.get("/info")
async def info(name: str, request: Request) -> Response:
    try:
        endpoint = _endpoint(request, name)
    except TgiFailure as failure:
        return failure.response()
    engine = endpoint.ready()
    context = engine.context_length or 0
    batch = endpoint.record.max_batch_size
    return JSONResponse({
        "model_id": endpoint.record.model_id or endpoint.record.model,
        "model_sha": None,
        # the weights generation runs with (generate/precision.py): a GGUF type on llama.cpp
        "model_dtype": engine.precision.weights if getattr(engine, "precision", None) is not None
        else str(next(engine.model.parameters()).dtype).removeprefix("torch."),
        "model_device_type": engine.device,
        "model_pipeline_tag": "text2text-generation" if engine.is_seq2seq else "text-generation",
        "max_concurrent_requests": 128,
        "max_best_of": MAX_BEST_OF,
        "max_stop_sequences": MAX_STOP_SEQUENCES,
        "max_input_tokens": max(context - 1, 0),
        "max_input_length": max(context - 1, 0),
        "max_total_tokens": context,
        "max_top_n_tokens": MAX_TOP_N_TOKENS,
        "waiting_served_ratio": 1.2,
        "max_batch_total_tokens": context * batch,
        "max_waiting_tokens": 20,
        "max_batch_size": batch,
        "validation_workers": 1,
        "max_client_batch_size": 1,
        "router": "text-generation-router",
        "version": "springboard",
        "sha": None,
        "docker_label": None,
    })
