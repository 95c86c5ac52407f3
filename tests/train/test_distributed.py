"""Training on several processes (accelerate launch, torch distributed) on CPU: gloo
data-parallel and the FSDP path, against the 1-process run of the same global batch and seed.

Tolerance: per-step train_loss and val_loss within 1e-4 relative, final weights within 1e-4
absolute. The runs see the same examples per optimizer step and sum gradients exactly; what
differs is float summation order (two half batches, each padded to its own longest example, and
an all-reduce), which moves losses by ~1e-6 on this model.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
import torch

from springboard import jobs
from springboard.cli import main
from springboard.errors import ValidationError
from springboard.train import distributed
from springboard.train.distributed import LaunchPlan, plan_launch, processes_from_instance_count
from springboard.jobs import submit
from springboard.train.job import TrainingJobConfig
from springboard.sdk.estimator import Estimator

from .test_train_job import numbers  # noqa: F401 - the same 40-example data set

REL = 1e-4


# Full fine-tuning: no random LoRA initialisation, so 1 and N processes start identical.
# float32: the curves of 1 and 2 processes are compared to 1e-4, finer than bf16 products round
FULL = {"instruction_tuned": "True", "epoch": "2", "peft_type": "none", "learning_rate": "0.003", "logging_steps": "1",
        "precision": "float32"}


def losses(name: str, metric: str = "train_loss") -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in jobs.JobStore().metrics(name, metric)]


def assert_same_curve(a: list[tuple[int, float]], b: list[tuple[int, float]]) -> None:
    assert [s for s, _ in a] == [s for s, _ in b]
    for (step, x), (_, y) in zip(a, b):
        assert abs(x - y) <= REL * abs(x), f"step {step}: {x} vs {y}"


def weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(Path(path) / "model.safetensors"))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


# ---- the launch plan (what `accelerate launch` is asked to do), GPU cases included ----------


def accelerate_view(plan: LaunchPlan):
    """The plan's arguments as accelerate itself parses and validates them, and the environment
    its torchrun launcher gives each rank. A GPU plan is viewed as on a CUDA host: accelerate
    (1.16 and later) names the visible devices by the accelerator torch reports, none here."""
    from unittest import mock

    import torch
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_multi_gpu_env

    host = torch.device("cuda") if plan.gpus else None
    with mock.patch.object(torch.accelerator, "current_accelerator", return_value=host):
        script = ["-m", "springboard.train.distributed", "job"]
        args = launch_command_parser().parse_args(plan.accelerate_args() + script)
        args, _defaults, _mp = _validate_launch_command(args)
        return args, prepare_multi_gpu_env(args)


def test_instance_count_maps_to_processes():
    assert processes_from_instance_count(2) == 2
    assert processes_from_instance_count("3") == 3
    for bad in (0, -1, "two", 1.5, 65):
        with pytest.raises(ValidationError, match="InstanceCount"):
            processes_from_instance_count(bad)
    with pytest.raises(ValidationError, match="instance_count"):
        Estimator(model_id="smollm2-135m-instruct", instance_count=0)


def test_plan_cpu_is_gloo_data_parallel_and_says_fsdp_has_no_effect():
    plan = plan_launch(2, enable_fsdp=True, gpus=0)
    assert (plan.processes, plan.gpus, plan.backend, plan.fsdp) == (2, 0, "gloo", False)
    assert any("enable_fsdp=True has no effect" in n and "2 CPU processes" in n for n in plan.notes)
    args, env = accelerate_view(plan)
    assert args.multi_gpu and not args.use_fsdp and args.num_processes == 2 and args.module
    assert args.max_restarts == 0  # a dead rank fails the job instead of restarting alone
    assert "ACCELERATE_USE_FSDP" not in env
    one = plan_launch(1, enable_fsdp=True, gpus=0)
    assert not one.distributed and "1 CPU process" in one.notes[0]
    assert plan_launch(2, enable_fsdp=False, gpus=0).notes == ()


def test_plan_gpus_fsdp_and_ddp():
    """The GPU configurations (untested on a GPU here): FSDP2 with transformer-block wrapping
    over N GPUs when enable_fsdp, plain data-parallel (nccl) otherwise."""
    plan = plan_launch(4, enable_fsdp=True, gpus=8)
    assert (plan.processes, plan.gpus, plan.backend, plan.fsdp, plan.notes) == (4, 4, "nccl", True, ())
    args, env = accelerate_view(plan)
    assert args.use_fsdp and args.num_processes == 4
    assert env["ACCELERATE_USE_FSDP"] == "true"  # what each rank reads to shard (init_rank)
    assert env["FSDP_VERSION"] == "2" and env["FSDP_AUTO_WRAP_POLICY"] == "TRANSFORMER_BASED_WRAP"
    assert env["FSDP_STATE_DICT_TYPE"] == "FULL_STATE_DICT"
    assert env["CUDA_VISIBLE_DEVICES"] == "0,1,2,3"
    # What accelerate builds inside a GPU rank from that environment.
    from accelerate.utils import FullyShardedDataParallelPlugin, patch_environment

    with patch_environment(**{k: v for k, v in env.items() if k.startswith(("FSDP_", "ACCELERATE_"))}):
        plugin = FullyShardedDataParallelPlugin()
    assert plugin.fsdp_version == 2 and plugin.reshard_after_forward is True
    assert plugin.state_dict_type.name == "FULL_STATE_DICT"

    ddp = plan_launch(2, enable_fsdp=False, gpus=2)
    args, env = accelerate_view(ddp)
    assert (ddp.backend, ddp.fsdp) == ("nccl", False) and args.multi_gpu and "ACCELERATE_USE_FSDP" not in env

    single_gpu = plan_launch(1, enable_fsdp=True, gpus=1)
    assert not single_gpu.fsdp and "1 GPU" in single_gpu.notes[0]
    with pytest.raises(ValidationError, match="one process per GPU"):
        plan_launch(3, enable_fsdp=True, gpus=2)


def test_command_runs_accelerate_launch():
    cmd = plan_launch(2, gpus=0).command("my-job")
    assert cmd[1:3] == ["-m", "accelerate.commands.launch"]
    assert cmd[-3:] == ["-m", "springboard.train.distributed", "my-job"]


def test_cli_refuses_bad_process_count(tiny_causal_dir, numbers, capsys):
    assert main(["train", "--model", str(tiny_causal_dir), "--train", str(numbers), "--processes", "0"]) == 1
    err = capsys.readouterr().err
    assert "--processes" in err and "Traceback" not in err
    assert jobs.JobStore().list() == []


# ---- real jobs on 2 CPU processes -------------------------------------------------------------


def test_two_processes_match_one(tiny_causal_dir, numbers):
    one = submit(
        TrainingJobConfig(model=str(tiny_causal_dir), train=str(numbers),
                          hyperparameters={**FULL, "per_device_train_batch_size": "4"}),
        name="one-proc", wait=True,
    )
    assert one.status == "Completed", one.failure_reason
    est = Estimator(model_id=str(tiny_causal_dir), hyperparameters={**FULL, "per_device_train_batch_size": "2"},
                    instance_count=2)
    two = est.fit({"training": str(numbers)}, logs=False, job_name="two-procs").wait()
    assert two.status == "Completed", two.failure_reason
    assert two.config["processes"] == 2

    assert len(losses("one-proc")) == 16  # 32 training examples / global batch 4 x 2 epochs
    assert_same_curve(losses("one-proc"), losses("two-procs"))
    assert_same_curve(losses("one-proc", "val_loss"), losses("two-procs", "val_loss"))

    # The artifact: same files, same tensors (one writer: rank 0), reloads and generates.
    a, b = Path(one.output_dir), Path(two.output_dir)
    assert sorted(p.name for p in a.iterdir()) == sorted(p.name for p in b.iterdir())
    wa, wb = weights(a), weights(b)
    assert {k: v.shape for k, v in wa.items()} == {k: v.shape for k, v in wb.items()}
    for k in wa:
        assert torch.allclose(wa[k], wb[k], atol=1e-4), k
    record = json.loads((b / "springboard.json").read_text())
    assert record["processes"] == 2 and record["metrics"]["global_step"] == 16
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(b)
    ids = tok("Say the number 3:", return_tensors="pt").input_ids
    out = AutoModelForCausalLM.from_pretrained(b).generate(ids, max_new_tokens=3, do_sample=False)
    assert out.shape[1] > ids.shape[1]

    log2 = two.log_path.read_text()
    assert "data-parallel on 2 CPU processes (gloo) under accelerate launch" in log2
    assert "enable_fsdp=True has no effect here" in log2  # the causal default, never silently dropped
    assert "gradient all-reduce:" in log2
    assert "enable_fsdp=True has no effect here" in one.log_path.read_text()
    assert sorted(distributed.rank_pids(two.job_dir)) == [0, 1]


@pytest.mark.parametrize("fsdp", [False, True], ids=["data-parallel", "fsdp"])
def test_kill_one_rank_fails_the_job_and_resume_continues(tiny_causal_dir, numbers, monkeypatch, fsdp):
    """kill -9 of rank 1 mid-run: the launcher takes rank 0 down, the job ends Failed (no hang),
    and resume loads the last checkpoint on both ranks (under FSDP: into the shards, optimizer
    state included) and finishes."""
    if fsdp:
        monkeypatch.setenv(distributed.FSDP_ON_CPU_ENV, "1")
    hp = {"instruction_tuned": "True", "epoch": "20", "save_steps": "5", "per_device_train_batch_size": "1",
          "logging_steps": "1"}
    job = submit(
        TrainingJobConfig(model=str(tiny_causal_dir), train=str(numbers), hyperparameters=hp, processes=2),
        name="kill-rank",
    )
    ckpts = Path(job.job_dir) / "checkpoints"
    deadline = time.time() + 120
    while time.time() < deadline and not (list(ckpts.glob("step-*")) and len(distributed.rank_pids(job.job_dir)) == 2):
        time.sleep(0.2)
    assert list(ckpts.glob("step-*")), "no checkpoint written"
    pids = distributed.rank_pids(job.job_dir)
    worker = jobs.JobStore().get("kill-rank").pid
    os.kill(pids[1], signal.SIGKILL)

    job = jobs.wait_for("kill-rank", poll=0.2, timeout=90)  # no hang: the job ends by itself
    assert job.status == "Failed", job.status
    assert "distributed training failed" in job.failure_reason
    assert "springboard jobs resume kill-rank" in job.failure_reason
    deadline = time.time() + 30
    while time.time() < deadline and (alive(pids[0]) or alive(worker)):
        time.sleep(0.2)
    assert not alive(pids[0]), "the surviving rank did not exit"
    assert not Path(job.output_dir).exists()

    kept = sorted(ckpts.glob("step-*"))[-1]
    resumed_from = json.loads((kept / "meta.json").read_text())["global_step"]
    job = jobs.wait_for(jobs.resume("kill-rank").name, poll=0.5, timeout=300)
    assert job.status == "Completed", job.failure_reason
    assert f"resumed from {kept.name}" in job.log_path.read_text()
    steps = [s for s, _ in losses("kill-rank")]
    assert steps[-1] == 20 * 16  # 32 examples / global batch 2 = 16 steps per epoch
    assert resumed_from < steps[-1]
    assert sorted(set(steps)) == list(range(1, 20 * 16 + 1))
    out = Path(job.output_dir)
    assert (out / "adapter" / "adapter_model.safetensors").exists() and (out / "model.safetensors").exists()


def stopped_then_resumed(name: str, tiny_causal_dir: Path, numbers: Path, hp: dict, via_cli: bool = False):
    """A 2-process job asked to stop before its first step: it checkpoints at step 0 and ends
    Stopped; resuming loads that checkpoint on every rank and finishes."""
    if via_cli:
        args = ["train", "--model", str(tiny_causal_dir), "--train", str(numbers), "--processes", "2", "--name", name]
        for k, v in hp.items():
            args += ["--hp", f"{k}={v}"]
        assert main(args) == 0
    else:
        submit(TrainingJobConfig(model=str(tiny_causal_dir), train=str(numbers), hyperparameters=hp,
                                          processes=2), name=name)
    job = jobs.stop(name, grace=120)
    assert job.status == "Stopped", job.failure_reason
    assert list((Path(job.job_dir) / "checkpoints").glob("step-*"))
    job = jobs.wait_for(jobs.resume(name).name, poll=0.5, timeout=300)
    assert job.status == "Completed", job.failure_reason
    return job


def test_stop_and_resume_match_an_uninterrupted_run(tiny_causal_dir, numbers):
    hp = {**FULL, "per_device_train_batch_size": "2"}
    ref = submit(
        TrainingJobConfig(model=str(tiny_causal_dir), train=str(numbers),
                          hyperparameters={**FULL, "per_device_train_batch_size": "4"}),
        name="reference", wait=True,
    )
    assert ref.status == "Completed", ref.failure_reason
    job = stopped_then_resumed("stop-two", tiny_causal_dir, numbers, hp, via_cli=True)
    assert job.config["processes"] == 2
    assert "resumed from step-" in job.log_path.read_text()
    assert_same_curve(losses("reference"), losses("stop-two"))


def test_fsdp_path_on_cpu(tiny_causal_dir, numbers, monkeypatch):
    """The FSDP code path (sharding, gathered checkpoints, resume into shards, gathered
    artifact) run on CPU with gloo: the same curve and weights as one process."""
    monkeypatch.setenv(distributed.FSDP_ON_CPU_ENV, "1")
    ref = submit(
        TrainingJobConfig(model=str(tiny_causal_dir), train=str(numbers),
                          hyperparameters={**FULL, "per_device_train_batch_size": "4"}),
        name="fsdp-reference", wait=True,
    )
    assert ref.status == "Completed"
    job = stopped_then_resumed("fsdp-two", tiny_causal_dir, numbers, {**FULL, "per_device_train_batch_size": "2"})
    log = job.log_path.read_text()
    assert "FSDP (sharded) on 2 CPU processes" in log and "FSDP: 2 transformer blocks (LlamaDecoderLayer)" in log
    assert_same_curve(losses("fsdp-reference"), losses("fsdp-two"))
    wa, wb = weights(ref.output_dir), weights(job.output_dir)
    for k in wa:
        assert torch.allclose(wa[k], wb[k], atol=1e-4), k


def test_a_hung_rank_times_out_the_process_group(tiny_causal_dir, numbers, monkeypatch):
    """A rank that stops answering (SIGSTOP: alive, not dead, so the launcher sees nothing)
    must not hang the job: the other rank's collective gives up after the process-group
    timeout, and the job ends Failed."""
    monkeypatch.setenv(distributed.TIMEOUT_ENV, "5")
    hp = {"instruction_tuned": "True", "epoch": "50", "per_device_train_batch_size": "1", "logging_steps": "1"}
    job = submit(
        TrainingJobConfig(model=str(tiny_causal_dir), train=str(numbers), hyperparameters=hp, processes=2),
        name="hung-rank",
    )
    deadline = time.time() + 120
    while time.time() < deadline and not (jobs.JobStore().metrics("hung-rank", "train_loss")
                                          and len(distributed.rank_pids(job.job_dir)) == 2):
        time.sleep(0.2)
    pids = distributed.rank_pids(job.job_dir)
    os.kill(pids[1], signal.SIGSTOP)
    try:
        job = jobs.wait_for("hung-rank", poll=0.5, timeout=120)
        assert job.status == "Failed", job.status
        assert "rank 0" in job.failure_reason and "springboard jobs resume hung-rank" in job.failure_reason
    finally:
        if alive(pids[1]):
            os.kill(pids[1], signal.SIGKILL)
