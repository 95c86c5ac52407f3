import json
import os
import signal
import time
from pathlib import Path

import pytest
import torch

from springboard import jobs
from springboard.cli import main
from springboard.train.job import TrainingJobConfig, submit_training
from springboard.train.sdk import Estimator, TrainingJobAnalytics


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def numbers(tmp_path) -> Path:
    return write_jsonl(
        tmp_path / "numbers" / "train.jsonl",
        [{"prompt": f"Say the number {i}:", "completion": f"{i} is the number"} for i in range(40)],
    )


def run_job(model_dir, train, name, **hp):
    hp = {"instruction_tuned": "True", **{k: str(v) for k, v in hp.items()}}
    return submit_training(TrainingJobConfig(model=str(model_dir), train=str(train), hyperparameters=hp), name=name, wait=True)


def test_lora_job_metrics_and_artifact(tiny_causal_dir, numbers):
    job = run_job(tiny_causal_dir, numbers, "lora-job", epoch=2, learning_rate=0.01, logging_steps=2)
    assert job.status == "Completed", job.failure_reason
    assert [t.status for t in job.transitions] == ["Starting", "Downloading", "Training", "Uploading", "Completed"]
    out = Path(job.output_dir)
    assert (out / "model.safetensors").exists() and (out / "adapter" / "adapter_model.safetensors").exists()
    record = json.loads((out / "springboard.json").read_text())
    assert record["method"] == "lora" and record["architecture"] == "causal"
    assert len(record["data_fingerprint"]) == 64
    df = TrainingJobAnalytics("lora-job").dataframe()
    assert {"train_loss", "val_loss", "epoch", "perplexity", "learning_rate", "tokens_per_second"} <= set(df.metric_name)
    val = df[df.metric_name == "val_loss"]
    assert list(val.step)[0] == 0  # evaluated before training
    assert val.value.iloc[-1] < val.value.iloc[0]
    assert list(df.columns[:3]) == ["timestamp", "metric_name", "value"]
    # The artifact is a plain HF model that carries the chat template.
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(out)
    assert tok.chat_template and tok.chat_template == AutoTokenizer.from_pretrained(tiny_causal_dir).chat_template
    model = AutoModelForCausalLM.from_pretrained(out)
    ids = tok("Say the number 3:", return_tensors="pt").input_ids
    assert model.generate(ids, max_new_tokens=3, do_sample=False).shape[1] > ids.shape[1]


