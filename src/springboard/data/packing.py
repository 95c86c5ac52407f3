"""Packing examples into `max_input_length` blocks so no compute goes to padding.

Two forms:
- `pack_stream` (domain adaptation): all token streams concatenated and cut every `block`
  tokens, as Hugging Face's `run_clm.py` `group_texts`. A document may start in one block and
  go on in the next; the last, shorter block is kept so no token is lost. The first token of
  each block is only a context token (nothing before it in the block to predict it from).
- `pack_examples` (instruction data with `packing=True`): whole examples placed into blocks by
  best-fit decreasing bin packing, never split, each keeping its own labels. In this simple form
  attention crosses example boundaries inside a block (no per-example attention mask), as in
  LLaMA-Factory's `packing` without `neat_packing`; each example still ends with its eos.
"""

from __future__ import annotations

import bisect

from springboard.data.tokens import Example


def pack_stream(examples: list[Example], block: int) -> list[Example]:
    ids = [t for e in examples for t in e.input_ids]
    labels = [t for e in examples for t in e.labels]
    return [Example(ids[i : i + block], labels[i : i + block]) for i in range(0, len(ids), block)]


def pack_examples(examples: list[Example], block: int) -> list[Example]:
    """Best-fit decreasing: longest example first, into the fullest block it still fits in.
    Deterministic (ties keep input order); examples longer than `block` get a block of their own."""
    order = sorted(range(len(examples)), key=lambda i: -len(examples[i].input_ids))
    bins: list[list[int]] = []
    free: list[tuple[int, int]] = []  # (room left, bin index), sorted
    for i in order:
        size = len(examples[i].input_ids)
        at = bisect.bisect_left(free, (size, -1))
        if at < len(free):
            room, b = free.pop(at)
            bins[b].append(i)
            room -= size
        else:
            b, room = len(bins), block - size
            bins.append([i])
        if room > 0:
            bisect.insort(free, (room, b))
    packed = []
    for members in bins:
        members.sort()  # input order inside a block
        packed.append(Example(
            [t for i in members for t in examples[i].input_ids],
            [t for i in members for t in examples[i].labels],
        ))
    return packed
