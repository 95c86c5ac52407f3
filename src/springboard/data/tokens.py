"""Token-level pieces every format shares: an `Example` (ids and labels), what a tokenizer does
on its own (BOS/EOS it adds) and batch tokenization without specials.

Masks are built from segment positions, never by looking for token ids, so a pad token that is
also the eos (SmolLM2, Llama 3, our ChatML test model) cannot erase the eos from the labels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from springboard.errors import DataError

IGNORE_INDEX = -100  # what torch's cross_entropy ignores


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]  # causal: same length as input_ids, -100 where no loss.
    # seq2seq: decoder target ids (ending with eos unless truncated); input_ids = encoder ids.

    @property
    def label_tokens(self) -> int:
        return sum(1 for t in self.labels if t != IGNORE_INDEX)


@dataclass(frozen=True)
class TokenizerInfo:
    bos_id: int | None  # set only when the tokenizer itself prepends BOS to plain text
    eos_id: int
    eos_token: str
    prefix: tuple[int, ...]  # special ids the tokenizer puts before any text (e.g. BOS)
    suffix: tuple[int, ...]  # special ids it puts after (e.g. T5's </s>)

    @classmethod
    def of(cls, tokenizer: Any) -> "TokenizerInfo":
        if tokenizer.eos_token_id is None:
            raise DataError("the tokenizer has no eos token; a model trained with it could not learn to stop")
        plain = tokenizer("a", add_special_tokens=False)["input_ids"]
        full = tokenizer("a", add_special_tokens=True)["input_ids"]
        n = len(plain)
        start = next((i for i in range(len(full) - n + 1) if full[i : i + n] == plain), 0)
        prefix, suffix = tuple(full[:start]), tuple(full[start + n :])
        bos = tokenizer.bos_token_id
        return cls(
            bos_id=bos if bos is not None and bos in prefix else None,
            eos_id=tokenizer.eos_token_id,
            eos_token=tokenizer.eos_token,
            prefix=prefix,
            suffix=suffix,
        )

    def with_bos(self, ids: list[int]) -> list[int]:
        """BOS in front when the tokenizer uses one and the text does not already start with it
        (chat templates such as Llama 3's write it themselves: no double BOS)."""
        if self.bos_id is not None and ids[:1] != [self.bos_id]:
            return [self.bos_id, *ids]
        return ids


def encode_plain(tokenizer: Any, texts: list[str]) -> list[list[int]]:
    """Batch tokenization without special tokens (fast tokenizers do the batch in Rust)."""
    if not texts:
        return []
    return list(tokenizer(texts, add_special_tokens=False)["input_ids"])


def special_strings(tokenizer: Any) -> list[str]:
    """Every special token's text, longest first (so `<|im_end|>` beats `<|im`-like prefixes)."""
    found = set(getattr(tokenizer, "all_special_tokens", []) or [])
    for token in getattr(tokenizer, "added_tokens_decoder", {}).values():
        if getattr(token, "special", False):
            found.add(token.content)
    return sorted((t for t in found if t), key=len, reverse=True)