def test_full_finetune_learns_to_stop(tiny_causal_dir, tmp_path):
    """EOS is appended to every completion and trained on even though pad == eos, so the
    model learns to end its answer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_causal_dir)
    assert tok.pad_token_id == tok.eos_token_id
    train = write_jsonl(tmp_path / "stop.jsonl", [{"prompt": "Q: colour?", "completion": " A: blue"}] * 16)
    job = run_job(
        tiny_causal_dir, train, "learns-stop", epoch=30, learning_rate=0.003, peft_type="none",
        validation_split_ratio=0.0, per_device_train_batch_size=8,
    )
    assert job.status == "Completed", job.failure_reason
    model = AutoModelForCausalLM.from_pretrained(job.output_dir)
    tok = AutoTokenizer.from_pretrained(job.output_dir)
    prompt = tok("Q: colour?", return_tensors="pt").input_ids
    out = model.generate(prompt, max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id)[0, prompt.shape[1] :]
    assert tok.eos_token_id in out.tolist(), tok.decode(out)
    answer = out.tolist()[: out.tolist().index(tok.eos_token_id)]
    assert tok.decode(answer) == " A: blue"


def test_seq2seq_full_finetune(tiny_t5_dir, tmp_path):
    train = write_jsonl(tmp_path / "t5" / "data.jsonl", [{"q": f"what is {i}", "a": f"it is {i}"} for i in range(30)])
    (tmp_path / "t5" / "template.json").write_text(json.dumps({"prompt": "question: {q}", "completion": "{a}"}))
    job = submit_training(
        TrainingJobConfig(model=str(tiny_t5_dir), train=str(tmp_path / "t5"), hyperparameters={"epochs": "3", "learning_rate": "0.003", "batch_size": "8", "validation_split_ratio": "0.2"}),
        name="t5-job", wait=True,
    )
    assert job.status == "Completed", job.failure_reason
    record = json.loads((Path(job.output_dir) / "springboard.json").read_text())
    assert record["architecture"] == "seq2seq" and record["method"] == "full"  # FLAN-T5 family default: peft none
    vals = [m.value for m in jobs.JobStore().metrics("t5-job", "val_loss")]
    assert vals[-1] < vals[0]


def test_seq2seq_lora(tiny_t5_dir, tmp_path):
    train = write_jsonl(tmp_path / "t5l.jsonl", [{"prompt": f"x {i}", "completion": f"y {i}"} for i in range(12)])
    job = submit_training(
        TrainingJobConfig(model=str(tiny_t5_dir), train=str(train), hyperparameters={"peft_type": "lora", "epochs": "1"}),
        name="t5-lora", wait=True,
    )
    assert job.status == "Completed", job.failure_reason
    assert (Path(job.output_dir) / "adapter" / "adapter_config.json").exists()


def test_killed_job_resumes_from_checkpoint(tiny_causal_dir, numbers):
    hp = {"instruction_tuned": "True", "epoch": "40", "save_steps": "5", "per_device_train_batch_size": "2", "logging_steps": "1"}
    job = submit_training(TrainingJobConfig(model=str(tiny_causal_dir), train=str(numbers), hyperparameters=hp), name="resumable")
    ckpts = Path(job.job_dir) / "checkpoints"
    deadline = time.time() + 120
    while time.time() < deadline and not list(ckpts.glob("step-*")):
        time.sleep(0.2)
    assert list(ckpts.glob("step-*")), "no checkpoint written"
    os.killpg(jobs.JobStore().get("resumable").pid, signal.SIGKILL)
    job = jobs.wait_for("resumable", poll=0.2, timeout=30)
    assert job.status == "Failed" and "exited unexpectedly" in job.failure_reason
    steps_before = [m.step for m in jobs.JobStore().metrics("resumable", "train_loss")]
    kept = sorted(ckpts.glob("step-*"))[-1]
    resumed_from = json.loads((kept / "meta.json").read_text())["global_step"]
    job = jobs.wait_for(jobs.resume("resumable").name, poll=0.5)
    assert job.status == "Completed", job.failure_reason
    assert job.attempts == 2
    steps = [m.step for m in jobs.JobStore().metrics("resumable", "train_loss")]
    after = steps[len(steps_before):]
    assert after[0] == resumed_from + 1  # continued, not restarted
    assert steps[-1] == 40 * 16  # 32 train examples / batch 2 = 16 steps per epoch
    assert "resumed from step-" in job.log_path.read_text()


def test_stop_saves_checkpoint_and_resume_finishes(tiny_causal_dir, numbers):
    hp = {"instruction_tuned": "True", "epoch": "60", "per_device_train_batch_size": "2"}
    submit_training(TrainingJobConfig(model=str(tiny_causal_dir), train=str(numbers), hyperparameters=hp), name="stoppable")
    deadline = time.time() + 120
    while time.time() < deadline and not jobs.JobStore().metrics("stoppable", "train_loss"):
        time.sleep(0.2)
    job = jobs.stop("stoppable")
    assert job.status == "Stopped"
    assert list((Path(job.job_dir) / "checkpoints").glob("step-*"))
    job = jobs.wait_for(jobs.resume("stoppable").name, poll=0.5)
    assert job.status == "Completed", job.failure_reason


def test_grad_accumulation_matches_large_batch(tiny_causal_dir, numbers):
    """Summed token loss / label tokens of the optimizer step: 2 x 2 accumulation gives the
    same update as a batch of 4."""
    from springboard.data import DataOptions, prepare_data
    from springboard.train import hyperparameters as hps
    from springboard.train.loop import fit, load_model

    class Quiet:
        def log_metrics(self, *a, **k): ...
        def should_stop(self): return False
        def update_config(self, **k): ...

    params = []
    for bs, acc, name in ((4, 1, "a"), (2, 2, "b")):
        hp = hps.parse("causal-lm", {"peft_type": "none", "per_device_train_batch_size": bs, "gradient_accumulation_steps": acc, "max_steps": "1", "learning_rate": "0.01", "lora_dropout": "0"})
        model, tok, s2s = load_model(tiny_causal_dir, hp, torch.device("cpu"))
        data = prepare_data(numbers, tok, DataOptions(architecture="causal", max_input_length=64))
        # Same 4 examples in both runs: batch order comes from (seed, epoch); take a fixed subset.
        fit(model, tok, data.train[:4], [], hp, Quiet(), numbers.parent / f"ck-{name}", s2s, torch.device("cpu"))
        params.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.allclose(params[0], params[1], atol=1e-5)


def test_logits_only_at_labels_equals_full_forward(tiny_causal_dir, numbers):
    from springboard.data import DataOptions, prepare_data
    from springboard.train import hyperparameters as hps
    from springboard.train.batching import collate_causal
    from springboard.train.loop import _split_head, load_model, loss_sum

    hp = hps.parse("causal-lm", {"peft_type": "lora"})
    model, tok, _ = load_model(tiny_causal_dir, hp, torch.device("cpu"))
    model.eval()
    data = prepare_data(numbers, tok, DataOptions(architecture="causal", max_input_length=64))
    batch = collate_causal(data.train[:4], tok.pad_token_id)
    split = _split_head(model)
    assert split is not None
    fast, n1 = loss_sum(model, batch, False, split)
    full, n2 = loss_sum(model, batch, False, None)
    assert int(n1) == int(n2) and torch.allclose(fast, full, rtol=1e-5)


def test_estimator_fit_no_wait_and_analytics(tiny_causal_dir, numbers):
    est = Estimator(model_id=str(tiny_causal_dir), hyperparameters={"epoch": 1, "instruction_tuned": True})
    handle = est.fit({"training": str(numbers)}, wait=False)
    assert jobs.JobStore().get(handle.name).status in ("InProgress", "Completed")
    job = handle.wait()
    assert job.status == "Completed"
    assert Path(est.model_data, "springboard.json").exists()
    desc = handle.describe()
    assert desc["TrainingJobStatus"] == "Completed" and desc["FinalMetricDataList"]
    df = TrainingJobAnalytics(handle.name, metric_names=["val_loss"]).dataframe()
    assert set(df.metric_name) == {"val_loss"} and len(df) == 2


def test_fine_tune_an_artifact_again(tiny_causal_dir, numbers):
    first = run_job(tiny_causal_dir, numbers, "first", epoch=1)
    second = run_job(first.name, numbers, "second", epoch=1)  # a job name as the model
    assert second.status == "Completed", second.failure_reason


def test_cli_errors_without_traceback(tiny_causal_dir, numbers, capsys):
    assert main(["train", "--model", str(tiny_causal_dir), "--train", str(numbers), "--hp", "lora_r=0"]) == 1
    err = capsys.readouterr().err
    assert "lora_r" in err and ">= 1" in err and "Traceback" not in err
    assert main(["train", "--model", str(tiny_causal_dir), "--train", str(numbers), "--hp", "nonsense=1"]) == 1
    assert "unknown hyperparameter 'nonsense'" in capsys.readouterr().err
    assert main(["train", "--model", str(tiny_causal_dir), "--train", "/no/such/file.jsonl"]) == 1
    assert "no such file" in capsys.readouterr().err
    assert jobs.JobStore().list() == []  # nothing submitted for bad input


def test_cli_train_wait_reports_data_error(tiny_causal_dir, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a", "completion": "b"}\n{"prompt": "a"\n')
    code = main(["train", "--model", str(tiny_causal_dir), "--train", str(bad), "--hp", "instruction_tuned=True", "--name", "bad-data", "--wait"])
    out = capsys.readouterr().out
    assert code == 1
    assert "bad.jsonl:2" in out


@pytest.fixture
def endpoint_server(sb_home):
    """Stops the background endpoint server a deploy starts in this test's home."""
    yield
    info = sb_home / "server.json"
    if info.exists():
        try:
            os.kill(json.loads(info.read_text())["pid"], signal.SIGTERM)
        except ProcessLookupError:
            pass


def test_estimator_deploy_returns_predictor(tiny_causal_dir, numbers, endpoint_server):
    est = Estimator(model_id=str(tiny_causal_dir), hyperparameters={"epoch": "1", "instruction_tuned": "True"})
    est.fit({"training": str(numbers)}, logs=False)
    predictor = est.deploy(endpoint_name="tuned-numbers")
    try:
        out = predictor.predict({"inputs": "Say the number 3:", "parameters": {"max_new_tokens": 4}})
        assert isinstance(out, list) and "generated_text" in out[0]
    finally:
        predictor.delete_endpoint()
