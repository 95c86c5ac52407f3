"""The plan: how many processes, which backend, data-parallel or FSDP, and the exact
`accelerate launch` arguments. A pure function of the request and the GPUs visible, so the
GPU/FSDP configuration is testable on a machine without GPUs."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

import torch

from springboard.errors import SpringboardError, ValidationError

MAX_PROCESSES = 64
TIMEOUT_ENV = "SPRINGBOARD_DIST_TIMEOUT_S"  # seconds a collective may wait for a peer
DEFAULT_TIMEOUT_S = 300
# Developer switch: shard with FSDP on CPU (gloo) so the FSDP code path runs in CPU tests.
FSDP_ON_CPU_ENV = "SPRINGBOARD_FSDP_ON_CPU"


class DistributedTrainingError(SpringboardError):
    """A training process failed or died."""


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
