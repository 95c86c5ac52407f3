"""The training loop.

CPU training is compute-bound, so speed comes from doing less work:
- batches are grouped by length, so little compute goes to padding;
- for causal models the vocabulary projection runs only at positions that carry a label
  (the completion), not over the whole sequence: on a 135M model the LM head is ~20% of the
  forward FLOPs and its fp32 logits dominate activation memory;
- matrix products run in bf16 under autocast where the hardware does them faster
  (`hardware.choose_precision`: a GPU with bf16, or a CPU whose bf16 GEMM measures faster);
  trained weights, optimizer state and the loss stay float32;
- the loss is summed per token and divided by the label tokens of the whole optimizer step,
  so gradient accumulation gives the same update as one large batch;
- selectable: `chunked_loss` (the head and the loss over chunks of label positions, the full
  logits never held) and `torch_compile` (the forward under torch.compile).

`fit` names its steps: set-up (`_Run`: step plan, optimizer, forward), resume or score the
untrained model, then per epoch the optimizer steps (accumulate, update, log, validate,
checkpoint), and the result. Loading the model is `modeling`'s; the forward pass, its loss and
the validation loss are `forward`'s.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from springboard.errors import HyperparameterError, JobStopped
from springboard.hardware import Precision
from springboard.train import checkpoint
from springboard.train.batching import (
    collate_causal,
    collate_seq2seq,
    label_count,
    length_grouped_batches,
    real_tokens,
)
from springboard.train.distributed import Distributed, single
from springboard.train.forward import evaluate, loss_sum, training_forward
from springboard.train.hyperparameters import Hyperparameters
from springboard.train.modeling import precision_for, set_seed

log = logging.getLogger("springboard.train")
# The same metrics also as the transformers Trainer prints them in JumpStart's containers, so the
# MetricDefinitions of JumpStart specs and SageMaker notebooks (`'eval_loss': ([0-9\.]+)`) match.
TRAINER_TRAIN_LINE = "{'loss': %.4f, 'learning_rate': %r, 'epoch': %.2f}"
TRAINER_EVAL_LINE = "{'eval_loss': %.4f, 'epoch': %.2f}"


class Reporter(Protocol):
    """What the loop reports to; a JobContext is one."""

    def log_metrics(
        self, step: int | None = None, epoch: float | None = None, values: dict[str, float] | None = None, **named: float
    ) -> None: ...
    def should_stop(self) -> bool: ...
    def update_config(self, **values: Any) -> None: ...


@dataclass
class TrainResult:
    global_step: int
    epochs: float
    train_loss: float | None
    val_loss: float | None
    perplexity: float | None
    initial_val_loss: float | None
    tokens_per_second: float
    train_tokens: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)


def fit(
    model,
    tokenizer,
    train: list,
    validation: list,
    hp: Hyperparameters,
    reporter: Reporter,
    checkpoint_dir: Path,
    seq2seq: bool,
    device: torch.device,
    dist: Distributed | None = None,
    precision: Precision | None = None,
) -> TrainResult:
    """`dist`: the processes this runs on (one by default). With N processes a global batch is
    N x per_device_train_batch_size examples, each process taking its slice, so the updates
    equal one process running the global batch."""
    dist = dist or single()
    if not train:
        raise HyperparameterError("no training examples after preprocessing")
    set_seed(hp.seed)
    run = _Run(model, tokenizer, train, validation, hp, reporter, checkpoint_dir, seq2seq, device, dist,
               precision or precision_for(hp, device))
    run.resume_or_score_start()
    run.announce()
    model.train()
    while not run.finished():
        run.train_epoch()
    if run.last_val is None:  # resumed after the last step: report the final model anyway
        run.validate(float(run.pos.epoch))
    return run.result()


@dataclass
class StepPlan:
    """How the examples become optimizer steps."""

    global_batch: int  # examples per batch over all processes
    batches_per_epoch: int
    total_steps: int  # optimizer steps of the whole run (max_steps caps it)
    warmup_steps: int


def plan_steps(n_examples: int, hp: Hyperparameters, dist: Distributed) -> StepPlan:
    global_batch = dist.global_batch(hp.per_device_train_batch_size)
    n_batches = math.ceil(n_examples / global_batch)
    steps_per_epoch = math.ceil(n_batches / hp.gradient_accumulation_steps)
    total_steps = steps_per_epoch * hp.epochs
    if hp.max_steps > 0:
        total_steps = min(total_steps, hp.max_steps)
    warmup = hp.warmup_steps or math.ceil(hp.warmup_ratio * total_steps)
    return StepPlan(global_batch, n_batches, total_steps, warmup)


def make_optimizer(model, hp: Hyperparameters, plan: StepPlan):
    """(trainable parameters, AdamW, LR schedule); no weight decay on biases and norms."""
    from transformers import get_scheduler

    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": hp.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=hp.learning_rate,
    )
    return params, optimizer, get_scheduler(hp.lr_scheduler_type, optimizer, plan.warmup_steps, plan.total_steps)


class _Window:
    """Training loss and throughput since the last logged step. Time spent validating and
    checkpointing (`paused`) is left out of the throughput."""

    def __init__(self) -> None:
        self.loss = self.tokens = 0.0
        self.real = 0
        self.paused = 0.0
        self.start = time.perf_counter()


class _Run:
    """One `fit`: its set-up, then the steps `fit` names."""

    def __init__(self, model, tokenizer, train, validation, hp, reporter, checkpoint_dir, seq2seq, device, dist,
                 precision: Precision) -> None:
        self.model, self.train, self.validation, self.hp = model, train, validation, hp
        self.reporter, self.checkpoint_dir, self.seq2seq, self.device, self.dist = (
            reporter, checkpoint_dir, seq2seq, device, dist)
        self.precision = precision
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
        self.collate = collate_seq2seq if seq2seq else collate_causal
        self.forward, self.split = training_forward(model, hp, seq2seq, dist)
        self.causal = not seq2seq
        self.smoothing = getattr(hp, "label_smoothing_factor", 0.0)
        self.chunk = getattr(hp, "chunked_loss", 0)
        self.lengths = [len(e.input_ids) for e in train]
        self.plan = plan_steps(len(train), hp, dist)
        reporter.update_config(total_steps=self.plan.total_steps)
        self.params, self.optimizer, self.scheduler = make_optimizer(model, hp, self.plan)
        self.pos = checkpoint.Position()
        self.initial_val: float | None = None
        self.last_val: float | None = None
        self.last_train_loss: float | None = None
        self.history: list[dict[str, float]] = []
        self.window = _Window()
        self.run_tokens = 0
        self.train_seconds = 0.0
        self.done = False

    # --- start -----------------------------------------------------------------------------

    def resume_or_score_start(self) -> None:
        """Continues from the latest checkpoint, or scores the untrained model (step 0)."""
        found = checkpoint.latest(self.checkpoint_dir)
        if found is not None:
            self.pos = self.dist.load_checkpoint(found, self.model, self.optimizer, self.scheduler)
            log.info("resumed from %s (epoch %d, batch %d, step %d)", found.name, self.pos.epoch, self.pos.batch,
                     self.pos.global_step)
        else:
            self.initial_val = self._evaluate()
            if self.initial_val is not None:
                self.reporter.log_metrics(step=0, epoch=0.0, val_loss=self.initial_val,
                                          perplexity=_ppl(self.initial_val))
                log.info("step 0: val_loss %.4f perplexity %.2f", self.initial_val, _ppl(self.initial_val))
        self.done = self.pos.global_step >= self.plan.total_steps
        self.window = _Window()

    def announce(self) -> None:
        hp = self.hp
        log.info("%s", self.precision.describe())
        log.info(
            "training %d examples (%d validation), %d epochs, %d optimizer steps, batch %d x %d accumulation x %d "
            "processes", len(self.train), len(self.validation), hp.epochs, self.plan.total_steps,
            hp.per_device_train_batch_size, hp.gradient_accumulation_steps, self.dist.world_size,
        )

    def finished(self) -> bool:
        return self.done or self.pos.epoch >= self.hp.epochs

    # --- one epoch ---------------------------------------------------------------------------

    def train_epoch(self) -> None:
        """The epoch's optimizer steps from where the run stands, then validation and a checkpoint."""
        hp, pos = self.hp, self.pos
        batches = length_grouped_batches(self.lengths, self.plan.global_batch, hp.seed, pos.epoch)
        accumulation = hp.gradient_accumulation_steps
        groups = [batches[i : i + accumulation] for i in range(0, len(batches), accumulation)]
        for group in groups[pos.batch // accumulation :]:
            self._stop_if_asked()
            self._optimizer_step(group)
            epoch_f = pos.epoch + pos.batch / len(batches)
            if pos.global_step % hp.logging_steps == 0 or pos.global_step == self.plan.total_steps:
                self._log_window(epoch_f)
            if self._validates_now():
                self.validate(epoch_f)
            if pos.global_step >= self.plan.total_steps:
                self.done = True
                break
            if hp.save_steps and pos.global_step % hp.save_steps == 0:
                self.save_checkpoint()
        if pos.batch >= len(batches):
            pos.epoch += 1
            pos.batch = 0
        if not self._validates_now():  # else validated after the last step already
            self.validate(float(pos.epoch) if pos.batch == 0 else pos.epoch + pos.batch / len(batches))
        self.save_checkpoint()

    def _stop_if_asked(self) -> None:
        if self.dist.should_stop(self.reporter):
            self.save_checkpoint()
            raise JobStopped("training stopped on request; resume continues from the checkpoint")

    def _optimizer_step(self, group: list[list[int]]) -> None:
        """Forward and backward over the step's batches (gradient accumulation), then one update."""
        train, dist, window = self.train, self.dist, self.window
        # Each batch's summed loss over the label tokens of the whole step: accumulation gives
        # the update of one large batch.
        step_labels = sum(label_count(train[i], self.causal) for idx in group for i in idx)
        for idx in group:
            local, weight = dist.shard(idx)
            if not local:
                continue
            batch = {k: v.to(self.device) for k, v in self.collate([train[i] for i in local], self.pad_id).items()}
            with self.precision.autocast(self.device.type):
                loss, n = loss_sum(self.forward, batch, self.seq2seq, self.split, self.smoothing, self.chunk)
            (weight * loss / max(step_labels, 1)).backward()
            window.loss += weight * loss.item()
            window.tokens += int(weight * int(n))
            real = int(weight * sum(real_tokens(train[i], self.causal) for i in local))
            window.real += real
            self.run_tokens += real
        dist.sync_gradients(self.params)
        dist.clip_grad_norm(self.params, self.hp.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.pos.global_step += 1
        self.pos.batch += len(group)
        self.pos.tokens_seen += sum(len(train[i].input_ids) for idx in group for i in idx)

    def _log_window(self, epoch_f: float) -> None:
        """Reports the training loss and tokens/s since the last report, then starts a new window."""
        window = self.window
        elapsed = time.perf_counter() - window.start - window.paused
        loss, tokens, real = self.dist.sum([window.loss, window.tokens, window.real])
        self.last_train_loss = loss / max(tokens, 1)
        point = {
            "train_loss": self.last_train_loss,
            "learning_rate": self.scheduler.get_last_lr()[0],
            "tokens_per_second": real / max(elapsed, 1e-9),
            "epoch": epoch_f,
        }
        step, total = self.pos.global_step, self.plan.total_steps
        self.reporter.log_metrics(step=step, epoch=epoch_f, values=point)
        self.history.append({"step": step, **point})
        log.info("step %d/%d epoch %.2f train_loss %.4f lr %.3g tokens/s %.1f", step, total, epoch_f,
                 self.last_train_loss, point["learning_rate"], point["tokens_per_second"])
        log.info(TRAINER_TRAIN_LINE, self.last_train_loss, point["learning_rate"], epoch_f)
        self.train_seconds += elapsed
        self.window = _Window()

    def _validates_now(self) -> bool:
        return bool(self.hp.eval_steps and self.pos.global_step % self.hp.eval_steps == 0)

    # --- validation, checkpoints, the result ------------------------------------------------

    def _evaluate(self) -> float | None:
        return evaluate(self.model, self.validation, self.hp, self.seq2seq, self.pad_id, self.device, self.dist,
                        self.precision)

    def validate(self, epoch_f: float) -> None:
        t = time.perf_counter()
        self.last_val = self._evaluate()
        self.window.paused += time.perf_counter() - t
        if self.last_val is not None:
            step = self.pos.global_step
            self.reporter.log_metrics(step=step, epoch=epoch_f, val_loss=self.last_val, perplexity=_ppl(self.last_val))
            log.info("step %d epoch %.2f: val_loss %.4f perplexity %.2f", step, epoch_f, self.last_val,
                     _ppl(self.last_val))
            log.info(TRAINER_EVAL_LINE, self.last_val, epoch_f)

    def save_checkpoint(self) -> None:
        t = time.perf_counter()
        self.dist.save_checkpoint(self.checkpoint_dir, self.model, self.optimizer, self.scheduler, self.pos)
        self.window.paused += time.perf_counter() - t

    def result(self) -> TrainResult:
        (run_tokens,) = self.dist.sum([self.run_tokens])
        run_tokens = int(run_tokens)
        pos, last_val = self.pos, self.last_val
        return TrainResult(
            global_step=pos.global_step,
            epochs=pos.epoch + (pos.batch / max(self.plan.batches_per_epoch, 1)),
            train_loss=self.last_train_loss,
            val_loss=last_val,
            perplexity=_ppl(last_val) if last_val is not None else None,
            initial_val_loss=self.initial_val,
            tokens_per_second=run_tokens / max(self.train_seconds, 1e-9),
            train_tokens=run_tokens,
            seconds=self.train_seconds,
            history=self.history,
        )


def _ppl(loss: float) -> float:
    return math.exp(min(loss, 50.0))
