"""OpenAI-compatible routes: /v1/models, /v1/completions, /v1/chat/completions (with stream).
`model` names an endpoint. Sampling follows OpenAI: temperature defaults to 1 (sampling);
temperature 0 means greedy decoding."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any, Literal, Union

import pydantic
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from springboard.errors import DataError, NotFoundError, ValidationError
from springboard.generate import GenerationParams, GenerationRequest, GenerationResult, TextStream
from springboard.generate.params import params_error
from springboard.serve.endpoints import Endpoint, EndpointManager, EndpointNotReady

router = APIRouter(prefix="/v1")

# GenerationParams fields under their OpenAI names, so errors name what the client sent.
_OPENAI_NAMES = {"num_return_sequences": "n", "max_new_tokens": "max_tokens", "inputs": "prompt"}


class _Common(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    n: int = Field(default=1, ge=1, le=64)
    stop: Union[str, list[str], None] = None
    seed: int | None = None
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logprobs: Any = None
    user: str | None = None

    def params(self, max_tokens: int | None, **extra: Any) -> GenerationParams:
        for name in ("presence_penalty", "frequency_penalty"):
            if getattr(self, name):
                raise DataError("not supported (only 0)", field=name)
        if self.logprobs:
            raise DataError("not supported", field="logprobs")
        sample = self.temperature > 0
        values: dict[str, Any] = {
            "max_new_tokens": max_tokens,
            "num_return_sequences": self.n,
            "do_sample": sample,
            "stop": self.stop,
            "seed": self.seed,
            **extra,
        }
        if sample:
            values.update(temperature=self.temperature, top_p=self.top_p, top_k=0)
        return GenerationParams.parse({k: v for k, v in values.items() if v is not None})

    @property
    def include_usage(self) -> bool:
        return bool((self.stream_options or {}).get("include_usage"))


class CompletionRequest(_Common):
    prompt: Union[str, list[str]]
    max_tokens: int | None = Field(default=16, ge=1)  # OpenAI's default for completions
    echo: bool = False
    suffix: str | None = None


class ContentPart(BaseModel):
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: Union[str, list[ContentPart], None] = None
    name: str | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.text for p in self.content)
        return self.content or ""


class ChatRequest(_Common):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)


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
    try:
        endpoint = manager.get(model)
    except NotFoundError:
        raise NotFoundError(f"The model '{model}' does not exist (no endpoint of that name)") from None
    endpoint.ready()
    if endpoint.requires_eula:
        raise ValidationError(
            f"endpoint {model} serves a model that requires accepting its EULA; "
            "deploy it with accept_eula (springboard deploy --accept-eula)"
        )
    return endpoint


async def _parse(request: Request, model: type[pydantic.BaseModel]) -> Any:
    try:
        return model.model_validate(json.loads(await request.body()))
    except ValueError as exc:
        if isinstance(exc, pydantic.ValidationError):
            raise
        raise DataError(f"malformed JSON: {exc}", field="body") from None


@router.get("/models")
async def list_models(request: Request) -> dict[str, Any]:
    manager: EndpointManager = request.app.state.manager
    data = [
        {"id": r.name, "object": "model", "created": int(r.creation_time), "owned_by": "springboard", "root": r.model}
        for r in manager.list()
        if r.status == "InService"
    ]
    return {"object": "list", "data": data}


@router.post("/completions")
async def completions(request: Request) -> Response:
    try:
        req: CompletionRequest = await _parse(request, CompletionRequest)
        if req.suffix:
            raise DataError("not supported", field="suffix")
        endpoint = _endpoint(request, req.model)
        params = req.params(req.max_tokens, return_full_text=req.echo)
        prompts = [req.prompt] if isinstance(req.prompt, str) else list(req.prompt)
        if req.stream:
            if len(prompts) != 1 or req.n != 1:
                raise DataError("streaming takes one prompt and n=1", field="stream")
            stream = endpoint.stream(prompts[0], GenerationRequest(prompts, params))
            return _sse(_completion_chunks(stream, req, echo=req.echo))
        results = await endpoint.generate(GenerationRequest(prompts, params))
    except Exception as exc:  # noqa: BLE001 - every failure becomes an OpenAI error body
        return _from_exc(exc)
    choices = [
        {"index": i * req.n + j, "text": text, "logprobs": None, "finish_reason": r.finish_reasons[j]}
        for i, r in enumerate(results)
        for j, text in enumerate(r.texts)
    ]
    return JSONResponse(
        {"id": _id("cmpl"), "object": "text_completion", "created": int(time.time()), "model": req.model,
         "choices": choices, "usage": _usage(results)}
    )


@router.post("/chat/completions")
async def chat_completions(request: Request) -> Response:
    try:
        req: ChatRequest = await _parse(request, ChatRequest)
        endpoint = _endpoint(request, req.model)
        params = req.params(req.max_completion_tokens or req.max_tokens)
        messages = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in req.messages]
        gen = GenerationRequest([messages], params, chat=True)
        if req.stream:
            if req.n != 1:
                raise DataError("streaming takes n=1", field="n")
            return _sse(_chat_chunks(endpoint.stream(messages, gen), req))
        results = await endpoint.generate(gen)
    except Exception as exc:  # noqa: BLE001
        return _from_exc(exc)
    result = results[0]
    choices = [
        {"index": j, "message": {"role": "assistant", "content": text}, "logprobs": None,
         "finish_reason": result.finish_reasons[j]}
        for j, text in enumerate(result.texts)
    ]
    return JSONResponse(
        {"id": _id("chatcmpl"), "object": "chat.completion", "created": int(time.time()), "model": req.model,
         "choices": choices, "usage": _usage(results)}
    )


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
    try:
        if echo:
            yield {**base, "choices": [{"index": 0, "text": stream.prompt, "logprobs": None, "finish_reason": None}]}
        for piece in stream:
            yield {**base, "choices": [{"index": 0, "text": piece, "logprobs": None, "finish_reason": None}]}
        yield {**base, "choices": [{"index": 0, "text": "", "logprobs": None, "finish_reason": stream.finish_reason}]}
        if req.include_usage:
            yield {**base, "choices": [], "usage": _stream_usage(stream)}
    finally:
        stream.close()


def _chat_chunks(stream: TextStream, req: ChatRequest) -> Iterator[dict[str, Any]]:
    base = {"id": _id("chatcmpl"), "object": "chat.completion.chunk", "created": int(time.time()), "model": req.model}
    try:
        yield {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
        for piece in stream:
            yield {**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
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
