"""SageMaker/JumpStart payload adapters. One endpoint takes every shape; the body picks:

- JumpStart text2text: `{"text_inputs": str | [str], <params>, "batch_size"?}` →
  `{"generated_texts": [...]}` (`Accept: application/json;verbose` adds the inputs); a raw
  `application/x-text` body → `{"generated_text": "..."}`.
- JumpStart / TGI text generation: `{"inputs": str | [str], "parameters": {...}, "stream"?}` →
  `[{"generated_text": ...}]`; Meta Llama containers answer `[{"generation": ...}]` and take
  dialogs (`"inputs": [[{"role", "content"}, ...]]`) answered with a message.

Each maps onto one GenerationParams; errors are DataErrors naming the payload field."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal, Union

import pydantic
from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr

from springboard.errors import DataError
from springboard.generate import GenerationParams, GenerationResult
from springboard.generate.params import params_error, text2text_params
from springboard.serve.bodies import decode_json
from springboard.serve import tgi_format
from springboard.serve.tgi_format import TgiOptions

TEXT_TYPES = ("application/x-text", "text/plain")
JSON_TYPE = "application/json"


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant"]
    content: StrictStr


class Text2TextRequest(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)  # the extras are generation params, checked below
    text_inputs: Union[StrictStr, list[StrictStr]]
    batch_size: int | None = pydantic.Field(default=None, ge=1)


class TextGenerationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    inputs: Union[StrictStr, list[StrictStr], list[list[ChatMessage]]]
    parameters: dict[str, Any] = pydantic.Field(default_factory=dict)
    stream: StrictBool = False


@dataclass
class Invocation:
    """A parsed request: what to generate and how to shape the answer."""

    kind: Literal["text2text", "raw_text", "text_generation"]
    prompts: list[Any]  # str, or a list of chat messages (dicts) for a Llama dialog
    params: GenerationParams
    single: bool  # the payload held one input rather than a list
    chat: bool = False
    batch_size: int | None = None
    stream: bool = False
    details: bool = False
    verbose: bool = False
    tgi: TgiOptions = field(default_factory=TgiOptions)  # details, prefill, top tokens, best_of


def parse_invocation(body: bytes, content_type: str | None, accept: str | None) -> Invocation:
    mime = (content_type or JSON_TYPE).split(";")[0].strip().lower()
    verbose = "verbose" in (accept or "").lower()
    if mime in TEXT_TYPES:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise DataError("the body is not UTF-8 text", field="Body") from None
        return Invocation("raw_text", [text], GenerationParams(), single=True, verbose=verbose)
    if mime != JSON_TYPE and not mime.endswith("+json"):
        raise DataError(
            f"unsupported content type {content_type!r}; use application/json or application/x-text",
            field="ContentType",
        )
    payload = decode_json(body)
    if not isinstance(payload, dict):
        raise DataError("the JSON body must be an object", field="Body")
    if "text_inputs" in payload:
        return _text2text(payload, verbose)
    if "inputs" in payload:
        return _text_generation(payload, verbose)
    raise DataError("the payload needs 'text_inputs' (text2text) or 'inputs' (text generation)", field="inputs")


def _text2text(payload: dict[str, Any], verbose: bool) -> Invocation:
    try:
        req = Text2TextRequest.model_validate(payload)
    except pydantic.ValidationError as exc:
        raise params_error(exc) from None
    params = text2text_params(dict(req.model_extra or {}))  # max_length bounds the output
    single = isinstance(req.text_inputs, str)
    prompts = [req.text_inputs] if single else list(req.text_inputs)
    if not prompts:
        raise DataError("at least one input is needed", field="text_inputs")
    return Invocation("text2text", prompts, params, single, batch_size=req.batch_size, verbose=verbose)


def _text_generation(payload: dict[str, Any], verbose: bool) -> Invocation:
    try:
        req = TextGenerationRequest.model_validate(payload)
    except pydantic.ValidationError as exc:
        raise params_error(exc) from None
    params, options = tgi_format.parse_parameters(req.parameters, stream=req.stream)
    single = isinstance(req.inputs, str)
    inputs: list[Any] = [req.inputs] if single else list(req.inputs)
    if not inputs:
        raise DataError("at least one input is needed", field="inputs")
    chat = not single and isinstance(inputs[0], list)
    if chat:
        inputs = [[m.model_dump() for m in dialog] for dialog in inputs]
    if req.stream and not single:
        raise DataError("streaming takes a single string input", field="stream")
    return Invocation(
        "text_generation", inputs, params, single, chat=chat, stream=req.stream, details=options.details, verbose=verbose,
        tgi=options
    )


# -- responses ----------------------------------------------------------------------------------


def is_llama_style(model_id: str | None) -> bool:
    """Meta's Llama containers on JumpStart (model ids meta-textgeneration-*) answer 'generation'."""
    return bool(model_id) and model_id.startswith("meta-textgeneration")


def render_response(inv: Invocation, results: list[GenerationResult], llama_style: bool = False) -> Any:
    if inv.kind == "raw_text":
        return {"generated_text": results[0].texts[0]}
    if inv.kind == "text2text":
        if inv.single:
            texts: list[Any] = list(results[0].texts)
        elif inv.params.num_return_sequences == 1:
            texts = [r.texts[0] for r in results]
        else:
            texts = [list(r.texts) for r in results]
        out: dict[str, Any] = {"generated_texts": texts}
        if inv.verbose:
            out["text_inputs"] = inv.prompts[0] if inv.single else inv.prompts
        return out
    answers = []
    for prompt, result in zip(inv.prompts, results):
        if llama_style:
            text = result.texts[0]
            generation: Any = {"role": "assistant", "content": text} if inv.chat else text
            answers.append({"generation": generation})
            continue
        answers.append(tgi_format.answer(result, inv.params, inv.tgi))
    return answers


def custom_attributes(header: str | None) -> dict[str, str]:
    """`accept_eula=true;trace=1` → {"accept_eula": "true", "trace": "1"}."""
    out: dict[str, str] = {}
    for part in (header or "").replace(",", ";").split(";"):
        key, sep, value = part.partition("=")
        if sep and key.strip():
            out[key.strip().lower()] = value.strip()
    return out


def now() -> int:
    return int(time.time())
