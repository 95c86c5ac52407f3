"""Training on several processes: the same loop under `accelerate launch` (torch distributed).

Three pieces, top to bottom:
- the plan: how many processes, which backend, data-parallel or FSDP, and the exact
  `accelerate launch` arguments (a pure function, so the GPU/FSDP configuration is testable
  on a machine without GPUs);
- the launcher, run by the job's worker process: it starts `accelerate launch`, which starts
  one rank per process, and turns the ranks' ending into the job's ending. The job store still
  knows one job and one worker;
- the rank side: a process group with a timeout (a dead peer ends the others instead of
  hanging them), and `Distributed`, the handful of operations the training loop needs: its
  slice of each global batch, summing gradients and counters, rank-0-only checkpoints.

Data-parallel keeps one full copy of the model per process and sums gradients once per
optimizer step (one all-reduce over all trainable gradients, bucketed), so the update equals
one process running the whole global batch. FSDP (GPU, `enable_fsdp`, more than one GPU)
shards parameters, gradients and optimizer state with torch's `fully_shard` per transformer
block; gradients are then reduced by FSDP itself.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from springboard.errors import JobStopped, SpringboardError, ValidationError

log = logging.getLogger("springboard.train")

MAX_PROCESSES = 64
TIMEOUT_ENV = "SPRINGBOARD_DIST_TIMEOUT_S"  # seconds a collective may wait for a peer
DEFAULT_TIMEOUT_S = 300
# Developer switch: shard with FSDP on CPU (gloo) so the FSDP code path runs in CPU tests.
FSDP_ON_CPU_ENV = "SPRINGBOARD_FSDP_ON_CPU"
BUCKET_BYTES = 25 * 2**20  # gradient all-reduce bucket (DDP's default size)
RANKS_DIR = "ranks"


class DistributedTrainingError(SpringboardError):
    """A training process failed or died."""


# ---------------------------------------------------------------------------------------
# The plan


def processes_from_instance_count(value: Any, field_name: str = "InstanceCount") -> int:
    """SageMaker's instance count (control plane `ResourceConfig.InstanceCount`, SDK
    `instance_count`) as the number of training processes on this machine."""
    try:
        n = int(str(value).strip())
    except ValueError:
        raise ValidationError(f"{field_name}: must be an integer between 1 and {MAX_PROCESSES} (got {value!r})") from None
    if isinstance(value, float) and not float(value).is_integer():
        raise ValidationError(f"{field_name}: must be an integer between 1 and {MAX_PROCESSES} (got {value!r})")
    if not 1 <= n <= MAX_PROCESSES:
        raise ValidationError(f"{field_name}: must be between 1 and {MAX_PROCESSES} (got {n})")
    return n


def gpu_count() -> int:
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


@dataclass(frozen=True)
class LaunchPlan:
    processes: int
    gpus: int  # GPUs used (0: CPU)
    backend: str  # gloo | nccl
    fsdp: bool
    notes: tuple[str, ...] = ()

    @property
    def distributed(self) -> bool:
        return self.processes > 1

    def accelerate_args(self) -> list[str]:
        """`accelerate launch` options (everything before the script). The CPU case uses the
        torchrun launcher too (accelerate's own `--cpu` launcher needs MPI for >1 process);
        each rank then asks for a CPU process group (gloo)."""
        args = [
            "--num_processes", str(self.processes),
            "--num_machines", "1",
            "--main_process_port", "0",  # a free port: several jobs may run at once
            "--mixed_precision", "no",  # the loop picks dtypes itself (bf16 weights on GPU)
            "--dynamo_backend", "no",
            "--max_restarts", "0",  # a dead rank fails the job; `jobs resume` restarts it
            "--monitor_interval", "0.5",
        ]
        if self.fsdp:
            args += [
                "--use_fsdp",
                "--fsdp_version", "2",
                "--fsdp_auto_wrap_policy", "TRANSFORMER_BASED_WRAP",
                "--fsdp_state_dict_type", "FULL_STATE_DICT",
                "--fsdp_reshard_after_forward", "true",
            ]
        else:
            args += ["--multi_gpu"]
        if self.gpus:
            args += ["--gpu_ids", ",".join(str(i) for i in range(self.processes))]
        return args

    def command(self, job_name: str) -> list[str]:
        return [
            sys.executable, "-m", "accelerate.commands.launch", *self.accelerate_args(),
            "-m", "springboard.train.distributed", job_name,
        ]

    def describe(self) -> str:
        if not self.distributed:
            where = f"1 GPU" if self.gpus else "1 CPU process"
            return f"training on {where}"
        kind = "FSDP (sharded)" if self.fsdp else "data-parallel"
        where = f"{self.processes} GPUs" if self.gpus else f"{self.processes} CPU processes"
        return f"training {kind} on {where} ({self.backend}) under accelerate launch"


def plan_launch(processes: int, enable_fsdp: bool = False, gpus: int | None = None) -> LaunchPlan:
    """How a job with `processes` processes runs here. `gpus` defaults to the GPUs visible."""
    processes = processes_from_instance_count(processes, "processes")
    gpus = gpu_count() if gpus is None else gpus
    notes: list[str] = []
    if gpus and processes > gpus:
        raise ValidationError(
            f"processes (instance_count) {processes}: one process per GPU and this machine has {gpus} GPU(s); "
            "ask for at most that many, or hide the GPUs (CUDA_VISIBLE_DEVICES='') to train on CPU processes"
        )
    used = processes if gpus else 0
    fsdp = bool(enable_fsdp and used > 1)
    if enable_fsdp and not fsdp and os.environ.get(FSDP_ON_CPU_ENV) == "1" and processes > 1:
        fsdp = True
        notes.append(f"enable_fsdp=True: sharding with FSDP on CPU ({FSDP_ON_CPU_ENV}=1, a test of the FSDP path)")
    elif enable_fsdp and not fsdp:
        where = "1 GPU" if used == 1 else f"{processes} CPU process{'es' if processes > 1 else ''}"
        notes.append(
            f"enable_fsdp=True has no effect here: FSDP shards the model over more than one GPU and this job "
            f"trains on {where}" + (" (data-parallel: each process holds the whole model)" if processes > 1 else "")
        )
    return LaunchPlan(
        processes=processes, gpus=used, backend="nccl" if used else "gloo", fsdp=fsdp, notes=tuple(notes)
    )


# ---------------------------------------------------------------------------------------
# The launcher (in the job's worker process)


def rank_dir(job_dir: Path) -> Path:
    return Path(job_dir) / RANKS_DIR


def launch(ctx: Any, plan: LaunchPlan) -> None:
    """Runs the job's ranks under `accelerate launch` and waits for them. Returns when they
    all finished (or stopped on request); raises when one failed or died."""
    ranks = rank_dir(ctx.job_dir)
    ranks.mkdir(parents=True, exist_ok=True)
    for old in ranks.iterdir():
        old.unlink()
    cmd = plan.command(ctx.name)
    env = dict(os.environ)
    env.setdefault(TIMEOUT_ENV, str(DEFAULT_TIMEOUT_S))
    env.setdefault("OMP_NUM_THREADS", "1")  # torchrun's choice too: one thread per rank
    ctx.log.info("%s: %s", plan.describe(), " ".join(cmd[1:]))
    sys.stderr.flush()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, env=env, preexec_fn=_die_with_parent)
    try:
        code = proc.wait()
    finally:
        if proc.poll() is None:  # the worker is being stopped: take the ranks down with it
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    if code == 0:
        return
    if ctx.should_stop():
        raise JobStopped("training stopped on request; resume continues from the checkpoint")
    errors = [f"rank {p.stem}: {p.read_text().strip()}" for p in sorted(ranks.glob("*.error"))]
    detail = "; ".join(errors) if errors else (
        "a training process died (killed or out of memory); see the job log"
    )
    raise DistributedTrainingError(
        f"distributed training failed (launcher exit code {code}): {detail}. "
        f"`springboard jobs resume {ctx.name}` continues from the last checkpoint"
    )


def _die_with_parent() -> None:
    """The launcher gets SIGTERM (so it can take its ranks down) if the worker dies, so ranks
    never outlive their job."""
    from springboard.executors import die_with_parent

    die_with_parent(signal.SIGTERM)


def rank_pids(job_dir: Path) -> dict[int, int]:
    """{rank: pid} of a running distributed job's ranks."""
    out = {}
    for p in rank_dir(job_dir).glob("*.pid"):
        out[int(p.stem)] = int(p.read_text())
    return out


# ---------------------------------------------------------------------------------------
# The rank side


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


def rank_context(store: Any, job: Any, dist: Distributed) -> Any:
    """The job's context seen from one rank: rank 0 reports to the job store as a single
    worker would; the other ranks read the same configuration and directories and leave the
    reporting (status, metrics, config, stop requests) to rank 0."""
    from springboard.jobs.runner import JobContext

    class RankContext(JobContext):
        def set_secondary_status(self, status: str, message: str = "") -> None:
            if dist.is_main:
                super().set_secondary_status(status, message)

        def log_metrics(self, *args: Any, **kwargs: Any) -> None:
            if dist.is_main:
                super().log_metrics(*args, **kwargs)

        def update_config(self, **values: Any) -> None:
            if dist.is_main:
                super().update_config(**values)
            else:
                self.config = {**self.config, **values}

        def should_stop(self) -> bool:
            return super().should_stop() if dist.is_main else False

    return RankContext(store, job)


def rank_main(name: str) -> int:
    """Body of one rank: `python -m springboard.train.distributed JOB` (under accelerate launch)."""
    from springboard.jobs.store import JobStore
    from springboard.train.job import train

    dist = init_rank()
    _log_setup(dist)
    store = JobStore()
    job = store.get(name)
    ranks = rank_dir(job.job_dir)
    (ranks / f"{dist.rank}.pid").write_text(str(os.getpid()))
    ctx = rank_context(store, job, dist)
    try:
        train(ctx, dist)
    except JobStopped:
        log.info("rank %d: stopped", dist.rank)
        return 0
    except Exception as exc:  # noqa: BLE001 - the worker turns this into the job's failure reason
        reason = str(exc) if isinstance(exc, SpringboardError) else f"{type(exc).__name__}: {exc}"
        (ranks / f"{dist.rank}.error").write_text(reason[:2000])
        log.exception("rank %d failed", dist.rank)
        return 1
    if dist.is_main and dist.comm_steps:
        ms = 1000 * dist.comm_seconds / dist.comm_steps
        log.info("gradient all-reduce: %.2f ms per optimizer step over %d steps", ms, dist.comm_steps)
        (ranks / "comm.json").write_text(json.dumps(
            {"all_reduce_seconds": dist.comm_seconds, "steps": dist.comm_steps, "world_size": dist.world_size}
        ))
    return 0


def _log_setup(dist: Distributed) -> None:
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s rank{dist.rank} %(name)s: %(message)s"))
    root.handlers[:] = [handler]
    # One voice in the job log: the other ranks speak only of trouble.
    root.setLevel(logging.INFO if dist.is_main else logging.WARNING)


if __name__ == "__main__":
    code = rank_main(sys.argv[1])
    if torch.distributed.is_initialized() and code == 0:
        # Every rank reaches the end before any tears its gloo pairs down: a rank that destroyed the
        # group while rank 0 was still writing the artifact aborted now and then ("terminate called
        # without an active exception", SIGABRT) and failed a finished job. After a failure the
        # group is left alone (destroying it while a peer is in a collective can hang).
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    sys.exit(code)
