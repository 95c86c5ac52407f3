"""The one prompt rule's decision (generate/prompting.py): the switch, the trained format an
artifact records, instruct models' chat template, raw otherwise; bad values named."""

from __future__ import annotations

import json
import shutil

import pytest

from springboard.errors import ValidationError
from springboard.generate import Engine
from springboard.generate.prompting import (
    parse_format,
    prompt_format,
    recorded_format,
    rendered,
    text_as_chat,
    trained_format,
)


@pytest.fixture(scope="module")
def causal(tiny_causal_dir):
    return Engine.load(tiny_causal_dir)


def test_defaults_by_model_kind(causal, tiny_t5_dir, tmp_path):
    assert prompt_format(causal, env={}) == "chat"  # a causal model that ships a chat template
    assert rendered(causal, "Hi") == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    assert prompt_format(Engine.load(tiny_t5_dir), env={}) == "raw"  # seq2seq
    bare = tmp_path / "bare"
    shutil.copytree(causal.model_dir, bare)
    config = json.loads((bare / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (bare / "tokenizer_config.json").write_text(json.dumps(config))
    (bare / "chat_template.jinja").unlink(missing_ok=True)
    assert prompt_format(Engine.load(bare), env={}) == "raw"  # a base model: no template


def test_the_switch_wins_over_everything(causal, monkeypatch):
    assert prompt_format(causal, "raw", env={}) == "raw"
    assert text_as_chat(causal, "CHAT ", env={"SPRINGBOARD_PROMPT_FORMAT": "raw"})  # explicit beats the process
    assert prompt_format(causal, env={"SPRINGBOARD_PROMPT_FORMAT": "raw"}) == "raw"
    assert prompt_format(causal, "auto", env={"SPRINGBOARD_PROMPT_FORMAT": "raw"}) == "chat"  # auto: the model's
    monkeypatch.setenv("SPRINGBOARD_PROMPT_FORMAT", "raw")
    assert prompt_format(causal) == "raw"  # the process environment when none is given


def test_an_artifact_serves_in_the_format_it_was_trained_in(causal, tmp_path):
    art = tmp_path / "art"
    shutil.copytree(causal.model_dir, art)
    meta = art / "springboard.json"
    meta.write_text(json.dumps({"architecture": "causal", "hyperparameters": {"use_chat_template": False}}))
    engine = Engine.load(art)
    assert trained_format(art) == "raw" and prompt_format(engine, env={}) == "raw"
    assert prompt_format(engine, "chat", env={}) == "chat"  # the switch still overrides it
    meta.write_text(json.dumps({"architecture": "causal", "hyperparameters": {"chat_dataset": True}}))
    assert trained_format(art) == "chat"
    meta.write_text(json.dumps({"prompt_format": "raw", "hyperparameters": {"use_chat_template": True}}))
    assert trained_format(art) == "raw"  # the recorded prompt_format is what it was trained in
    assert trained_format(causal.model_dir) is None  # not a training job's artifact


def test_recorded_format_and_bad_values():
    assert recorded_format(chat_dataset=False, use_chat_template=True, seq2seq=False) == "chat"
    assert recorded_format(chat_dataset=True, use_chat_template=False, seq2seq=False) == "chat"
    assert recorded_format(chat_dataset=False, use_chat_template=False, seq2seq=False) == "raw"
    assert recorded_format(chat_dataset=False, use_chat_template=False, seq2seq=True) == "raw"
    assert parse_format(" Raw ") == "raw" and parse_format("") is None and parse_format(None) is None
    with pytest.raises(ValidationError, match="SPRINGBOARD_PROMPT_FORMAT must be one of auto, chat, raw, got 'xml'"):
        parse_format("xml")
    with pytest.raises(ValidationError, match="must be one of"):
        parse_format(1)


def test_the_sdk_model_env_is_the_container_environment(tiny_causal_dir):
    from springboard import Model

    with pytest.raises(ValidationError, match="SPRINGBOARD_PROMPT_FORMAT must be one of"):
        Model(model_data=tiny_causal_dir, env={"SPRINGBOARD_PROMPT_FORMAT": "yes"})
    with pytest.raises(ValidationError, match="'HF_TASK' is not a setting this container reads"):
        Model(model_data=tiny_causal_dir, env={"HF_TASK": "x"})
