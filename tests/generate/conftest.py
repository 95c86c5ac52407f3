"""Fixtures the generate tests share."""

from __future__ import annotations

import shutil

import pytest

from springboard.generate.llamacpp import GGUF_NAME


@pytest.fixture(scope="module")
def peaked_dir(tiny_causal_dir, tmp_path_factory):
    """The tiny Llama with its (tied) embeddings scaled up: random weights give near-flat logits,
    whose argmax float rounding could flip; scaled, greedy choices are decisive."""
    import torch
    from transformers import AutoModelForCausalLM

    out = tmp_path_factory.mktemp("peaked")
    for f in tiny_causal_dir.iterdir():
        if f.is_file() and not f.name.endswith(".safetensors") and f.name != GGUF_NAME:
            shutil.copy(f, out / f.name)
    model = AutoModelForCausalLM.from_pretrained(tiny_causal_dir)
    with torch.no_grad():
        model.model.embed_tokens.weight.mul_(20.0)
    model.save_pretrained(out)
    return out
