"""Constrained decoding with llguidance: a JSON schema or a regex becomes a grammar, and at each
step a row's logits are masked to the tokens that keep its output inside the grammar (its
matcher then consumes the chosen token). Once the grammar is complete only end-of-sequence is
allowed, so the row ends there. Used by the continuous-batching scheduler per row."""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any

from springboard.errors import DataError

if TYPE_CHECKING:
    import torch


def json_schema_grammar(schema: dict[str, Any], field: str = "response_format") -> str:
    """A grammar for JSON documents matching `schema` (checked here, so a bad schema is a 400)."""
    import llguidance

    try:
        # compact JSON: flexible whitespace lets a weak model pad forever with "\t" and newlines
        grammar = llguidance.LLMatcher.grammar_from_json_schema(schema, defaults={"whitespace_flexible": False})
    except (ValueError, TypeError) as exc:
        raise DataError(f"not a usable JSON schema: {exc}", field=field) from None
    _check(grammar, field)
    return grammar


def regex_grammar(pattern: str, field: str = "grammar") -> str:
    import llguidance

    grammar = llguidance.LLMatcher.grammar_from_regex(pattern)
    _check(grammar, field)
    return grammar


def _check(grammar: str, field: str) -> None:
    import llguidance

    error = llguidance.LLMatcher.validate_grammar(grammar)
    if error:
        raise DataError(f"the grammar is invalid: {error}", field=field)


@functools.lru_cache(maxsize=8)
def _tokenizer_for(key: int, tokenizer: Any, eos: tuple[int, ...]) -> Any:
    import llguidance.hf

    return llguidance.hf.from_tokenizer(tokenizer, n_vocab=len(tokenizer), eos_token=list(eos) or None)


class RowConstraint:
    """One row's matcher and mask."""

    def __init__(self, tokenizer: Any, eos: set[int], grammar: str) -> None:
        import llguidance

        ll_tokenizer = _tokenizer_for(id(tokenizer), tokenizer, tuple(sorted(eos)))
        self.matcher = llguidance.LLMatcher(ll_tokenizer, grammar, log_level=0)
        if self.matcher.is_error():
            raise DataError(f"the grammar is invalid: {self.matcher.get_error()}", field="grammar")
        self.vocab = len(tokenizer)
        self._bits = None

    def mask(self, scores: torch.Tensor) -> torch.Tensor:
        """`scores` [1, V] with every token the grammar forbids set to -inf."""
        import torch

        words = (self.vocab + 31) // 32
        if self._bits is None:
            self._bits = torch.empty(words, dtype=torch.int32)
        self.matcher.unsafe_compute_mask_ptr(self._bits.data_ptr(), words * 4)
        shifts = torch.arange(32, dtype=torch.int32)
        allowed = ((self._bits[:, None] >> shifts) & 1).reshape(-1)[: self.vocab].bool()
        out = torch.full_like(scores, float("-inf"))
        width = min(self.vocab, scores.shape[-1])
        out[..., :width] = torch.where(allowed[:width], scores[..., :width], out[..., :width])
        return out

    def consume(self, token_id: int) -> None:
        self.matcher.consume_token(token_id)


def schema_of_tools(tools: list[dict[str, Any]], name: str | None) -> dict[str, Any]:
    """The JSON schema of one call to one of `tools` (OpenAI function tools), or to `name`."""
    chosen = [t for t in tools if name is None or t["function"]["name"] == name]
    calls = [{"type": "object", "properties": {
        "name": {"const": t["function"]["name"]},
        "arguments": t["function"].get("parameters") or {"type": "object"}},
        "required": ["name", "arguments"], "additionalProperties": False} for t in chosen]
    return calls[0] if len(calls) == 1 else {"anyOf": calls}


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
