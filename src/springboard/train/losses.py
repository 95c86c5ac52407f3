"""The LM head and cross-entropy over chunks of rows, never the full logits (`chunked_loss`).

With a 49152-token vocabulary the float32 logits of the label positions, their softmax and
their gradient are most of a small model's activation memory (800 label tokens: 3 x 157 MB).
`chunked_head_loss` runs the head and the loss N rows at a time:

- for a plain linear head (the usual case) the gradient is computed in the same pass, as in
  Liger-Kernel's fused linear cross-entropy: per chunk, logits -> softmax -> d(loss)/d(logits)
  -> d(loss)/d(hidden) (and d/d(weight) when the head trains); only d(loss)/d(hidden) (rows x
  hidden) is kept for backward, which scales it by the incoming gradient. No logits are
  recomputed;
- for any other head (an adapter on the LM head), each chunk runs under activation
  checkpointing, so backward recomputes one chunk's logits at a time.

The result equals `F.cross_entropy(head(hidden).float(), targets, reduction="sum",
label_smoothing=s)` up to float32 rounding of the sums.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint


def chunked_head_loss(
    hidden: torch.Tensor, head: torch.nn.Module, targets: torch.Tensor, chunk: int, smoothing: float = 0.0
) -> torch.Tensor:
    """Summed cross-entropy of `head(hidden)` against `targets` (rows x hidden, rows), `chunk`
    rows at a time; computed in float32 (the head in its own dtype, under the caller's autocast
    state). Every target is a class index (the label positions only, nothing ignored)."""
    if chunk < 1:
        raise ValueError("chunk must be at least 1")
    if bool((targets < 0).any()):
        raise ValueError("targets must all be class indices: pass the label positions only")
    training = torch.is_grad_enabled()
    if training and type(head) is torch.nn.Linear:
        return _FusedLinearCrossEntropy.apply(hidden, head.weight, head.bias, targets, chunk, smoothing)
    total = hidden.new_zeros((), dtype=torch.float32)
    for start in range(0, hidden.size(0), chunk):
        rows = hidden[start : start + chunk]
        part = targets[start : start + chunk]
        if training:
            total = total + checkpoint(_head_ce, head, rows, part, smoothing, use_reentrant=False)
        else:  # evaluation: one chunk's logits at a time, no gradient to keep
            total = total + _head_ce(head, rows, part, smoothing)
    return total


def _head_ce(head, rows, targets, smoothing):
    return F.cross_entropy(head(rows).float(), targets, reduction="sum", label_smoothing=smoothing)


class _FusedLinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, chunk, smoothing):
        want_hidden, want_weight, want_bias = ctx.needs_input_grad[:3]
        grad_hidden = torch.empty_like(hidden) if want_hidden else None
        grad_weight = torch.zeros_like(weight, dtype=torch.float32) if want_weight else None
        grad_bias = torch.zeros_like(bias, dtype=torch.float32) if want_bias else None
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        vocab = weight.size(0)
        for start in range(0, hidden.size(0), chunk):
            rows = hidden[start : start + chunk].to(weight.dtype)
            part = targets[start : start + chunk]
            logits = F.linear(rows, weight, bias).float()
            total += F.cross_entropy(logits, part, reduction="sum", label_smoothing=smoothing)
            if not (want_hidden or want_weight or want_bias):
                continue
            # d(sum CE)/d(logits) = softmax - ((1 - s) one-hot + s / V)
            grad = logits.softmax(dim=-1)
            del logits
            if smoothing:
                grad -= smoothing / vocab
            grad[torch.arange(part.size(0), device=part.device), part] -= 1.0 - smoothing
            if want_hidden:
                grad_hidden[start : start + chunk] = (grad.to(weight.dtype) @ weight).to(hidden.dtype)
            if want_weight:
                grad_weight += grad.t() @ rows.float()
            if want_bias:
                grad_bias += grad.sum(0)
        ctx.save_for_backward(grad_hidden, grad_weight, grad_bias)
        ctx.weight_dtype = weight.dtype
        return total

    @staticmethod
    def backward(ctx, grad_output):
        grad_hidden, grad_weight, grad_bias = ctx.saved_tensors
        scale = grad_output.float()
        return (
            None if grad_hidden is None else grad_hidden * scale.to(grad_hidden.dtype),
            None if grad_weight is None else (grad_weight * scale).to(ctx.weight_dtype),
            None if grad_bias is None else (grad_bias * scale).to(ctx.weight_dtype),
            None,
            None,
            None,
        )
