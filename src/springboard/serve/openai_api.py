"""OpenAI-compatible routes: /v1/models (list, retrieve), /v1/completions, /v1/chat/completions
(with stream). `model` names an endpoint. Sampling follows OpenAI: temperature defaults to 1
(sampling); temperature 0 means greedy decoding.

Log-probabilities: completions take `logprobs` (0-20 alternatives), `echo` (the prompt's tokens
are scored too) and `max_tokens=0` (score the prompt only: what lm-evaluation-harness sends for
log-likelihood tasks), and a prompt may be token ids; chat takes `logprobs` and
`top_logprobs`. A logprob is the model's own (log-softmax of its logits, before temperature or
top-p reshape the distribution). presence_penalty and frequency_penalty act on the generated
tokens, as OpenAI defines them."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pydantic
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from springboard.errors import DataError, NotFoundError, ValidationError
from springboard.generate import GenerationParams, GenerationRequest, GenerationResult, TextStream
from springboard.generate.logprobs import TokenLogprob
from springboard.generate.params import params_error
from springboard.serve.endpoints import Endpoint, EndpointManager, EndpointNotReady
from springboard.serve.limits import check_request, until_disconnected
from springboard.serve.bodies import decode_json
from springboard.serve.openai_schema import ChatRequest, CompletionRequest
from springboard.serve.schema import request_body

router = APIRouter(prefix="/v1")

# GenerationParams fields under their OpenAI names, so errors name what the client sent.
_OPENAI_NAMES = {"num_return_sequences": "n", "max_new_tokens": "max_tokens", "inputs": "prompt"}


def _error(message: str, status: int = 400, param: str | None = None, code: str | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}
    return JSONResponse(body, status_code=status)


def _from_exc(exc: Exception) -> JSONResponse:
    if isinstance(exc, pydantic.ValidationError):
        exc = params_error(exc)
    if isinstance(exc, DataError):
        field = _OPENAI_NAMES.get(exc.field or "", exc.field)
        return _error(str(DataError(exc.reason, field=field)), 400, param=field)
    if isinstance(exc, NotFoundError):
        return _error(str(exc), 404, code="model_not_found")
    if isinstance(exc, EndpointNotReady):
        return _error(str(exc), 503, code="model_not_ready")
    return _error(str(exc), 400)


def _endpoint(request: Request, model: str) -> Endpoint:
    manager: EndpointManager = request.app.state.manager
    model = request.path_params.get("name") or model.split(":", 1)[0]  # under an endpoint's base URL the path decides
    try:
        return manager.serving(model)  # EndpointNotReady and EulaNotAccepted (a ValidationError) pass on
    except NotFoundError:
        raise NotFoundError(f"The model '{model}' does not exist (no endpoint of that name)") from None


async def _parse(request: Request, model: type[pydantic.BaseModel]) -> Any:
    return model.model_validate(decode_json(await request.body(), field="body"))


@router.get("/models")
async def list_models(request: Request) -> dict[str, Any]:
    manager: EndpointManager = request.app.state.manager
    data = [
        {"id": r.name, "object": "model", "created": int(r.creation_time), "owned_by": "springboard", "root": r.model}
        for r in manager.list()
        if r.status == "InService" and r.name == request.path_params.get("name", r.name)
    ]
    return {"object": "list", "data": data}


@router.get("/models/{model:path}")
async def retrieve_model(model: str, request: Request) -> Response:
    manager: EndpointManager = request.app.state.manager
    record = next((r for r in manager.list() if r.name == model and r.status == "InService"), None)
    if record is None:
        return _error(f"The model '{model}' does not exist (no endpoint of that name in service)", 404,
                      param="model", code="model_not_found")
    return JSONResponse({"id": record.name, "object": "model", "created": int(record.creation_time),
                         "owned_by": "springboard", "root": record.model})


@router.post("/completions", openapi_extra=request_body(CompletionRequest))
async def completions(request: Request) -> Response:
    try:
        req: CompletionRequest = await _parse(request, CompletionRequest)
        if req.suffix:
            raise DataError("not supported", field="suffix")
        endpoint = _endpoint(request, req.model)
        prompts = req.prompts()
        if req.max_tokens == 0:  # nothing to generate: the prompt (scored, with logprobs)
            if req.stream:
                raise DataError("streaming needs max_tokens of at least 1", field="max_tokens")
            return JSONResponse(await _score_only(endpoint, req, prompts))
        params = req.params(req.max_tokens, return_full_text=req.echo, logprobs=req.logprobs,
                            prompt_logprobs=req.echo and req.logprobs is not None)
        gen = GenerationRequest(prompts, params, endpoint.text_as_chat(params.adapter))  # the one prompt rule
        if req.stream:
            if len(prompts) != 1 or req.n != 1:
                raise DataError("streaming takes one prompt and n=1", field="stream")
            return _sse(_completion_chunks(endpoint.stream(prompts[0], gen), req, echo=req.echo))
        results = await until_disconnected(request, endpoint.generate(gen))
    except Exception as exc:  # noqa: BLE001 - every failure becomes an OpenAI error body
        return _from_exc(exc)
    choices = []
    for i, r in enumerate(results):
        for j, text in enumerate(r.texts):
            logprobs = None
            if req.logprobs is not None:
                scored = (r.prompt_logprobs or []) if req.echo else []
                logprobs = _legacy_logprobs(scored + r.tokens[j], req.logprobs)
            choices.append({"index": i * req.n + j, "text": text, "logprobs": logprobs,
                            "finish_reason": r.finish_reasons[j]})
    return JSONResponse(
        {"id": _id("cmpl"), "object": "text_completion", "created": int(time.time()), "model": req.model,
         "choices": choices, "usage": _usage(results)}
    )


async def _score_only(endpoint: Endpoint, req: CompletionRequest, prompts: list[Any]) -> dict[str, Any]:
    """`max_tokens=0`: no new token; with echo the prompt comes back (scored with logprobs)."""
    engine = endpoint.ready()
    if ":" in req.model:
        raise DataError("max_tokens=0 (prompt scoring) runs on the base model only, not on an adapter",
                        field="model")
    check_request(engine, prompts, GenerationParams(max_new_tokens=1))  # the input bounds only
    scored = await asyncio.to_thread(engine.score, prompts, req.logprobs or 0)
    choices = []
    for i, tokens in enumerate(scored):
        text = engine.tokenizer.decode([t.id for t in tokens], skip_special_tokens=False) if req.echo else ""
        logprobs = _legacy_logprobs(tokens, req.logprobs) if req.logprobs is not None and req.echo else None
        for j in range(req.n):
            choices.append({"index": i * req.n + j, "text": text, "logprobs": logprobs, "finish_reason": "length"})
    prompt_tokens = sum(len(t) for t in scored)
    return {"id": _id("cmpl"), "object": "text_completion", "created": int(time.time()), "model": req.model,
            "choices": choices,
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 0, "total_tokens": prompt_tokens}}


def _legacy_logprobs(tokens: list[TokenLogprob], top_n: int, offset: int = 0) -> dict[str, Any]:
    """The completions API's logprobs object. top_logprobs holds the `top_n` most likely tokens
    and the chosen one (as OpenAI-compatible servers do); the first prompt token has none."""
    out: dict[str, Any] = {"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []}
    for token in tokens:
        out["tokens"].append(token.text)
        out["token_logprobs"].append(token.logprob)
        if token.logprob is None:
            out["top_logprobs"].append(None)
        else:
            top = {alt.text: alt.logprob for alt in token.top[:top_n]}
            top.setdefault(token.text, token.logprob)
            out["top_logprobs"].append(top)
        out["text_offset"].append(offset)
        offset += len(token.text)
    return out


def _chat_logprobs(tokens: list[TokenLogprob]) -> dict[str, Any]:
    """The chat API's logprobs object (content tokens; the end-of-turn token is not content)."""
    def entry(t: TokenLogprob) -> dict[str, Any]:
        return {"token": t.text, "logprob": t.logprob, "bytes": list(t.text.encode("utf-8"))}

    content = [{**entry(t), "top_logprobs": [entry(a) for a in t.top]} for t in tokens if not t.special]
    return {"content": content, "refusal": None}


