import json
import math

import pytest
import torch

from springboard.cli import main
from springboard.errors import ValidationError
from springboard.evaluate import perplexity, perplexity_of_file
from springboard.generate import Engine

TEXT = "The quick brown fox jumps over the lazy dog. " * 6
OTHER = "Python is a programming language that lets you work quickly."


@pytest.fixture(scope="module")
def engine(tiny_causal_dir):
    return Engine.load(str(tiny_causal_dir))


def n_tokens(engine, text):
    return len(engine.tokenizer(text)["input_ids"])


def test_full_window_equals_model_loss(engine):
    ids = engine.tokenizer(OTHER, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        loss = float(engine.model(ids, labels=ids).loss)
    result = perplexity(engine, [OTHER])
    assert result.tokens == ids.shape[1] - 1
    assert result.nll == pytest.approx(loss, rel=1e-5)
    assert result.perplexity == pytest.approx(math.exp(loss), rel=1e-5)


def test_sliding_window_scores_every_token_once(engine):
    n = n_tokens(engine, TEXT)
    assert n > 40
    result = perplexity(engine, [TEXT], max_length=16, stride=8)
    assert result.tokens == n - 1 and result.max_length == 16
    full = perplexity(engine, [TEXT], max_length=512, stride=512)
    # less context per token than one full pass, but the same tokens
    assert full.tokens == n - 1 and result.nll != pytest.approx(full.nll, rel=1e-6)
    # stride == window: no overlap, the first token of each later window has no context (as in HF's guide)
    chunks = math.ceil(n / 16)
    assert perplexity(engine, [TEXT], max_length=16, stride=16).tokens == n - chunks


def test_token_weighted_over_texts(engine):
    a, b = perplexity(engine, [TEXT]), perplexity(engine, [OTHER])
    both = perplexity(engine, [TEXT, OTHER])
    assert both.tokens == a.tokens + b.tokens and both.texts == 2
    assert both.nll == pytest.approx((a.nll * a.tokens + b.nll * b.tokens) / (a.tokens + b.tokens), rel=1e-6)


def test_jsonl_field_and_cli(tmp_path, engine, tiny_causal_dir, capsys):
    data = tmp_path / "texts.jsonl"
    data.write_text(json.dumps({"body": {"text": TEXT}}) + "\n" + json.dumps({"body": {"text": OTHER}}) + "\n")
    result = perplexity_of_file(engine, data, field="body.text")
    assert result.nll == pytest.approx(perplexity(engine, [TEXT, OTHER]).nll, rel=1e-6)
    assert main(["evaluate", "perplexity", "--model", str(tiny_causal_dir), "--data", str(data),
                 "--field", "body.text", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tokens"] == result.tokens and out["perplexity"] == pytest.approx(result.perplexity, rel=1e-5)
    plain = tmp_path / "doc.txt"
    plain.write_text(OTHER)
    assert perplexity_of_file(engine, plain).tokens == n_tokens(engine, OTHER) - 1


def test_seq2seq_and_bad_stride_rejected(tiny_t5_dir, engine):
    with pytest.raises(ValidationError, match="causal"):
        perplexity(str(tiny_t5_dir), [OTHER])
    with pytest.raises(ValidationError, match="stride"):
        perplexity(engine, [OTHER], max_length=8, stride=9)
