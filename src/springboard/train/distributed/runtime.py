"""The rank side: a process group with a timeout (a dead peer ends the others instead of
hanging them), and `Distributed`, the handful of operations the training loop needs: its
slice of each global batch, summing gradients and counters, rank-0-only checkpoints."""

from __future__ import annotations

import datetime
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from springboard.train.distributed.plan import DEFAULT_TIMEOUT_S, TIMEOUT_ENV, DistributedTrainingError

log = logging.getLogger("springboard.train")

BUCKET_BYTES = 25 * 2**20  # gradient all-reduce bucket (DDP's default size)


@dataclass
class Distributed:
    """What the training loop asks of the processes it runs on. One process: every operation
    is the identity (`single()`)."""

    world_size: int = 1
    rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    fsdp: bool = False
    comm_seconds: float = 0.0  # time spent in the gradient all-reduce
    comm_steps: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def global_batch(self, per_device: int) -> int:
        return per_device * self.world_size

    def shard(self, idx: list[int]) -> tuple[list[int], float]:
        """This rank's part of a global batch and the weight of its loss. Under FSDP every rank
        must run each forward (its collectives), so an empty part becomes one example that
        counts for nothing."""
        local = idx[self.rank :: self.world_size]
        if not local and self.fsdp:
            return idx[:1], 0.0
        return local, 1.0

    def sync_gradients(self, params: list[torch.nn.Parameter]) -> None:
        """Sums the gradients of all ranks (the loss is already divided by the global label
        count, so the sum is the global mean). FSDP reduces its own gradients."""
        if not self.active or self.fsdp:
            return
        import torch.distributed as dist

        t = time.perf_counter()
        for p in params:
            if p.grad is None:  # a rank with no examples this step still takes part
                p.grad = torch.zeros_like(p)
        bucket: list[torch.Tensor] = []
        size = 0
        for p in params:
            bucket.append(p.grad)
            size += p.grad.numel() * p.grad.element_size()
            if size >= BUCKET_BYTES:
                _all_reduce_flat(bucket, dist)
                bucket, size = [], 0
        if bucket:
            _all_reduce_flat(bucket, dist)
        self.comm_seconds += time.perf_counter() - t
        self.comm_steps += 1

    def clip_grad_norm(self, params: list[torch.nn.Parameter], max_norm: float) -> None:
        # After the sync every rank holds the same gradients (DTensor shards under FSDP, whose
        # norm torch computes across ranks), so every rank clips the same way.
        torch.nn.utils.clip_grad_norm_(params, max_norm)

    def sum(self, values: list[float]) -> list[float]:
        if not self.active:
            return list(values)
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.tolist()

    def should_stop(self, reporter: Any) -> bool:
        """Rank 0 reads the stop request; every rank gets its answer, so all stop at the same step."""
        stop = reporter.should_stop() if self.is_main else False
        if not self.active:
            return stop
        import torch.distributed as dist

        t = torch.tensor([1 if stop else 0], dtype=torch.int32, device=self.device)
        dist.broadcast(t, src=0)
        return bool(t.item())

    def barrier(self) -> None:
        if self.active:
            import torch.distributed as dist

            dist.barrier()

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        """Same starting weights on every rank (rank 0's), then FSDP sharding when planned."""
        if not self.active:
            return model
        import torch.distributed as dist

        with torch.no_grad():
            for p in model.parameters():
                if p.requires_grad:
                    dist.broadcast(p.data, src=0)
        if self.fsdp:
            model = _fully_shard(model, self.device)
        return model

    # Checkpoints: rank 0 writes, every rank reads the same one.
    def save_checkpoint(self, directory: Path, model, optimizer, scheduler, position) -> None:
        from springboard.train import checkpoint

        if self.fsdp:
            trainable, optim_state = _full_state(model, optimizer)
            if self.is_main:
                checkpoint.write(directory, trainable, optim_state, scheduler.state_dict(), position)
        elif self.is_main:
            checkpoint.save(directory, model, optimizer, scheduler, position)
        self.barrier()

    def load_checkpoint(self, path: Path, model, optimizer, scheduler):
        from springboard.train import checkpoint

        if not self.fsdp:
            return checkpoint.load(path, model, optimizer, scheduler)
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict, set_state_dict

        state, position = checkpoint.read(path)
        options = StateDictOptions(full_state_dict=True, strict=False)
        if state["optimizer"].get("state"):
            set_state_dict(
                model, optimizer, model_state_dict=state["trainable"], optim_state_dict=state["optimizer"],
                options=options,
            )
        else:
            # Saved before the first step: loading an empty optimizer state would make torch
            # initialise it with a zero-gradient step, which counts as an Adam step.
            set_model_state_dict(model, state["trainable"], options=options)
        scheduler.load_state_dict(state["scheduler"])
        checkpoint.restore_rng(state)
        return position

    def model_for_saving(self, model, rebuild: Callable[[], torch.nn.Module]):
        """The model rank 0 writes as the artifact (None on other ranks). Under FSDP the
        trained weights are gathered into a fresh unsharded copy (`rebuild()`)."""
        if not self.fsdp:
            return model if self.is_main else None
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        full = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        if not self.is_main:
            return None
        copy = rebuild()
        names = {n for n, p in copy.named_parameters() if p.requires_grad}
        missing, _ = copy.load_state_dict({k: v for k, v in full.items() if k in names}, strict=False)
        lost = names & set(missing)
        if lost:
            raise DistributedTrainingError(f"gathered FSDP weights miss {sorted(lost)[:3]}")
        return copy


