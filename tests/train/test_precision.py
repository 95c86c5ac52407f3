"""The `precision` hyperparameter: validation, the auto rule, and a bf16 job's record."""

import json
from pathlib import Path

import pytest
import torch

from springboard import hardware, jobs
from springboard.errors import HyperparameterError
from springboard.train import hyperparameters as hps
from springboard.jobs import submit
from springboard.train.job import TrainingJobConfig


def write_numbers(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"prompt": f"Say the number {i}:", "completion": f"{i} is the number"} for i in range(40)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("family", sorted(hps.FAMILIES))
def test_unknown_precision_is_refused_naming_the_key(family):
    assert hps.parse(family, {}).precision == "auto"
    assert hps.parse(family, {"precision": "bfloat16"}).precision == "bfloat16"
    with pytest.raises(HyperparameterError, match=r"'precision': must be one of 'auto', 'float32' or 'bfloat16'.*'fp16'"):
        hps.parse(family, {"precision": "fp16"})


def test_float32_is_always_honoured():
    chosen = hardware.choose_precision("float32", "cpu")
    assert chosen.name == "float32" and not chosen.bf16


def test_cpu_without_native_bf16_falls_back_to_float32(monkeypatch):
    monkeypatch.setattr(hardware, "_cpu_flags", lambda: {"avx2", "fma"})
    for asked in ("auto", "bfloat16"):
        chosen = hardware.choose_precision(asked, "cpu")
        assert chosen.name == "float32" and "no native bf16" in chosen.reason, chosen
    assert "bfloat16 not used" in hardware.choose_precision("bfloat16", "cpu").reason


def test_auto_follows_the_measured_gemm_speed(monkeypatch):
    monkeypatch.setattr(hardware, "_cpu_flags", lambda: {"avx512f", "avx512_bf16"})
    monkeypatch.setattr(hardware, "cpu_bf16", lambda: hardware.CpuBf16(native=True, speedup=1.05))
    slow = hardware.choose_precision("auto", "cpu")
    assert slow.name == "float32" and "1.05x" in slow.reason
    monkeypatch.setattr(hardware, "cpu_bf16", lambda: hardware.CpuBf16(native=True, speedup=2.3))
    fast = hardware.choose_precision("auto", "cpu")
    assert fast.name == "bfloat16" and "2.30x" in fast.reason
    # asked for explicitly, bf16 is used whatever the probe says
    monkeypatch.setattr(hardware, "cpu_bf16", lambda: hardware.CpuBf16(native=True, speedup=0.5))
    assert hardware.choose_precision("bfloat16", "cpu").bf16


def test_the_probe_measures_this_cpu_once():
    first = hardware.cpu_bf16()
    assert first.speedup > 0 and first is hardware.cpu_bf16()
    assert first.native == hardware.cpu_has_native_bf16()


def test_bf16_autocast_runs_matmuls_in_bf16_and_keeps_the_loss_close(tiny_causal_dir, tmp_path):
    """Under bf16 the body's products are bf16 (hooked on a projection), the LM head and the
    loss stay float32, and the loss is within 2% of float32's on the tiny model."""
    from springboard.data import DataOptions, prepare_data
    from springboard.train.batching import collate_causal
    from springboard.train.forward import _split_head, loss_sum
    from springboard.train.modeling import load_model

    hp = hps.parse("causal-lm", {"precision": "bfloat16"})
    # the base stored in float32, so that the same model also runs without autocast
    model, tok, _ = load_model(tiny_causal_dir, hp, torch.device("cpu"), hardware.Precision("float32", "float32", "test"))
    model.eval()
    numbers = write_numbers(tmp_path / "n.jsonl")
    batch = collate_causal(prepare_data(numbers, tok, DataOptions(architecture="causal", max_input_length=64)).train[:8], tok.pad_token_id)
    split = _split_head(model)
    seen: dict[str, torch.dtype] = {}
    proj = next(m for n, m in model.named_modules() if n.endswith("q_proj.base_layer"))
    def record(name):
        def hook(module, args, out):
            seen.setdefault(name, out.dtype)  # returns None: the output is left as it is
        return hook

    proj.register_forward_hook(record("q_proj"))
    split[1].register_forward_hook(record("head"))
    with torch.no_grad():
        full, _ = loss_sum(model, batch, False, split)
        seen.clear()
        with hardware.Precision("bfloat16", "bfloat16", "test").autocast("cpu"):
            half, _ = loss_sum(model, batch, False, split)
    assert seen == {"q_proj": torch.bfloat16, "head": torch.float32}
    assert half.dtype == torch.float32
    assert abs(half.item() - full.item()) <= 0.02 * full.item()
    # LoRA weights, which the optimizer updates, stay float32
    assert {p.dtype for p in model.parameters() if p.requires_grad} == {torch.float32}


