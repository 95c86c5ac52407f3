"""A stand-in for generate.Engine that records what the transform asks of it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FakeResult:
    texts: list[str]
    generated_tokens: int


class FakeEngine:
    is_seq2seq = True
    tokenizer = None

    def __init__(self, fail_on: tuple[str, ...] = (), reply=None) -> None:
        self.calls: list[tuple[list[str], object, int | None]] = []
        self.fail_on = fail_on
        self.reply = reply or (lambda prompt, k: f"out:{prompt}:{k}")

    def generate(self, prompts, params, chat=False, batch_size=None):
        self.calls.append((list(prompts), params, batch_size))
        for p in prompts:
            if p in self.fail_on:
                raise RuntimeError(f"cannot generate for {p!r}")
        n = params.num_return_sequences
        return [FakeResult([self.reply(p, k) for k in range(n)], 2 * n) for p in prompts]

    @property
    def prompts_seen(self) -> list[str]:
        return [p for call in self.calls for p in call[0]]
