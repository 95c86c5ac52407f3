import json
import os
import signal
import time
from pathlib import Path

import pytest
import torch

from springboard import jobs
from springboard.cli import main
from springboard.errors import DataError
from springboard.jobs import submit
from springboard.train.job import TrainingJobConfig
from springboard.sdk.estimator import Estimator, TrainingJobAnalytics


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
    return submit(TrainingJobConfig(model=str(model_dir), train=str(train), hyperparameters=hp), name=name, wait=True)


def test_lora_job_metrics_and_artifact(tiny_causal_dir, numbers):
    job = run_job(tiny_causal_dir, numbers, "lora-job", epoch=2, learning_rate=0.01, logging_steps=2)
    assert job.status == "Completed", job.failure_reason
    assert [t.status for t in job.transitions] == ["Starting", "Downloading", "Training", "Uploading", "Completed"]
    out = Path(job.output_dir)
    assert (out / "model.safetensors").exists() and (out / "adapter" / "adapter_model.safetensors").exists()
    record = json.loads((out / "springboard.json").read_text())
    assert record["method"] == "lora" and record["architecture"] == "causal"
    assert len(record["data_fingerprint"]) == 64
    # trained on plain prompt/completion text: served raw, though its tokenizer has a chat template
    from springboard.generate.prompting import trained_format

    assert record["prompt_format"] == "raw" and trained_format(out) == "raw"
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
    job = submit(
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
    job = submit(
        TrainingJobConfig(model=str(tiny_t5_dir), train=str(train), hyperparameters={"peft_type": "lora", "epochs": "1"}),
        name="t5-lora", wait=True,
    )
    assert job.status == "Completed", job.failure_reason
    assert (Path(job.output_dir) / "adapter" / "adapter_config.json").exists()


def test_killed_job_resumes_from_checkpoint(tiny_causal_dir, numbers):
    """kill -9 mid-run, then resume: every metric step is recorded exactly once, the steps up
    to the checkpoint are not redone, and the artifact is complete and loads."""
    hp = {"instruction_tuned": "True", "epoch": "40", "save_steps": "5", "per_device_train_batch_size": "2", "logging_steps": "1"}
    job = submit(TrainingJobConfig(model=str(tiny_causal_dir), train=str(numbers), hyperparameters=hp), name="resumable")
    ckpts = Path(job.job_dir) / "checkpoints"
    deadline = time.time() + 120
    while time.time() < deadline and not list(ckpts.glob("step-*")):
        time.sleep(0.2)
    assert list(ckpts.glob("step-*")), "no checkpoint written"
    os.killpg(jobs.JobStore().get("resumable").pid, signal.SIGKILL)
    killed_at = time.time()
    job = jobs.wait_for("resumable", poll=0.2, timeout=30)
    assert job.status == "Failed" and "exited unexpectedly" in job.failure_reason
    assert not Path(job.output_dir).exists()
    kept = sorted(ckpts.glob("step-*"))[-1]
    resumed_from = json.loads((kept / "meta.json").read_text())["global_step"]
    job = jobs.wait_for(jobs.resume("resumable").name, poll=0.5)
    assert job.status == "Completed", job.failure_reason
    assert job.attempts == 2
    total = 40 * 16  # 32 train examples / batch 2 = 16 steps per epoch
    rows = jobs.JobStore().metrics("resumable", "train_loss")
    assert [m.step for m in rows] == list(range(1, total + 1))  # each step exactly once
    for name in ("val_loss", "learning_rate", "perplexity"):
        steps = [m.step for m in jobs.JobStore().metrics("resumable", name)]
        assert len(steps) == len(set(steps)), name
    # Continued from the checkpoint, not restarted: steps up to it come from the first attempt.
    assert all(m.timestamp < killed_at for m in rows[:resumed_from])
    assert all(m.timestamp > killed_at for m in rows[resumed_from:] if m.step > resumed_from + 5)
    assert f"resumed from {kept.name}" in job.log_path.read_text()
    # The artifact is whole: merged weights, adapter, record of the full run; it loads and generates.
    out = Path(job.output_dir)
    assert (out / "model.safetensors").exists() and (out / "adapter" / "adapter_model.safetensors").exists()
    record = json.loads((out / "springboard.json").read_text())
    assert record["metrics"]["global_step"] == total
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(out)
    ids = tok("Say the number 3:", return_tensors="pt").input_ids
    assert AutoModelForCausalLM.from_pretrained(out).generate(ids, max_new_tokens=2, do_sample=False).shape[1] > ids.shape[1]


def test_stop_saves_checkpoint_and_resume_finishes(tiny_causal_dir, numbers):
    hp = {"instruction_tuned": "True", "epoch": "60", "per_device_train_batch_size": "2"}
    submit(TrainingJobConfig(model=str(tiny_causal_dir), train=str(numbers), hyperparameters=hp), name="stoppable")
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
    from springboard.train.loop import fit
    from springboard.train.modeling import load_model

    class Quiet:
        def log_metrics(self, *a, **k): ...
        def should_stop(self): return False
        def update_config(self, **k): ...

    params = []
    for bs, acc, name in ((4, 1, "a"), (2, 2, "b")):
        hp = hps.parse("causal-lm", {"peft_type": "none", "per_device_train_batch_size": bs, "gradient_accumulation_steps": acc, "max_steps": "1", "learning_rate": "0.01", "lora_dropout": "0", "precision": "float32"})
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
    from springboard.train.forward import _split_head, loss_sum
    from springboard.train.modeling import load_model

    hp = hps.parse("causal-lm", {"peft_type": "lora", "precision": "float32"})  # compared outside autocast
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
    attached = Estimator.attach(handle.name)
    assert (attached.model_id, attached.hyperparameters, attached.model_data) == (est.model_id, est.hyperparameters, est.model_data)


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


def test_cli_train_checks_data_before_the_job_starts(tiny_causal_dir, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a", "completion": "b"}\n{"prompt": "a"\n')
    code = main(["train", "--model", str(tiny_causal_dir), "--train", str(bad), "--hp", "instruction_tuned=True", "--name", "bad-data", "--wait"])
    captured = capsys.readouterr()
    assert code == 1
    assert "started" not in captured.out
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "bad.jsonl:2: bad JSON" in lines[0], captured.err
    assert not jobs.JobStore().exists("bad-data")
    missing = tmp_path / "missing.jsonl"
    missing.write_text('{"prompt": "a", "completion": "b"}\n{"prompt": "a"}\n')
    assert main(["train", "--model", str(tiny_causal_dir), "--train", str(missing), "--hp", "instruction_tuned=True"]) == 1
    assert "missing.jsonl:2: field 'completion'" in capsys.readouterr().err
    assert jobs.JobStore().list() == []


def test_cli_refuses_bad_lora_target_modules_up_front(tiny_causal_dir, numbers, capsys):
    code = main(["train", "--model", str(tiny_causal_dir), "--train", str(numbers), "--hp", "instruction_tuned=True",
                 "--hp", "lora_target_modules=q_proj,not_a_layer"])
    err = capsys.readouterr().err
    assert code == 1 and "lora_target_modules" in err and "q_proj" in err and "Traceback" not in err
    assert jobs.JobStore().list() == []
    # A valid list starts the job.
    assert main(["train", "--model", str(tiny_causal_dir), "--train", str(numbers), "--hp", "instruction_tuned=True",
                 "--hp", "lora_target_modules=q_proj,v_proj", "--hp", "max_steps=1", "--name", "ok-targets"]) == 0
    assert jobs.wait_for("ok-targets", poll=0.2).status == "Completed"


def test_huge_warmup_refused_with_its_range(tiny_causal_dir, numbers, capsys):
    code = main(["train", "--model", str(tiny_causal_dir), "--train", str(numbers), "--hp", "warmup_steps=100000000000000000000"])
    err = capsys.readouterr().err
    assert code == 1 and "'warmup_steps': must be an integer >= 0 and <= 10000000" in err


def test_job_named_like_a_hub_alias_is_refused(tiny_causal_dir, numbers):
    from springboard.errors import ValidationError

    with pytest.raises(ValidationError, match="taken by the hub model huggingface-llm-mistral-7b"):
        run_job(tiny_causal_dir, numbers, "mistral-7b", epoch=1)
    assert not jobs.JobStore().exists("mistral-7b")


def test_schedule_that_cannot_learn_is_reported_in_cli_log_and_describe(tiny_causal_dir, numbers, capsys):
    # Seed 003's numbers: learning rate 1e-6, 10 warm-up steps, batch 32 on 32 training examples.
    code = main(["train", "--model", str(tiny_causal_dir), "--train", str(numbers), "--name", "no-learning",
                 "--hp", "instruction_tuned=True", "--hp", "learning_rate=0.000001", "--hp", "warmup_steps=10",
                 "--hp", "per_device_train_batch_size=32", "--wait"])
    captured = capsys.readouterr()
    assert code == 0
    assert "warning: the warm-up (10 steps) is not shorter than the run (1 optimizer step(s)" in captured.err
    assert "warning: the model cannot learn" in captured.err
    job = jobs.JobStore().get("no-learning")
    warnings = job.describe()["Warnings"]
    assert len(warnings) == 2 and "never leaves the warm-up" in warnings[0]
    assert "the model cannot learn" in job.log_path.read_text()
    main(["jobs", "describe", "no-learning"])
    assert '"Warnings": [' in capsys.readouterr().out
    # A schedule that learns has no warnings.
    fine = run_job(tiny_causal_dir, numbers, "learns", epoch=1, learning_rate=0.01)
    assert fine.describe()["Warnings"] == []


def test_same_configuration_and_seed_give_the_same_losses(tiny_causal_dir, numbers):
    losses = []
    for name in ("repro-a", "repro-b"):
        job = run_job(tiny_causal_dir, numbers, name, epoch=1, logging_steps=1, learning_rate=0.01, seed=7)
        assert job.status == "Completed", job.failure_reason
        losses.append([m.value for m in jobs.JobStore().metrics(name, "train_loss")])
    assert len(losses[0]) == 8 and losses[0] == losses[1]


def test_lora_initialisation_follows_the_seed(tiny_causal_dir):
    """In one process, after other random work: the LoRA weights depend on the seed only."""
    from springboard.train import hyperparameters as hps
    from springboard.train.modeling import load_model

    def lora_weights(seed):
        torch.rand(7)  # unrelated use of the global generator
        model, _, _ = load_model(tiny_causal_dir, hps.parse("causal-lm", {"seed": seed}), torch.device("cpu"))
        return torch.cat([p.detach().flatten() for n, p in model.named_parameters() if "lora_A" in n])

    assert torch.equal(lora_weights(3), lora_weights(3))
    assert not torch.equal(lora_weights(3), lora_weights(4))


def test_checkpoint_refuses_pickled_objects(tmp_path):
    """Checkpoints load with weights_only=True: a state.pt carrying an arbitrary object is
    refused and its code never runs."""
    import pickle

    from springboard.train import checkpoint

    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (Path.write_text, (marker, "pwned"))

    ck = tmp_path / "ck" / "step-00000001-e0-b1"
    ck.mkdir(parents=True)
    torch.save({"trainable": {}, "optimizer": Evil(), "scheduler": {}, "rng": {}}, ck / "state.pt")
    (ck / "meta.json").write_text(json.dumps({"epoch": 0, "batch": 1, "global_step": 1, "tokens_seen": 0}))
    model = torch.nn.Linear(2, 2)
    with pytest.raises(pickle.UnpicklingError):
        checkpoint.load(ck, model, torch.optim.AdamW(model.parameters()), None)
    assert not marker.exists()


def test_int8_without_lora_or_backend_and_unmerged_artifacts_are_refused_up_front(tiny_causal_dir, numbers, monkeypatch):
    from springboard import hardware
    from springboard.errors import HyperparameterError

    with pytest.raises(HyperparameterError, match="'int8_quantization': True needs peft_type='lora'"):
        run_job(tiny_causal_dir, numbers, "int8", int8_quantization="True", peft_type="none")
    with pytest.raises(HyperparameterError, match="'int8_quantization': True runs on one process only"):
        submit(TrainingJobConfig(model=str(tiny_causal_dir), train=str(numbers), processes=2,
                                          hyperparameters={"int8_quantization": "True"}), name="int8-two")
    monkeypatch.setattr(hardware, "int8_backend", lambda: None)
    with pytest.raises(HyperparameterError, match=r"'int8_quantization': True needs bitsandbytes.*pip install 'bitsandbytes>=0.49'"):
        run_job(tiny_causal_dir, numbers, "int8", int8_quantization="True")
    with pytest.raises(HyperparameterError, match="'merge_weights': must be True"):
        run_job(tiny_causal_dir, numbers, "unmerged", merge_weights="False")
    assert jobs.JobStore().list() == []


def test_estimator_test_channel_is_evaluated(tiny_causal_dir, numbers, tmp_path):
    test = write_jsonl(tmp_path / "test" / "test.jsonl",
                       [{"prompt": f"Say the number {i}:", "completion": f"{i} is the number"} for i in range(40, 46)])
    est = Estimator(model_id=str(tiny_causal_dir), hyperparameters={"epoch": 1, "instruction_tuned": True})
    handle = est.fit({"training": str(numbers), "test": str(test)}, logs=False)
    rows = jobs.JobStore().metrics(handle.name, "test_loss")
    assert len(rows) == 1 and rows[0].value > 0
    record = json.loads((Path(est.model_data) / "springboard.json").read_text())
    assert record["metrics"]["test_loss"] == pytest.approx(rows[0].value)
    assert any(m["MetricName"] == "test_loss" for m in handle.describe()["FinalMetricDataList"])
    bad = tmp_path / "bad-test.jsonl"
    bad.write_text('{"prompt": "a"}\n')
    with pytest.raises(DataError, match="bad-test.jsonl:1"):
        est.fit({"training": str(numbers), "test": str(bad)}, logs=False)


def test_estimator_refuses_unknown_keyword_arguments(tiny_causal_dir):
    from springboard.errors import ValidationError

    with pytest.raises(ValidationError, match="hyperparameter") as err:
        Estimator(model_id=str(tiny_causal_dir), hyperparameter={"epoch": "1"})  # misspelled
    assert "hyperparameters" in str(err.value)
    # SageMaker's infrastructure arguments are accepted (they describe AWS resources).
    Estimator(model_id=str(tiny_causal_dir), role="arn:aws:iam::1:role/x", instance_type="ml.g5.2xlarge",
              disable_output_compression=True, sagemaker_session=None)


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
    predictor = est.deploy()  # named after the training job, as SageMaker does
    assert predictor.endpoint_name == est.latest_training_job.name
    try:
        out = predictor.predict({"inputs": "Say the number 3:", "parameters": {"max_new_tokens": 4}})
        assert isinstance(out, list) and "generated_text" in out[0]
    finally:
        predictor.delete_endpoint()


def test_estimator_max_run_is_the_jobs_max_runtime(tiny_causal_dir, numbers):
    """SageMaker's `max_run`: the job's MaxRuntimeInSeconds, enforced by its runner (Stopped,
    MaxRuntimeExceeded); an attached Estimator keeps it."""
    est = Estimator(model_id=str(tiny_causal_dir), hyperparameters={"epoch": 200, "instruction_tuned": True}, max_run=1)
    handle = est.fit({"training": str(numbers)}, wait=False)
    assert jobs.JobStore().get(handle.name).max_runtime == 1
    job = handle.wait()
    assert job.status == "Stopped" and "MaxRuntimeExceeded" in [t.status for t in job.transitions]
    assert Estimator.attach(handle.name).max_run == 1
