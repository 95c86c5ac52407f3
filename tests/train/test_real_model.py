"""Fine-tunes the real default model (SmolLM2-135M-Instruct) for a few steps."""

import json
from pathlib import Path

import pytest

from springboard import jobs
from springboard.quickstart import PROMPT
from springboard.quickstart.dataset import build
from springboard.jobs import submit
from springboard.train.job import TrainingJobConfig


@pytest.mark.slow
def test_smollm2_lora_few_steps_loss_falls_and_reloads(tmp_path):
    examples = build()[:28]
    train = tmp_path / "train"
    train.mkdir()
    (train / "data.jsonl").write_text(
        "".join(json.dumps({"documentation": e.documentation, "summary": e.summary}) + "\n" for e in examples)
    )
    (train / "template.json").write_text(json.dumps({"prompt": PROMPT, "completion": "{summary}"}))
    job = submit(
        TrainingJobConfig(
            model="smollm2-135m-instruct",
            train=str(train),
            hyperparameters={
                "instruction_tuned": "True",
                "use_chat_template": "True",
                "epoch": "2",
                "learning_rate": "0.001",
                "per_device_train_batch_size": "4",
                "validation_split_ratio": "0.15",
                "max_input_length": "256",
                "logging_steps": "2",
            },
        ),
        name="smollm2-few-steps",
        wait=True,
    )
    assert job.status == "Completed", job.failure_reason
    val = [m.value for m in jobs.JobStore().metrics(job.name, "val_loss")]
    assert len(val) == 3 and val[-1] < val[0]  # step 0, each epoch
    train_loss = [m.value for m in jobs.JobStore().metrics(job.name, "train_loss")]
    assert train_loss[-1] < train_loss[0]

    from springboard.generate import Engine, GenerationParams

    engine = Engine.load(job.name)  # the artifact, by job name
    assert engine.tokenizer.chat_template  # travels with the weights
    prompt = PROMPT.format(documentation=examples[0].documentation)
    [result] = engine.generate([prompt], GenerationParams(max_new_tokens=48), chat=True)
    text = result.texts[0].strip()
    assert len(text.split()) >= 3
    assert result.finish_reason == "stop"  # it ends its answer instead of running to the limit
    record = json.loads((Path(job.output_dir) / "springboard.json").read_text())
    assert record["base_model"] == "smollm2-135m-instruct" and record["metrics"]["val_loss"] == pytest.approx(val[-1])


@pytest.mark.slow
def test_smollm2_bf16_held_out_loss_within_one_percent_of_float32(tmp_path):
    """The same LoRA run in bf16 mixed precision and in float32, scored by one float32 function
    on held-out examples: the losses agree within 1%."""
    import torch

    from springboard import hub
    from springboard.data import DataOptions, prepare_data
    from springboard.hardware import Precision
    from springboard.train import hyperparameters as hps
    from springboard.train.forward import evaluate
    from springboard.train.loop import fit
    from springboard.train.modeling import adapter_state, load_model, merge_base

    class Quiet:
        def log_metrics(self, *a, **k): ...
        def should_stop(self): return False
        def update_config(self, **k): ...

    examples = build()[:56]
    channels = {}
    for name, rows in (("held_out", examples[:16]), ("train", examples[16:])):
        d = tmp_path / name
        d.mkdir()
        (d / "data.jsonl").write_text(
            "".join(json.dumps({"documentation": e.documentation, "summary": e.summary}) + "\n" for e in rows))
        (d / "template.json").write_text(json.dumps({"prompt": PROMPT, "completion": "{summary}"}))
        channels[name] = d
    model_dir = hub.resolve_model("smollm2-135m-instruct")
    options = DataOptions(architecture="causal", instruction_tuned=True, use_chat_template=True,
                          max_input_length=256, validation_split_ratio=0.0)
    cpu = torch.device("cpu")
    scores = {}
    for precision in ("float32", "bfloat16"):
        hp = hps.parse("causal-lm", {"precision": precision, "learning_rate": "0.0005", "lora_r": "16",
                                     "per_device_train_batch_size": "8", "epoch": "1", "max_input_length": "256"})
        model, tok, s2s = load_model(model_dir, hp, cpu)
        train = prepare_data(channels["train"], tok, options).train
        held_out = prepare_data(channels["held_out"], tok, options).train
        # scored as saved: the adapter merged onto the float32 base (a CPU bf16 run stores the
        # base's linear layers in bf16 while it trains)
        def merged():
            return merge_base(adapter_state(model), model_dir, hp)

        before = evaluate(merged(), held_out, hp, s2s, tok.pad_token_id, cpu, precision=Precision("float32", "float32", "score"))
        fit(model, tok, train, [], hp, Quiet(), tmp_path / f"ck-{precision}", s2s, cpu)
        scores[precision] = evaluate(merged(), held_out, hp, s2s, tok.pad_token_id, cpu,
                                     precision=Precision("float32", "float32", "score"))
        assert scores[precision] < before
    assert abs(scores["bfloat16"] - scores["float32"]) <= 0.01 * scores["float32"], scores
