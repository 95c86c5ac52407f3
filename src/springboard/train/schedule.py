"""The learning-rate schedule of a run, and whether it lets the model learn at all.

One check for every caller: `springboard train` prints it before the job starts, the training
job writes it to its log and to `describe` (Warnings), and AutoML reports it per candidate.
A schedule that cannot teach the model anything is a warning, not an error: the run is valid,
just useless, and the user should hear why before waiting for it (every ROUGE 0, an empty
answer)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from springboard.train.hyperparameters import Hyperparameters

# Adam moves each weight by about the learning rate per step, so the learning rate summed
# over the run bounds how far any weight can move. Below this no weight moves by more than
# 1e-4 in the whole run: LoRA's B (initialised at 0) stays ~0 and the model's outputs do not
# change. A short default run (lr 1e-4, 10 steps) sums to ~5e-4.
MIN_TOTAL_UPDATE = 1e-4
_EXACT_SUM_STEPS = 200_000  # longer runs are summed in closed form per schedule segment


@dataclass(frozen=True)
class Schedule:
    optimizer_steps: int
    warmup_steps: int
    peak_learning_rate: float  # the highest learning rate the run reaches
    total_update: float  # the learning rate summed over every optimizer step


def optimizer_steps(hp: Hyperparameters, n_train_examples: int, processes: int = 1) -> int:
    """Optimizer steps of the run, as the loop counts them (each process takes its share of
    every batch)."""
    batches = math.ceil(n_train_examples / (hp.per_device_train_batch_size * processes))
    total = math.ceil(batches / hp.gradient_accumulation_steps) * hp.epochs
    return min(total, hp.max_steps) if hp.max_steps > 0 else total


def warmup_steps(hp: Hyperparameters, total: int) -> int:
    return hp.warmup_steps or math.ceil(hp.warmup_ratio * total)


def _lr_factor(kind: str, step: int, warmup: int, total: int) -> float:
    """transformers' schedules (get_scheduler) as a factor of the learning rate at `step`."""
    if kind == "constant":
        return 1.0
    if step < warmup:
        return step / max(1, warmup)
    if kind == "constant_with_warmup":
        return 1.0
    progress = (step - warmup) / max(1, total - warmup)
    if kind == "cosine":
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))
    return max(0.0, (total - step) / max(1, total - warmup))  # linear


def schedule(hp: Hyperparameters, n_train_examples: int, processes: int = 1) -> Schedule:
    total = optimizer_steps(hp, n_train_examples, processes)
    warmup = warmup_steps(hp, total)
    kind = hp.lr_scheduler_type
    # Optimizer step k (1-based) uses the factor at scheduler step k - 1.
    if total <= _EXACT_SUM_STEPS:
        factors = [_lr_factor(kind, k, warmup, total) for k in range(total)]
        update = hp.learning_rate * sum(factors)
        peak = hp.learning_rate * max(factors, default=0.0)
    else:  # a long run: far above any threshold here
        update = hp.learning_rate * total / 2
        peak = hp.learning_rate
    return Schedule(total, warmup, peak, update)


def schedule_problems(hp: Hyperparameters, n_train_examples: int, processes: int = 1) -> list[str]:
    """Sentences saying why this schedule cannot teach the model (empty when it can)."""
    s = schedule(hp, n_train_examples, processes)
    problems: list[str] = []
    per_step = f"batch {hp.per_device_train_batch_size}" + (f" x {processes} processes" if processes > 1 else "")
    run = (
        f"{s.optimizer_steps} optimizer step(s): {n_train_examples} training examples / {per_step}"
        f" / accumulation {hp.gradient_accumulation_steps} x {hp.epochs} epoch(s)" + (f", max_steps {hp.max_steps}" if hp.max_steps > 0 else "")
    )
    if hp.lr_scheduler_type != "constant" and s.warmup_steps >= s.optimizer_steps:
        problems.append(
            f"the warm-up ({s.warmup_steps} steps) is not shorter than the run ({run}): the "
            f"learning rate never leaves the warm-up and peaks at {s.peak_learning_rate:.3g} "
            f"instead of learning_rate {hp.learning_rate:g}"
        )
    if s.total_update < MIN_TOTAL_UPDATE:
        problems.append(
            f"the model cannot learn: the learning rate summed over the run is {s.total_update:.2g} "
            f"(learning_rate {hp.learning_rate:g}, {s.optimizer_steps} step(s), warm-up "
            f"{s.warmup_steps}), so no weight moves by more than about that; it needs at least "
            f"{MIN_TOTAL_UPDATE:g}: raise learning_rate, train more epochs or shorten the warm-up"
        )
    return problems
