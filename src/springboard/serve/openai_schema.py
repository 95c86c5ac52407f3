"""The OpenAI request bodies (completions, chat completions) as strict pydantic models, and how
each maps onto GenerationParams and the output constraint (JSON schema, tool calls). The routes
are in openai_api.py."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from springboard.errors import DataError
from springboard.generate import GenerationParams

# Strict types at the boundary: "8" and true are not token counts, Infinity/NaN not numbers.
_STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
_TokenIds = Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1)]


class _Common(BaseModel):
    model_config = _STRICT
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
    user: str | None = None

    def params(self, max_tokens: int | None, **extra: Any) -> GenerationParams:
        sample = self.temperature > 0
        values: dict[str, Any] = {
            "max_new_tokens": max_tokens,
            "num_return_sequences": self.n,
            "do_sample": sample,
            "stop": self.stop,
            "seed": self.seed,
            "frequency_penalty": self.frequency_penalty or None,
            "presence_penalty": self.presence_penalty or None,
            # `endpoint:adapter` picks a LoRA adapter attached to the endpoint
            "adapter": self.model.split(":", 1)[1] if ":" in self.model else None,
            **extra,
        }
        if sample:
            values.update(temperature=self.temperature, top_p=self.top_p, top_k=0)
        return GenerationParams.parse({k: v for k, v in values.items() if v is not None})

    @property
    def include_usage(self) -> bool:
        return bool((self.stream_options or {}).get("include_usage"))


class CompletionRequest(_Common):
    prompt: Union[str, list[str], _TokenIds, list[_TokenIds]]
    # OpenAI's default for completions; 0 generates nothing (with echo: score the prompt).
    max_tokens: int | None = Field(default=16, ge=0)
    echo: bool = False
    suffix: str | None = None
    logprobs: int | None = Field(default=None, ge=0, le=20)

    def prompts(self) -> list[Any]:
        if isinstance(self.prompt, str) or (self.prompt and isinstance(self.prompt[0], int)):
            return [self.prompt]
        if not self.prompt:
            raise DataError("at least one prompt is needed", field="prompt")
        return list(self.prompt)


class ContentPart(BaseModel):
    model_config = _STRICT
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = _STRICT
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
    logprobs: bool = False
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: Union[str, dict[str, Any], None] = None
    parallel_tool_calls: bool | None = None

    def constraint(self) -> tuple[str | None, bool]:
        """(the llguidance grammar the answer must follow, whether the answer is a tool call)."""
        from springboard.generate.constrain import json_schema_grammar, schema_of_tools

        calling = bool(self.tools) and self.tool_choice != "none"
        if calling and self.response_format and self.response_format.get("type") != "text":
            raise DataError("give tools or a JSON response_format, not both", field="response_format")
        if calling:
            assert self.tools is not None
            for i, tool in enumerate(self.tools):
                if tool.get("type") != "function" or not isinstance(tool.get("function"), dict) \
                        or not isinstance(tool["function"].get("name"), str):
                    raise DataError("each tool must be {'type': 'function', 'function': {'name': ...}}",
                                    field=f"tools[{i}]")
            names = [t["function"]["name"] for t in self.tools]
            choice = self.tool_choice
            if choice in (None, "auto"):
                raise DataError("'auto' (the default with tools) is not supported here: the model cannot choose "
                                "between answering and calling; pass 'required', a named function or 'none'",
                                field="tool_choice")
            if choice == "required":
                name = None
            elif isinstance(choice, dict) and choice.get("type") == "function":
                name = (choice.get("function") or {}).get("name")
                if name not in names:
                    raise DataError(f"names no tool in tools ({', '.join(names)})", field="tool_choice")
            else:
                raise DataError("must be 'none', 'auto', 'required' or {'type': 'function', 'function': {'name'}}",
                                field="tool_choice")
            return json_schema_grammar(schema_of_tools(self.tools, name), field="tools"), True
        kind = (self.response_format or {}).get("type", "text")
        if kind == "text":
            return None, False
        if kind == "json_object":
            return json_schema_grammar({"type": "object"}), False
        if kind == "json_schema":
            spec = self.response_format.get("json_schema") if self.response_format else None
            if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
                raise DataError("json_schema needs {'name': ..., 'schema': {...}}", field="response_format")
            return json_schema_grammar(spec["schema"]), False
        raise DataError("type must be 'text', 'json_object' or 'json_schema'", field="response_format")

    def logprob_count(self) -> int | None:
        if self.top_logprobs is not None and not self.logprobs:
            raise DataError("top_logprobs needs logprobs: true", field="top_logprobs")
        return (self.top_logprobs or 0) if self.logprobs else None
