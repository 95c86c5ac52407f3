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
checkpoint), and the result.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F

from springboard.errors import HyperparameterError, JobStopped
from springboard.hardware import Precision, choose_precision
from springboard.train import checkpoint
from springboard.train.batching import (
    IGNORE_INDEX,
    collate_causal,
    collate_seq2seq,
    label_count,
    length_grouped_batches,
    real_tokens,
    sequential_batches,
)
from springboard.train.distributed import Distributed, single
from springboard.train.hyperparameters import Hyperparameters
from springboard.train.losses import chunked_head_loss

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


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def precision_for(hp: Hyperparameters, device: torch.device) -> Precision:
    """The run's precision (`hp.precision` on this device; the CPU probe runs once per process)."""
    return choose_precision(hp.precision, device.type)


def load_model(model_dir: Path, hp: Hyperparameters, device: torch.device, precision: Precision | None = None):
    """The model ready to train, its weights in float32, except a LoRA base on a GPU in bf16
    precision, stored in bf16 (frozen, half the memory); LoRA adapters attached (peft keeps
    them in float32) when peft_type is lora. bf16 compute is autocast around each step."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    config = AutoConfig.from_pretrained(model_dir)
    seq2seq = bool(getattr(config, "is_encoder_decoder", False))
    # On a CPU the frozen base stays float32 too: autocast casts it per product, and the merged
    # artifact is then the float32 base plus the float32 update, never a bf16-rounded base.
    bf16_base = device.type == "cuda" and hp.peft_type == "lora" and (precision or precision_for(hp, device)).bf16
    dtype = torch.bfloat16 if bf16_base else torch.float32
    cls = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
    # Seeded before anything random: LoRA's initial weights come from the torch RNG, so the
    # same configuration and seed give the same run.
    set_seed(hp.seed)
    int8 = bool(getattr(hp, "int8_quantization", False))
    if int8:
        # bitsandbytes' LLM.int8() linear layers (outliers above 6.0 kept in 16 bits); the LM
        # head and the norms stay float32, and the weights go straight to `device`.
        from transformers import BitsAndBytesConfig

        model = cls.from_pretrained(model_dir, dtype=dtype, quantization_config=BitsAndBytesConfig(load_in_8bit=True),
                                    device_map={"": device})
    else:
        model = cls.from_pretrained(model_dir, dtype=dtype)
    model.config.use_cache = False
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if hp.peft_type == "lora":
        from peft import get_peft_model

        model = get_peft_model(model, lora_config(hp, seq2seq))
    if not int8:
        model.to(device)
    return model, tokenizer, seq2seq


def dequantized(model, model_dir: Path, hp: Hyperparameters):
    """The trained adapter on the float32 base read again from disk: what an int8 run saves,
    so the merged artifact is the float32 base plus the update, not 8-bit weights."""
    if not getattr(hp, "int8_quantization", False):
        return model
    from peft import get_peft_model_state_dict, set_peft_model_state_dict

    fresh, _, _ = load_model(model_dir, hp.model_copy(update={"int8_quantization": False}), torch.device("cpu"))
    set_peft_model_state_dict(fresh, {k: v.float().cpu() for k, v in get_peft_model_state_dict(model).items()})
    return fresh


def set_seed(seed: int) -> None:
    """Seeds Python's, NumPy's and torch's generators (transformers.set_seed)."""
    from transformers import set_seed as hf_set_seed

    hf_set_seed(seed)


def lora_config(hp: Hyperparameters, seq2seq: bool):
    from peft import LoraConfig, TaskType

    targets: Any = None
    if hp.lora_target_modules not in ("auto", ""):
        targets = (
            "all-linear"
            if hp.lora_target_modules == "all-linear"
            else [t.strip() for t in hp.lora_target_modules.split(",") if t.strip()]
        )
    return LoraConfig(
        task_type=TaskType.SEQ_2_SEQ_LM if seq2seq else TaskType.CAUSAL_LM,
        r=hp.lora_r,
        lora_alpha=hp.lora_alpha,
        lora_dropout=hp.lora_dropout,
        target_modules=targets,
    )


def check_lora_targets(model_dir: Path, hp: Hyperparameters) -> None:
    """Attaches the LoRA configuration to the model built on the meta device (no weights are
    read): peft's own check of `lora_target_modules`, before any job starts."""
    if hp.peft_type != "lora":
        return
    from peft import get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM

    config = AutoConfig.from_pretrained(model_dir)
    seq2seq = bool(getattr(config, "is_encoder_decoder", False))
    cls = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
    with torch.device("meta"):
        model = cls.from_config(config)
    leaves = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)})
    lora = lora_config(hp, seq2seq)
    # peft only fails when no name matches; every name the user lists must match a module.
    listed = sorted(lora.target_modules) if isinstance(lora.target_modules, (set, list)) else []
    names = [n for n, _ in model.named_modules()]
    missing = [t for t in listed if not any(n == t or n.endswith("." + t) for n in names)]
    if missing:
        raise HyperparameterError(
            f"hyperparameter 'lora_target_modules': no module named {', '.join(map(repr, missing))} in this "
            f"model; its linear layers are: {', '.join(leaves)} (or use 'auto' / 'all-linear')"
        )
    try:
        get_peft_model(model, lora)
    except ValueError as exc:
        raise HyperparameterError(
            f"hyperparameter 'lora_target_modules': {hp.lora_target_modules!r} does not fit this model "
            f"({str(exc).splitlines()[0]}); its linear layers are: {', '.join(leaves)}"
        ) from None


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