def single() -> Distributed:
    return Distributed()


def _all_reduce_flat(grads: list[torch.Tensor], dist: Any) -> None:
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset : offset + n].view_as(g))
        offset += n


def _transformer_block_classes(model: torch.nn.Module) -> set[str]:
    """Hugging Face models name their repeated blocks (`_no_split_modules`): the units FSDP
    wraps one by one (accelerate's TRANSFORMER_BASED_WRAP)."""
    lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    return set(getattr(lm, "_no_split_modules", None) or [])


def _fully_shard(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh(device.type, (torch.distributed.get_world_size(),))
    blocks = _transformer_block_classes(model)
    wrapped = 0
    for module in model.modules():
        if type(module).__name__ in blocks:
            fully_shard(module, mesh=mesh)
            wrapped += 1
    fully_shard(model, mesh=mesh)
    log.info("FSDP: %d transformer blocks (%s) sharded over %d ranks", wrapped, ",".join(sorted(blocks)) or "-",
             torch.distributed.get_world_size())
    return model


def _full_state(model, optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Whole trainable weights and optimizer state on rank 0 (collective: every rank calls)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict, get_state_dict

    names = {n for n, p in model.named_parameters() if p.requires_grad}
    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    if optimizer.state:
        msd, osd = get_state_dict(model, optimizer, options=options)
    else:
        # Before the first step torch would fill an empty optimizer state with a zero-gradient
        # step (an Adam step count of 1); there is nothing to gather yet.
        msd, osd = get_model_state_dict(model, options=options), optimizer.state_dict()
    return {k: v for k, v in msd.items() if k in names}, osd


def init_rank() -> Distributed:
    """In a process started by `accelerate launch`: joins the process group (with a timeout,
    so a dead peer ends a collective instead of hanging it) and says who this rank is."""
    from accelerate import Accelerator
    from accelerate.utils import InitProcessGroupKwargs

    timeout = datetime.timedelta(seconds=float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S)))
    cuda = torch.cuda.is_available()
    accelerator = Accelerator(
        cpu=not cuda,
        kwargs_handlers=[InitProcessGroupKwargs(backend="nccl" if cuda else "gloo", timeout=timeout)],
    )
    return Distributed(
        world_size=accelerator.num_processes,
        rank=accelerator.process_index,
        device=accelerator.device,
        fsdp=os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true",
    )
