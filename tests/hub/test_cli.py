"""`springboard models ...` through the real entry point."""

from __future__ import annotations

import json

from springboard.cli import main


def test_models_list_table(capsys):
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["MODEL", "ID", "TASK", "ARCHITECTURE", "TRAINING", "EULA", "LOCAL", "WEIGHTS"]
    assert "meta-textgeneration-llama-2-7b" in out and "smollm2-135m-instruct" in out


def test_models_list_filter(capsys):
    assert main(["models", "list", "--filter", "task == text2text", "--filter", "model_id ends with -xl"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[1].startswith("huggingface-text2text-flan-t5-xl")


def test_models_list_unknown_field_is_a_clean_error(capsys):
    assert main(["models", "list", "--filter", "colour == red"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: unknown filter field 'colour'") and "Traceback" not in err


def test_models_show(capsys, empty_hf_cache):
    assert main(["models", "show", "llama-2-7b"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["model_id"] == "meta-textgeneration-llama-2-7b" and data["requires_eula"] is True
    assert set(data["default_resources"]) == {"training", "inference"}
    assert data["local_weights"] is None


def test_models_register_then_resolve(capsys, tiny_causal_dir):
    assert main(["models", "register", "my-llama", "--path", str(tiny_causal_dir)]) == 0
    assert "registered my-llama (text-generation, causal)" in capsys.readouterr().out
    assert main(["models", "resolve", "my-llama"]) == 0
    assert capsys.readouterr().out.strip() == str(tiny_causal_dir.resolve())
    assert main(["models", "list", "--filter", "model_id == my-llama"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[-1] == "yes"


def test_models_resolve_unavailable(capsys, empty_hf_cache):
    assert main(["models", "resolve", "mistral-7b"]) == 1
    err = capsys.readouterr().err
    assert "springboard models register huggingface-llm-mistral-7b --path DIR" in err
