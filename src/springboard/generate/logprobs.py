"""Log-probabilities of tokens: the prompt's (OpenAI `echo`, TGI `decoder_input_details`) and the
generated ones (OpenAI `logprobs`, TGI `details.tokens`/`top_n_tokens`).

A logprob here is the model's own: log-softmax of its logits for that position, before any
sampling warper (temperature, top-k/p) or penalty reshapes the distribution. Under greedy
decoding without penalties that is exactly the distribution the token was picked from.

Non-streamed generations are scored after decoding by one teacher-forced forward pass over
prompt + output (the same numbers the decoding steps saw, up to float rounding, and the same
code path for greedy, sampling and beam search); streams capture each step's logits as they
go (`StepLogits`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


@dataclass
class TokenLogprob:
    """One token: its id, its text, its log-probability (None where nothing predicts it: the
    first prompt token) and the most likely alternatives at that position, best first."""

    id: int
    text: str
    logprob: float | None
    special: bool = False
    top: list[TokenLogprob] = field(default_factory=list)


class Vocabulary:
    """Token texts for reporting, with the set of special ids."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.special = set(getattr(tokenizer, "all_special_ids", []) or [])
        self._cache: dict[int, str] = {}

    def text(self, token_id: int) -> str:
        text = self._cache.get(token_id)
        if text is None:
            text = self.tokenizer.decode([token_id], skip_special_tokens=False)
            self._cache[token_id] = text
        return text

    def token(self, token_id: int, logprob: float | None, top: list[TokenLogprob] | None = None) -> TokenLogprob:
        return TokenLogprob(token_id, self.text(token_id), logprob, token_id in self.special, top or [])


def from_logprob_rows(
    vocab: Vocabulary, rows: torch.Tensor, targets: Sequence[int], top_n: int
) -> list[TokenLogprob]:
    """Tokens `targets[i]` scored by log-softmax row `rows[i]`, with `top_n` alternatives."""
    import torch

    if len(targets) == 0:
        return []
    index = torch.tensor(list(targets), dtype=torch.long, device=rows.device)
    chosen = rows.gather(1, index[:, None])[:, 0].tolist()
    tops: list[list[TokenLogprob]] = [[] for _ in targets]
    if top_n > 0:
        values, ids = rows.topk(top_n, dim=-1)
        for i, (vs, ts) in enumerate(zip(values.tolist(), ids.tolist())):
            tops[i] = [vocab.token(t, v) for t, v in zip(ts, vs)]
    return [vocab.token(t, lp, top) for t, lp, top in zip(targets, chosen, tops)]


def sampled_token(vocab: Vocabulary, logits: Any, token_id: int, top_n: int | None) -> TokenLogprob:
    """The token a decoding step drew, as a stream takes it: with its log-probability (log-softmax
    of the raw `logits` it was drawn from: a tensor, or llama.cpp's numpy view) and `top_n`
    alternatives when the request asks for logprobs (`top_n` not None), else its id and text
    alone. The scheduler and the llama.cpp backend both use it."""
    if top_n is None:
        return vocab.token(token_id, None)
    import torch

    scores = torch.log_softmax(torch.as_tensor(logits), -1)
    return from_logprob_rows(vocab, scores[None, :], [token_id], top_n)[0]


def score_causal(
    model: Any, vocab: Vocabulary, prompt: Sequence[int], generated: Sequence[int], top_n: int, with_prompt: bool
) -> tuple[list[TokenLogprob] | None, list[TokenLogprob]]:
    """(prompt tokens or None, generated tokens) for one causal row, in one forward pass. Only
    the positions asked for go through the LM head."""
    import torch

    ids = list(prompt) + list(generated)
    if not ids:
        return ([] if with_prompt else None), []
    wanted = (len(ids) - 1) if with_prompt else len(generated)
    rows = None
    if wanted > 0 and len(ids) > 1:
        inputs = torch.tensor([ids[:-1]], device=model.device)
        mask = torch.ones_like(inputs)
        try:
            out = model(input_ids=inputs, attention_mask=mask, logits_to_keep=wanted, use_cache=False)
        except TypeError:  # an architecture without logits_to_keep: every position
            out = model(input_ids=inputs, attention_mask=mask, use_cache=False)
        rows = torch.log_softmax(out.logits[0, -wanted:].float(), dim=-1)
    prompt_part: list[TokenLogprob] | None = None
    gen_rows = rows
    if with_prompt:
        first = vocab.token(ids[0], None)
        scored = []
        if rows is not None and len(prompt) > 1:
            scored = from_logprob_rows(vocab, rows[: len(prompt) - 1], ids[1 : len(prompt)], top_n)
        prompt_part = [first, *scored] if prompt else []
        gen_rows = rows[len(prompt) - 1 :] if rows is not None else None
    generated_part = from_logprob_rows(vocab, gen_rows, generated, top_n) if gen_rows is not None and generated else []
    return prompt_part, generated_part


def score_seq2seq(
    model: Any, vocab: Vocabulary, prompt: Sequence[int], generated: Sequence[int], top_n: int, start_id: int
) -> list[TokenLogprob]:
    """Generated tokens of an encoder-decoder row, teacher-forced after the decoder start token."""
    import torch

    if not generated:
        return []
    encoder = torch.tensor([list(prompt)], device=model.device)
    decoder = torch.tensor([[start_id, *list(generated)[:-1]]], device=model.device)
    out = model(input_ids=encoder, attention_mask=torch.ones_like(encoder), decoder_input_ids=decoder, use_cache=False)
    rows = torch.log_softmax(out.logits[0].float(), dim=-1)
    return from_logprob_rows(vocab, rows, generated, top_n)


class StepLogits:
    """Captures the last position's logits of each forward pass of `model` while it is active
    (a forward hook), so a stream can report each token's logprob as it is generated."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.latest: torch.Tensor | None = None
        self._handle: Any = None

    def __enter__(self) -> StepLogits:
        def hook(module: Any, args: Any, output: Any) -> None:
            import torch

            logits = getattr(output, "logits", None)
            if logits is not None:
                self.latest = torch.log_softmax(logits[0, -1].float(), dim=-1)

        self._handle = self.model.register_forward_hook(hook)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
