"""OpenAPI request bodies from the pydantic models the routes validate with.

Routes that read their body themselves (to answer in their own error shape: SageMaker's
ModelError, OpenAI's error object, TGI's) declare it with `openapi_extra=request_body(Model)`,
so /openapi.json describes every body and a fuzzer (schemathesis) can generate them. Schemas
are inlined (no `$ref` to `$defs`, which OpenAPI would resolve against the document root)."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import TypeAdapter


def json_schema(model: Any) -> dict[str, Any]:
    """The JSON Schema of a pydantic model or type, with its `$defs` inlined."""
    schema = TypeAdapter(model).json_schema()
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                target = walk(copy.deepcopy(defs[ref.rsplit("/", 1)[1]]))
                return {**target, **walk({k: v for k, v in node.items() if k != "$ref"})}
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


def request_body(*models: Any, text: bool = False, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """`openapi_extra` for a route whose JSON body is one of `models` (or the given schema);
    with `text`, it also takes a raw text body (application/x-text)."""
    if schema is None:
        schemas = [json_schema(m) for m in models]
        schema = schemas[0] if len(schemas) == 1 else {"anyOf": schemas}
    content: dict[str, Any] = {"application/json": {"schema": schema}}
    if text:
        content["application/x-text"] = {"schema": {"type": "string"}}
    return {"requestBody": {"required": True, "content": content}}


def runtime_body() -> dict[str, Any]:
    """InvokeEndpoint bodies: JumpStart text2text (`text_inputs` with the generation parameters
    beside it), JumpStart/TGI text generation (`inputs` and `parameters`), or raw text."""
    from springboard.generate import GenerationParams
    from springboard.serve.payloads import Text2TextRequest, TextGenerationRequest

    params = json_schema(GenerationParams)["properties"]
    text2text = json_schema(Text2TextRequest)
    text2text["properties"] = {**params, **text2text["properties"]}
    text2text["additionalProperties"] = False
    generation = json_schema(TextGenerationRequest)
    generation["properties"]["parameters"] = {
        "type": "object",
        "properties": {**params, "details": {"type": "boolean"}},
        "additionalProperties": True,  # TGI's options (details, top_n_tokens, ...) beside them
    }
    return request_body(schema={"anyOf": [text2text, generation]}, text=True)
