"""How the continuous-batching scheduler prefills: admitted rows in groups of similar prompt
length (by_length), and its prefix cache: a prompt prefix a prefill group shares (a chat
template's system prompt, a few-shot preamble) has its keys and values computed once, at one
row, per LoRA adapter (an adapter changes them), and kept for later groups; the least recently
used are dropped."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

MIN_PREFIX = 16  # shared prompt tokens worth taking from the prefix cache
KEPT = 16  # prefixes kept (least recently used dropped)

# What one more prefill pass costs, in prompt positions (a heuristic): a pass reads every weight
# once, which takes about as long as ~32 positions of prompt (SmolLM2 on two cores: a 1-row decode
# step ~30 ms, a prompt position ~1 ms); larger models and GPUs shift both alike.
PASS_COST = 32


class PrefixCache:
    """`compute(adapter, tokens)` runs the model over `tokens` (with `adapter`) and returns its
    per-layer (keys, values)."""

    def __init__(self, compute: Callable[[str | None, tuple[int, ...]], list]) -> None:
        self.compute = compute
        self.entries: OrderedDict[tuple, list] = OrderedDict()  # (adapter, tokens) -> per-layer (keys, values)

    def shared(self, adapters: list[str | None], prompts: list[list[int]]) -> tuple[tuple[int, ...], list, int] | None:
        """The prompt prefix a group shares, its per-layer (keys, values) for every row (row i's
        adapter's), and how many came from the cache; None when there is none worth it. A one-row
        group only takes what the cache holds: its whole prompt is no prefix anyone shares."""
        import torch

        limit = min(len(p) for p in prompts) - 1  # every row keeps a token to prefill
        common = 0
        while common < limit and all(p[common] == prompts[0][common] for p in prompts):
            common += 1
        if common < MIN_PREFIX:
            return None
        head = tuple(prompts[0][:common])
        found: dict[str | None, tuple[int, list]] = {}
        shared, hits = common, 0
        for adapter in dict.fromkeys(adapters):
            hit = self.cached(adapter, head)
            if hit is None:
                if len(prompts) == 1 or (len(prompts) - 1) * common <= PASS_COST:
                    return None  # computing it apart would cost more than it saves
                hit = self.add(adapter, head, self.compute(adapter, head))
            else:
                hits += 1
            found[adapter] = hit
            shared = min(shared, hit[0])
        kv = []
        for layer in range(len(found[adapters[0]][1])):
            keys = torch.cat([found[a][1][layer][0][:, :, :shared] for a in adapters])
            values = torch.cat([found[a][1][layer][1][:, :, :shared] for a in adapters])
            kv.append((keys, values))
        return head[:shared], kv, hits

    def cached(self, adapter: str | None, head: tuple[int, ...]) -> tuple[int, list] | None:
        """The longest cached prefix of `head` for `adapter`: (its length, per-layer (keys, values))."""
        for key in sorted(self.entries, key=lambda k: -len(k[1])):
            if key[0] == adapter and head[: len(key[1])] == key[1]:  # only prefixes >= MIN_PREFIX are kept
                self.entries.move_to_end(key)
                return len(key[1]), self.entries[key]
        return None

    def add(self, adapter: str | None, head: tuple[int, ...], kv: list) -> tuple[int, Any]:
        self.entries[(adapter, head)] = kv
        while len(self.entries) > KEPT:
            self.entries.popitem(last=False)
        return len(head), kv


def by_length(rows: list[Any]) -> list[list[Any]]:
    """Admitted rows in prefill groups of similar prompt length: a group is left-padded to its
    longest prompt, so one group of a 12- and a 50-token prompt computes 38 positions for nothing.
    Splits (rows sorted by length) where the padding saved outweighs one more pass."""
    rows = sorted(rows, key=lambda r: len(r.stream.prompt_ids))
    lengths = [len(r.stream.prompt_ids) for r in rows]
    n = len(rows)
    best = [0] + [0] * n  # best[j]: cost of grouping rows[:j]
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        best[j], cut[j] = min((best[i] + PASS_COST + (j - i) * lengths[j - 1], i) for i in range(j))
    groups = []
    while n:
        groups.append(rows[cut[n] : n])
        n = cut[n]
    return groups[::-1]
