"""The forward pass and its loss: a causal LM's body and head split so the head runs at label
positions only (`_split_head`), the summed token cross-entropy (`loss_sum`, with the
`chunked_loss` lever), the forward training calls (`training_forward`, with the
`torch_compile` lever), and the validation loss (`evaluate`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from springboard.errors import HyperparameterError
from springboard.hardware import Precision
from springboard.train.batching import IGNORE_INDEX, collate_causal, collate_seq2seq, sequential_batches
from springboard.train.distributed import Distributed, single
from springboard.train.hyperparameters import Hyperparameters
from springboard.train.losses import chunked_head_loss
from springboard.train.modeling import precision_for


def _split_head(model: torch.nn.Module):
    """(body, head) for causal LMs whose logits are a plain projection of the last hidden
    state; None where the model post-processes logits (soft-capping, scaling), which then
    goes through the full forward."""
    lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = lm.config
    if getattr(config, "final_logit_softcapping", None) or getattr(config, "logit_scale", None):
        return None
    body = getattr(lm, getattr(lm, "base_model_prefix", ""), None)
    head = lm.get_output_embeddings()
    if body is None or head is None or not type(lm).__name__.endswith("ForCausalLM"):
        return None
    return body, head


def loss_sum(model, batch: dict[str, torch.Tensor], seq2seq: bool, split, smoothing: float = 0.0, chunk: int = 0):
    """Summed token cross-entropy and the number of label tokens. `chunk` (causal, split head
    only): the head and the loss `chunk` label positions at a time (`losses.chunked_head_loss`),
    never the full logits."""
    labels = batch["labels"]
    if seq2seq:
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels)
        logits = out.logits.float()
        n = (labels != IGNORE_INDEX).sum()
        loss = F.cross_entropy(
            logits.view(-1, logits.size(-1)), labels.view(-1), ignore_index=IGNORE_INDEX,
            reduction="sum", label_smoothing=smoothing,
        )
        return loss, n
    target = labels[:, 1:]
    keep = target != IGNORE_INDEX
    if split is not None:
        body, head = split
        hidden = body(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False
        ).last_hidden_state
        # The head runs at label positions only, so it is cheap: kept in its own dtype even
        # under bf16 autocast, where bf16 logits (8-bit mantissa) would blur the loss.
        with torch.autocast(hidden.device.type, enabled=False):
            rows = hidden[:, :-1][keep].to(head.weight.dtype)
            if chunk:
                return chunked_head_loss(rows, head, target[keep], chunk, smoothing), keep.sum()
            logits = head(rows).float()
    elif chunk:
        raise HyperparameterError("hyperparameter 'chunked_loss' needs the LM head apart from the model body "
                                  "(a causal LM without logit post-processing, one process)")
    else:
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False)
        logits = out.logits[:, :-1][keep].float()
    loss = F.cross_entropy(logits, target[keep], reduction="sum", label_smoothing=smoothing)
    return loss, keep.sum()


@torch.no_grad()
def evaluate(
    model, examples, hp: Hyperparameters, seq2seq: bool, pad_id: int, device, dist: Distributed | None = None,
    precision: Precision | None = None,
) -> float | None:
    """Token-weighted validation loss (each rank takes its slice of every batch; summed), in the
    run's precision."""
    if not examples:
        return None
    dist = dist or single()
    precision = precision or precision_for(hp, device)
    was_training = model.training
    model.eval()
    split = None if seq2seq or dist.fsdp else _split_head(model)
    collate = collate_seq2seq if seq2seq else collate_causal
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].input_ids))
    total, count = 0.0, 0
    for idx in sequential_batches(len(order), dist.global_batch(hp.per_device_eval_batch_size)):
        local, weight = dist.shard(idx)
        if not local:
            continue
        batch = {k: v.to(device) for k, v in collate([examples[order[i]] for i in local], pad_id).items()}
        with precision.autocast(device.type):
            loss, n = loss_sum(model, batch, seq2seq, split, chunk=getattr(hp, "chunked_loss", 0))
        total += weight * loss.item()
        count += int(weight * int(n))
    total, count = dist.sum([total, count])
    model.train(was_training)
    return total / max(count, 1)


def training_forward(model, hp: Hyperparameters, seq2seq: bool, dist: Distributed):
    """(what `loss_sum` calls, split head or None). A causal LM's body and head are split so
    the head runs at label positions only (not under FSDP, which needs the root forward).
    With `torch_compile` the body (or, unsplit, the whole model) is compiled: the compiled
    wrapper shares the parameters and leaves the model, and what is saved, as it is."""
    split = None if seq2seq or dist.fsdp else _split_head(model)
    if getattr(hp, "chunked_loss", 0) and split is None:
        raise HyperparameterError(
            "hyperparameter 'chunked_loss': needs the LM head apart from the model body (a causal LM "
            "without logit post-processing, trained without FSDP); set it to 0 here"
        )
    if not hp.torch_compile:
        return model, split
    if split is not None:
        body, head = split
        return model, (torch.compile(body, dynamic=True), head)
    return torch.compile(model, dynamic=True), None
