"""Training on several processes: the same loop under `accelerate launch` (torch distributed).

Three pieces, top to bottom, one module each:
- `plan`: how many processes, which backend, data-parallel or FSDP, and the exact
  `accelerate launch` arguments (a pure function, so the GPU/FSDP configuration is testable
  on a machine without GPUs);
- `launcher`, run by the job's worker process: it starts `accelerate launch`, which starts
  one rank per process, and turns the ranks' ending into the job's ending. The job store still
  knows one job and one worker;
- `runtime`, the rank side: a process group with a timeout (a dead peer ends the others instead
  of hanging them), and `Distributed`, the handful of operations the training loop needs: its
  slice of each global batch, summing gradients and counters, rank-0-only checkpoints.
Each rank's process runs `__main__` (the rank body), the one part that imports the training job.

Data-parallel keeps one full copy of the model per process and sums gradients once per
optimizer step (one all-reduce over all trainable gradients, bucketed), so the update equals
one process running the whole global batch. FSDP (GPU, `enable_fsdp`, more than one GPU)
shards parameters, gradients and optimizer state with torch's `fully_shard` per transformer
block; gradients are then reduced by FSDP itself.
"""

from springboard.train.distributed.launcher import RANKS_DIR, launch, rank_dir, rank_pids
from springboard.train.distributed.plan import (
    DEFAULT_TIMEOUT_S,
    FSDP_ON_CPU_ENV,
    MAX_PROCESSES,
    TIMEOUT_ENV,
    DistributedTrainingError,
    LaunchPlan,
    gpu_count,
    plan_launch,
    processes_from_instance_count,
)
from springboard.train.distributed.runtime import BUCKET_BYTES, Distributed, init_rank, single

__all__ = [
    "BUCKET_BYTES",
    "DEFAULT_TIMEOUT_S",
    "FSDP_ON_CPU_ENV",
    "MAX_PROCESSES",
    "RANKS_DIR",
    "TIMEOUT_ENV",
    "Distributed",
    "DistributedTrainingError",
    "LaunchPlan",
    "gpu_count",
    "init_rank",
    "launch",
    "plan_launch",
    "processes_from_instance_count",
    "rank_dir",
    "rank_pids",
    "single",
]
