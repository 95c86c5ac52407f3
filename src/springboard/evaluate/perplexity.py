"""Perplexity of a causal model over a text file or a JSON Lines file.

Token-weighted: the negative log-likelihood of every predicted token in the file, summed and
divided by the number of predicted tokens, then exponentiated. Texts longer than the model's
window are scored with the sliding window of the Hugging Face perplexity guide: windows of
`max_length` tokens moving by `stride`, each scoring only the tokens not scored by the window
before it, with the earlier tokens as context."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from springboard.errors import DataError, ValidationError
from springboard.evaluate.jsonl_fields import FieldPath, read_jsonl


class PerplexityResult(BaseModel):
    perplexity: float
    nll: float  # mean negative log-likelihood per token (nats)
    tokens: int  # tokens scored
    texts: int
    model: str | None = None
    file: str | None = None
    max_length: int
    stride: int


def load_texts(path: str | Path, field: str | None = None) -> list[str]:
    """A `.jsonl` file's `field` (default: `text`) per record; any other file: its whole text
    as one document (paragraph breaks kept)."""
    path = Path(path)
    if path.suffix in (".jsonl", ".out") or field:
        getter = FieldPath(field or "text")
        texts = []
        for line, rec in read_jsonl(path):
            value = getter.get(rec, path, line)
            if not isinstance(value, str):
                raise DataError(f"expected text, got {type(value).__name__}", file=path, line=line,
                                field=getter.path)
            texts.append(value)
        return texts
    if not path.is_file():
        from springboard.errors import NotFoundError

        raise NotFoundError(f"no file {path}")
    return [path.read_text(encoding="utf-8")]


def perplexity(
    model: Any,
    texts: list[str],
    max_length: int | None = None,
    stride: int = 512,
    file: str | None = None,
) -> PerplexityResult:
    """`model`: an Engine (or a model ref to load one). Each text is encoded by the engine as
    a plain text (never a prompt: no chat template; the tokenizer's special tokens, e.g. BOS, as
    it adds them) and each window is scored by Engine.score, the log-probabilities OpenAI
    `echo` and log-likelihood evaluation read."""
    from springboard.generate import Engine

    engine = model if isinstance(model, Engine) else Engine.load(model)
    if engine.is_seq2seq:
        raise ValidationError(
            "perplexity needs a causal language model; this one is seq2seq (encoder-decoder)"
        )
    window = max_length or engine.context_length or 1024
    window = min(window, engine.context_length or window)
    if not 1 <= stride <= window:
        raise ValidationError(f"stride must be between 1 and max_length ({window}), got {stride}")
    total_nll, total_tokens, n_texts = 0.0, 0, 0
    for text in texts:
        if not text:
            continue
        # The windows below bound each pass, so the whole text is encoded (a truncate as long as
        # any text keeps every token and lifts encode's refusal of text over one context).
        _, ids = engine.encode(text, chat=False, truncate=sys.maxsize)
        if len(ids) < 2:
            continue  # nothing to predict
        n_texts += 1
        prev_end = 0
        for begin in range(0, len(ids), stride):
            end = min(begin + window, len(ids))
            target_len = end - prev_end  # tokens this window scores for the first time
            (scored,) = engine.score([ids[begin:end]])
            # scored[0] has no context; only the last target_len predictions are new.
            predicted = scored[1:]
            new = predicted[len(predicted) - min(target_len, len(predicted)):]
            total_nll -= sum(float(t.logprob) for t in new)
            total_tokens += len(new)
            prev_end = end
            if end == len(ids):
                break
    if total_tokens == 0:
        raise ValidationError("no text to score (every text is shorter than two tokens)")
    mean = total_nll / total_tokens
    return PerplexityResult(
        perplexity=math.exp(mean),
        nll=mean,
        tokens=total_tokens,
        texts=n_texts,
        model=str(engine.model_dir),
        file=file,
        max_length=window,
        stride=stride,
    )


def perplexity_of_file(
    model: Any, path: str | Path, field: str | None = None, max_length: int | None = None,
    stride: int = 512,
) -> PerplexityResult:
    return perplexity(model, load_texts(path, field), max_length, stride, file=str(path))
