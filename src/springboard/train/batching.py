"""Batches with little padding: examples are grouped by length (HF's group_by_length idea:
shuffle, cut into mega-batches, sort each by length), then batches are shuffled. The order is a
pure function of (seed, epoch), so a resumed run sees exactly the batches it would have seen."""

from __future__ import annotations

import random
from typing import Sequence

import torch

IGNORE_INDEX = -100


def length_grouped_batches(
    lengths: Sequence[int], batch_size: int, seed: int, epoch: int, mega_factor: int = 50
) -> list[list[int]]:
    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    mega = batch_size * mega_factor
    batches: list[list[int]] = []
    for start in range(0, len(order), mega):
        chunk = sorted(order[start : start + mega], key=lambda i: -lengths[i])
        batches.extend(chunk[k : k + batch_size] for k in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def sequential_batches(n: int, batch_size: int) -> list[list[int]]:
    return [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]


def collate_causal(examples: Sequence, pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pads to the longest example; padding never carries a label."""
    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, e in enumerate(examples):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        labels[row, :n] = torch.tensor(e.labels)
        mask[row, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def collate_seq2seq(examples: Sequence, pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(e.input_ids) for e in examples)
    target = max(len(e.labels) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    labels = torch.full((len(examples), target), IGNORE_INDEX, dtype=torch.long)
    for row, e in enumerate(examples):
        ids[row, : len(e.input_ids)] = torch.tensor(e.input_ids)
        mask[row, : len(e.input_ids)] = 1
        labels[row, : len(e.labels)] = torch.tensor(e.labels)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def label_count(example, causal: bool) -> int:
    """Tokens that carry loss. Causal labels are shifted, so the first position never does."""
    labels = example.labels[1:] if causal else example.labels
    return sum(1 for t in labels if t != IGNORE_INDEX)


def real_tokens(example, causal: bool) -> int:
    """Non-padding tokens processed (encoder + decoder for seq2seq): the throughput unit."""
    return len(example.input_ids) + (0 if causal else len(example.labels))