@pytest.mark.parametrize("fixture", ["tiny_causal_dir", "tiny_t5_dir"])
def test_cpu_bf16_lora_base_stores_linear_layers_in_bf16_and_computes_what_float32_storage_does(fixture, request):
    """On a CPU in bf16, a LoRA base's linear layers are stored in bf16 (autocast rounds them so
    for every product anyway): with the same adapter, the loss and the LoRA gradients equal those
    of the float32-stored base under the same autocast, bit for bit; embeddings, norms and the
    head stay float32 with the checkpoint's exact values; the LoRA weights stay float32 (their
    random initial values pass through bf16, as peft casts them to the base layer's dtype)."""
    from peft import get_peft_model_state_dict, set_peft_model_state_dict

    from springboard.train.modeling import load_model

    model_dir = request.getfixturevalue(fixture)
    hp = hps.parse("flan-t5" if "t5" in fixture else "causal-lm", {"precision": "bfloat16", "peft_type": "lora", "lora_dropout": "0"})
    bf16 = hardware.Precision("bfloat16", "bfloat16", "test")
    stored, tok, seq2seq = load_model(model_dir, hp, torch.device("cpu"), bf16)
    reference, _, _ = load_model(model_dir, hp, torch.device("cpu"), hardware.Precision("float32", "float32", "test"))
    linear = {n for n, m in stored.named_modules()
              if isinstance(m, torch.nn.Linear) and m is not stored.get_output_embeddings() and "lora_" not in n}
    dtypes = {n: p.dtype for n, p in stored.named_parameters()}
    assert linear and all(dtypes[f"{n}.weight"] == torch.bfloat16 for n in linear
                          if not n.endswith(".wo.base_layer") and not n.endswith(".wo"))  # T5 keeps wo in float32
    frozen_rest = [n for n in dtypes if n.rsplit(".weight", 1)[0] not in linear and "lora_" not in n]
    assert frozen_rest and all(dtypes[n] == torch.float32 for n in frozen_rest)
    assert {p.dtype for p in stored.parameters() if p.requires_grad} == {torch.float32}
    ref = dict(reference.named_parameters())
    for name in frozen_rest:  # the checkpoint's values, not bf16-rounded ones
        assert torch.equal(dict(stored.named_parameters())[name], ref[name]), name
    initial = get_peft_model_state_dict(reference)
    assert all(torch.equal(v, initial[k].to(torch.bfloat16).float()) for k, v in get_peft_model_state_dict(stored).items())
    set_peft_model_state_dict(stored, initial)
    ids = tok(["Say the number 7:", "a longer prompt of several words here"], return_tensors="pt", padding=True)
    labels = ids["input_ids"].clone()
    losses, grads = [], []
    for model in (stored, reference):
        model.train()
        torch.manual_seed(0)  # the same dropout masks
        with bf16.autocast("cpu"):
            loss = model(**ids, labels=labels).loss
        loss.backward()
        losses.append(loss.detach())
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad})
    assert torch.equal(losses[0], losses[1])
    assert grads[0].keys() == grads[1].keys() and all(torch.equal(grads[0][n], grads[1][n]) for n in grads[0])


