"""The batched multi-LoRA forward (generate/lora.py): each row of one pass gets its own adapter, as
peft's own mixed-batch forward computes it, for adapters of different ranks and targets; what it
cannot serve is refused when attached and leaves the engine as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from springboard.errors import DataError
from springboard.generate import Engine


def _adapter(base_dir: Path, out: Path, seed: int, **lora) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    peft_model = get_peft_model(AutoModelForCausalLM.from_pretrained(base_dir),
                                LoraConfig(init_lora_weights=False, **lora))
    peft_model.save_pretrained(out)
    (out / "springboard.json").write_text(json.dumps({"base_model": str(base_dir)}))
    return out


@pytest.fixture(scope="module")
def engine(tmp_path_factory, tiny_causal_dir):
    root = tmp_path_factory.mktemp("lora")
    engine = Engine.load(tiny_causal_dir)
    # different ranks, scalings (rsLoRA) and target modules: the layers' column layouts differ
    engine.attach_adapter("a1", _adapter(tiny_causal_dir, root / "a1", 1, r=4, lora_alpha=8,
                                         target_modules="all-linear"))
    engine.attach_adapter("a2", _adapter(tiny_causal_dir, root / "a2", 2, r=2, lora_alpha=16, use_rslora=True,
                                         target_modules=["q_proj", "v_proj"]))
    engine.attach_adapter("a3", _adapter(tiny_causal_dir, root / "a3", 3, r=8, lora_alpha=4,
                                         target_modules=["down_proj"]))
    yield engine
    engine.close()


def test_each_row_gets_its_adapter_as_peft_computes_it(engine):
    import torch

    rows = ["a1", None, "a2", "a3", "a1", "a2"]
    ids = torch.randint(3, 100, (len(rows), 7))
    with torch.inference_mode():
        with engine.lora.rows(rows):
            ours = engine.model(input_ids=ids).logits
        plain = engine.model(input_ids=ids).logits  # outside rows(): the base model
        reference = engine.peft(input_ids=ids, adapter_names=[r or "__base__" for r in rows]).logits
        base = engine.peft(input_ids=ids, adapter_names=["__base__"] * len(rows)).logits
    torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(plain, base)
    for i, name in enumerate(rows):  # every adapter does change its rows
        assert (name is None) == torch.allclose(ours[i], base[i])


def test_adapters_the_batched_path_cannot_serve_are_refused(tmp_path, tiny_causal_dir):
    engine = Engine.load(tiny_causal_dir)
    dora = _adapter(tiny_causal_dir, tmp_path / "dora", 4, r=2, target_modules=["q_proj"], use_dora=True)
    saved = _adapter(tiny_causal_dir, tmp_path / "saved", 5, r=2, target_modules=["q_proj"],
                     modules_to_save=["lm_head"])
    plain = engine.model
    with pytest.raises(DataError, match="DoRA"):
        engine.attach_adapter("d", dora)
    assert engine.peft is None and engine.lora is None and not engine.adapters
    assert not any("lora" in name for name, _ in engine.model.named_modules())  # the plain model again
    assert engine.model is plain
    engine.attach_adapter("ok", _adapter(tiny_causal_dir, tmp_path / "ok", 6, r=2, target_modules=["q_proj"]))
    with pytest.raises(DataError, match="modules_to_save"):
        engine.attach_adapter("s", saved)
    assert list(engine.adapters) == ["ok"] and engine.lora.names == ["ok"]
    assert "s" not in engine.peft.peft_config


def test_rows_of_different_adapters_take_their_own_adapters_cached_prompt_prefix(engine):
    from springboard.generate import GenerationParams, GenerationRequest

    preamble = "You are a helpful assistant who answers briefly. " * 3
    jobs = [(a, preamble + q) for a, q in [("a1", "Hi"), ("a2", "Name a colour"), (None, "Say yes"),
                                           ("a3", "Count to three"), ("a1", "What is two plus two?")]]
    requests = [GenerationRequest([p], GenerationParams(max_new_tokens=6, adapter=a)) for a, p in jobs]
    solo = [engine.generate(r.prompts, r.params)[0].texts for r in requests]  # one row at a time: no prefix
    scheduler = engine.scheduler
    assert not scheduler.prefixes.entries
    for _ in range(2):
        with engine.lock:  # the scheduler cannot step until every row is queued: one prefill group
            scheduled = [engine.schedule(r) for r in requests]
        assert [s.wait()[0].texts for s in scheduled] == solo
    # each adapter's (and the base model's) keys and values of the shared preamble, computed once
    assert sorted(str(adapter) for adapter, _ in scheduler.prefixes.entries) == ["None", "a1", "a2", "a3"]
    assert scheduler.stats.prefix_hits >= 4