@router.post("/chat/completions", openapi_extra=request_body(ChatRequest))
async def chat_completions(request: Request) -> Response:
    try:
        req: ChatRequest = await _parse(request, ChatRequest)
        endpoint = _endpoint(request, req.model)
        grammar, calling = req.constraint()
        params = req.params(req.max_completion_tokens or req.max_tokens, logprobs=req.logprob_count(),
                            grammar=grammar)
        messages = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in req.messages]
        gen = GenerationRequest([messages], params, chat=True)
        if req.stream:
            if req.n != 1:
                raise DataError("streaming takes n=1", field="n")
            if calling:
                raise DataError("tool calls are not streamed here; call without stream", field="stream")
            return _sse(_chat_chunks(endpoint.stream(messages, gen), req))
        results = await until_disconnected(request, endpoint.generate(gen))
    except Exception as exc:  # noqa: BLE001
        return _from_exc(exc)
    result = results[0]
    choices = [
        {"index": j, **_message(text, result.finish_reasons[j], calling),
         "logprobs": _chat_logprobs(result.tokens[j]) if req.logprobs else None}
        for j, text in enumerate(result.texts)
    ]
    return JSONResponse(
        {"id": _id("chatcmpl"), "object": "chat.completion", "created": int(time.time()), "model": req.model,
         "choices": choices, "usage": _usage(results)}
    )