def test_bf16_job_reports_its_precision_in_log_describe_and_artifact(tiny_causal_dir, tmp_path):
    numbers = write_numbers(tmp_path / "numbers" / "train.jsonl")
    job = submit(
        TrainingJobConfig(model=str(tiny_causal_dir), train=str(numbers),
                          hyperparameters={"instruction_tuned": "True", "precision": "bfloat16", "learning_rate": "0.01"}),
        name="bf16-job", wait=True,
    )
    assert job.status == "Completed", job.failure_reason
    training = next(t for t in job.transitions if t.status == "Training")
    assert "precision bfloat16 (requested bfloat16:" in training.message
    assert "precision bfloat16" in job.log_path.read_text()
    assert job.config["precision"]["name"] == "bfloat16"
    record = json.loads((Path(job.output_dir) / "springboard.json").read_text())
    assert record["precision"]["name"] == "bfloat16" and record["hyperparameters"]["precision"] == "bfloat16"
    val = [m.value for m in jobs.JobStore().metrics(job.name, "val_loss")]
    assert val[-1] < val[0]
    # The merged artifact is float32: the float32 base read again plus the update, so the
    # layers LoRA did not touch are the checkpoint's float32 weights, not bf16-rounded ones.
    from safetensors.torch import load_file

    merged = load_file(Path(job.output_dir) / "model.safetensors")
    assert {t.dtype for t in merged.values()} == {torch.float32}
    base = load_file(tiny_causal_dir / "model.safetensors")
    k = next(k for k in merged if k.endswith("layers.0.self_attn.k_proj.weight"))
    assert torch.equal(merged[k], base[k])
    q = next(k for k in merged if k.endswith("layers.0.self_attn.q_proj.weight"))
    assert not torch.equal(merged[q], base[q])


def test_float32_job_records_float32(tiny_causal_dir, tmp_path):
    numbers = write_numbers(tmp_path / "numbers" / "train.jsonl")
    job = submit(
        TrainingJobConfig(model=str(tiny_causal_dir), train=str(numbers),
                          hyperparameters={"instruction_tuned": "True", "precision": "float32", "max_steps": "2"}),
        name="fp32-job", wait=True,
    )
    assert job.status == "Completed", job.failure_reason
    record = json.loads((Path(job.output_dir) / "springboard.json").read_text())
    assert record["precision"] == {"name": "float32", "requested": "float32", "reason": "as requested"}


def test_int8_lora_job_trains_8bit_base_and_saves_a_float32_artifact(tiny_causal_dir, tmp_path):
    """int8_quantization=True: the base's linear layers are bitsandbytes 8-bit during training,
    the loss falls, and the artifact is the float32 base plus the update (its adapter equals
    the merged weights' difference from the base)."""
    import bitsandbytes as bnb
    from safetensors.torch import load_file

    from springboard.train.modeling import load_model

    hp = hps.parse("causal-lm", {"int8_quantization": "True"})
    model, _, _ = load_model(tiny_causal_dir, hp, torch.device("cpu"))
    assert any(isinstance(m, bnb.nn.Linear8bitLt) for m in model.modules())
    assert any(p.dtype == torch.int8 for p in model.parameters())

    numbers = write_numbers(tmp_path / "numbers" / "train.jsonl")
    job = submit(
        TrainingJobConfig(model=str(tiny_causal_dir), train=str(numbers),
                          hyperparameters={"instruction_tuned": "True", "int8_quantization": "True",
                                           "learning_rate": "0.01", "epoch": "2"}),
        name="int8-job", wait=True,
    )
    assert job.status == "Completed", job.failure_reason
    val = [m.value for m in jobs.JobStore().metrics(job.name, "val_loss")]
    assert val[-1] < val[0]
    out = Path(job.output_dir)
    merged = load_file(out / "model.safetensors")
    assert {t.dtype for t in merged.values()} == {torch.float32}
    base = load_file(Path(tiny_causal_dir) / "model.safetensors")
    q = next(k for k in merged if k.endswith("layers.0.self_attn.q_proj.weight"))
    assert not torch.equal(merged[q], base[q])  # the update is merged in
    k = next(k for k in merged if k.endswith("layers.0.self_attn.k_proj.weight"))
    assert torch.equal(merged[k], base[k])  # untouched layers are the float32 base, not 8-bit
    record = json.loads((out / "springboard.json").read_text())
    assert record["hyperparameters"]["int8_quantization"] is True