def _message(text: str, finish_reason: str, calling: bool) -> dict[str, Any]:
    """A choice's message and finish_reason; a constrained tool call becomes `tool_calls` (a
    call cut off by max_tokens stays text, finish_reason 'length')."""
    if calling and finish_reason != "length":
        call = json.loads(text)  # the grammar made it a complete {"name", "arguments"} object
        tool_call = {"id": _id("call"), "type": "function",
                     "function": {"name": call["name"], "arguments": json.dumps(call["arguments"])}}
        return {"message": {"role": "assistant", "content": None, "tool_calls": [tool_call]},
                "finish_reason": "tool_calls"}
    return {"message": {"role": "assistant", "content": text}, "finish_reason": finish_reason}


def _usage(results: list[GenerationResult]) -> dict[str, int]:
    prompt = sum(r.prompt_tokens for r in results)
    completion = sum(r.generated_tokens for r in results)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def _sse(chunks: Iterator[dict[str, Any]]) -> StreamingResponse:
    def lines() -> Iterator[bytes]:
        try:
            for chunk in chunks:
                yield b"data: " + json.dumps(chunk).encode("utf-8") + b"\n\n"
        except Exception as exc:  # after the 200: an error event, as OpenAI-compatible servers do
            yield b"data: " + json.dumps({"error": {"message": str(exc), "type": "server_error"}}).encode() + b"\n\n"
        yield b"data: [DONE]\n\n"

    return StreamingResponse(lines(), media_type="text/event-stream")


def _completion_chunks(stream: TextStream, req: CompletionRequest, echo: bool) -> Iterator[dict[str, Any]]:
    base = {"id": _id("cmpl"), "object": "text_completion", "created": int(time.time()), "model": req.model}
    top_n = req.logprobs
    try:
        offset = 0
        if echo:
            logprobs = _legacy_logprobs(stream.prompt_logprobs or [], top_n) if top_n is not None else None
            yield {**base, "choices": [{"index": 0, "text": stream.prompt, "logprobs": logprobs, "finish_reason": None}]}
            offset = len(stream.prompt)
        for event in stream.events():
            if not event.text and (top_n is None or event.token is None):
                continue
            logprobs = None
            if top_n is not None and event.token is not None:
                logprobs = _legacy_logprobs([event.token], top_n, offset)
            offset += len(event.text)
            yield {**base, "choices": [{"index": 0, "text": event.text, "logprobs": logprobs, "finish_reason": None}]}
        yield {**base, "choices": [{"index": 0, "text": "", "logprobs": None, "finish_reason": stream.finish_reason}]}
        if req.include_usage:
            yield {**base, "choices": [], "usage": _stream_usage(stream)}
    finally:
        stream.close()


def _chat_chunks(stream: TextStream, req: ChatRequest) -> Iterator[dict[str, Any]]:
    base = {"id": _id("chatcmpl"), "object": "chat.completion.chunk", "created": int(time.time()), "model": req.model}
    try:
        yield {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
        for event in stream.events():
            scored = req.logprobs and event.token is not None and not event.token.special
            if not event.text and not scored:
                continue
            choice: dict[str, Any] = {"index": 0, "delta": {"content": event.text}, "finish_reason": None}
            if req.logprobs:
                choice["logprobs"] = _chat_logprobs([event.token] if scored else [])
            yield {**base, "choices": [choice]}
        yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": stream.finish_reason}]}
        if req.include_usage:
            yield {**base, "choices": [], "usage": _stream_usage(stream)}
    finally:
        stream.close()


def _stream_usage(stream: TextStream) -> dict[str, int]:
    return {
        "prompt_tokens": stream.prompt_tokens,
        "completion_tokens": stream.generated_tokens,
        "total_tokens": stream.prompt_tokens + stream.generated_tokens,
    }


# The same routes under an endpoint's base URL, beside its TGI routes (tgi_api.py), as TGI serves
# /v1 next to /generate: huggingface_hub's InferenceClient(base_url=...).chat_completion posts
# here. The path names the endpoint; the body's `model` is informational.
endpoint_router = APIRouter(prefix="/endpoints/{name}/v1")
endpoint_router.add_api_route("/models", list_models, methods=["GET"])
endpoint_router.add_api_route("/completions", completions, methods=["POST"],
                              openapi_extra=request_body(CompletionRequest))
endpoint_router.add_api_route("/chat/completions", chat_completions, methods=["POST"],
                              openapi_extra=request_body(ChatRequest))
