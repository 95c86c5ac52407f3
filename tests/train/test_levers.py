"""The speed levers selectable as hyperparameters: `chunked_loss` (the LM head and the
cross-entropy over chunks of label positions, the full logits never held), `torch_compile` and
`gradient_checkpointing`."""

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from springboard.errors import HyperparameterError
from springboard.train import hyperparameters as hps
from springboard.train.losses import chunked_head_loss


class Quiet:
    def log_metrics(self, *a, **k): ...
    def should_stop(self): return False
    def update_config(self, **k): ...


@pytest.fixture
def numbers(tmp_path) -> Path:
    path = tmp_path / "numbers" / "train.jsonl"
    path.parent.mkdir(parents=True)
    rows = [{"prompt": f"Say the number {i}:", "completion": f"{i} is the number"} for i in range(24)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_the_levers_are_hyperparameters_off_by_default():
    hp = hps.parse("causal-lm", {})
    assert (hp.chunked_loss, hp.torch_compile) == (0, False)
    hp = hps.parse("causal-lm", {"chunked_loss": "64", "torch_compile": "True"})
    assert (hp.chunked_loss, hp.torch_compile) == (64, True)
    assert hps.parse("flan-t5", {"torch_compile": "True"}).torch_compile is True
    with pytest.raises(HyperparameterError, match="'chunked_loss': must be an integer >= 0"):
        hps.parse("causal-lm", {"chunked_loss": "-1"})
    # FLAN-T5's loss path has no split head: the option is not offered there
    with pytest.raises(HyperparameterError, match="unknown hyperparameter 'chunked_loss'"):
        hps.parse("flan-t5", {"chunked_loss": "64"})


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("head_trains", [False, True])
def test_chunked_loss_equals_the_plain_loss_and_gradients(smoothing, head_trains):
    torch.manual_seed(0)
    head = torch.nn.Linear(16, 50, bias=True)
    head.requires_grad_(head_trains)
    hidden = torch.randn(37, 16, requires_grad=True)
    targets = torch.randint(0, 50, (37,))

    plain = F.cross_entropy(head(hidden).float(), targets, reduction="sum", label_smoothing=smoothing)
    (0.3 * plain).backward()
    want = [hidden.grad.clone()] + ([head.weight.grad.clone(), head.bias.grad.clone()] if head_trains else [])
    hidden.grad = None
    head.zero_grad(set_to_none=True)

    chunked = chunked_head_loss(hidden, head, targets, 8, smoothing)  # 37 rows: 4 chunks of 8 and one of 5
    (0.3 * chunked).backward()
    got = [hidden.grad] + ([head.weight.grad, head.bias.grad] if head_trains else [])
    torch.testing.assert_close(chunked, plain, rtol=1e-5, atol=1e-5)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-6)


def test_a_head_that_is_not_a_plain_linear_is_checkpointed_per_chunk():
    """An adapter on the LM head: each chunk's logits are recomputed in backward, same result."""
    torch.manual_seed(0)
    head = torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.Linear(16, 40))
    hidden = torch.randn(21, 16, requires_grad=True)
    targets = torch.randint(0, 40, (21,))
    plain = F.cross_entropy(head(hidden), targets, reduction="sum")
    plain.backward()
    want = (hidden.grad.clone(), head[0].weight.grad.clone())
    hidden.grad = None
    head.zero_grad(set_to_none=True)
    chunked = chunked_head_loss(hidden, head, targets, 4)
    chunked.backward()
    torch.testing.assert_close(chunked, plain, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(hidden.grad, want[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(head[0].weight.grad, want[1], rtol=1e-5, atol=1e-6)


def test_chunked_loss_refuses_ignored_targets():
    with pytest.raises(ValueError, match="label positions only"):
        chunked_head_loss(torch.randn(3, 4), torch.nn.Linear(4, 5), torch.tensor([1, -100, 2]), 2)


def _train(model_dir, numbers, **values):
    from springboard.data import DataOptions, prepare_data
    from springboard.train.loop import fit
    from springboard.train.modeling import load_model

    hp = hps.parse("causal-lm", {"max_steps": "2", "per_device_train_batch_size": "4", "learning_rate": "0.01",
                                 "lora_dropout": "0", "precision": "float32", **values})
    model, tok, s2s = load_model(model_dir, hp, torch.device("cpu"))
    data = prepare_data(numbers, tok, DataOptions(architecture="causal", max_input_length=64))
    result = fit(model, tok, data.train[:8], data.train[8:16], hp, Quiet(), numbers.parent / f"ck-{len(values)}-"
                 f"{'-'.join(map(str, values.values()))}", s2s, torch.device("cpu"))
    return model, result


def test_training_with_chunked_loss_gives_the_plain_runs_model(tiny_causal_dir, numbers):
    """Two optimizer steps on the tiny model: same losses and the same trained weights."""
    plain, r1 = _train(tiny_causal_dir, numbers)
    chunked, r2 = _train(tiny_causal_dir, numbers, chunked_loss="5")
    assert r1.train_loss == pytest.approx(r2.train_loss, rel=1e-5)
    assert r1.val_loss == pytest.approx(r2.val_loss, rel=1e-5)
    a = torch.cat([p.detach().flatten() for p in plain.parameters() if p.requires_grad])
    b = torch.cat([p.detach().flatten() for p in chunked.parameters() if p.requires_grad])
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("values", [{}, {"peft_type": "none"}, {"lora_dropout": "0.1", "precision": "bfloat16"}])
def test_gradient_checkpointing_trains_the_same_model_and_is_on(tiny_causal_dir, numbers, values):
    """`gradient_checkpointing=True`: the layers recompute in the backward (the model says it
    checkpoints) and two optimizer steps give the plain run's losses and weights (dropout
    masks replayed: LoRA, full fine-tuning, bf16 with dropout)."""
    plain, r1 = _train(tiny_causal_dir, numbers, **values)
    assert not plain.is_gradient_checkpointing
    ckpt, r2 = _train(tiny_causal_dir, numbers, gradient_checkpointing="True", **values)
    assert ckpt.is_gradient_checkpointing
    assert r1.train_loss == pytest.approx(r2.train_loss, rel=1e-5)
    assert r1.val_loss == pytest.approx(r2.val_loss, rel=1e-5)
    a = torch.cat([p.detach().flatten() for p in plain.parameters() if p.requires_grad])
    b = torch.cat([p.detach().flatten() for p in ckpt.parameters() if p.requires_grad])
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_chunked_loss_is_used_by_the_loop(tiny_causal_dir, numbers, monkeypatch):
    from springboard.train import forward

    calls = []
    real = forward.chunked_head_loss

    def spy(hidden, head, targets, chunk, smoothing=0.0):
        calls.append((hidden.size(0), chunk))
        return real(hidden, head, targets, chunk, smoothing)

    monkeypatch.setattr(forward, "chunked_head_loss", spy)
    _train(tiny_causal_dir, numbers, chunked_loss="7")
    assert calls and all(chunk == 7 for _, chunk in calls)


def test_chunked_loss_without_a_split_head_is_refused(tiny_causal_dir, numbers, monkeypatch):
    from springboard.train import forward

    monkeypatch.setattr(forward, "_split_head", lambda model: None)  # e.g. a model with soft-capped logits
    with pytest.raises(HyperparameterError, match="'chunked_loss'"):
        _train(tiny_causal_dir, numbers, chunked_loss="8")


def test_torch_compile_trains_to_the_same_loss(tiny_causal_dir, numbers, monkeypatch):
    """The compiled forward runs (inductor) and gives the uncompiled run's losses; what is saved
    is the model's own state dict, not the compiled wrapper's."""
    compiled = []
    real = torch.compile

    def spy(module, **kw):
        compiled.append((type(module).__name__, kw))
        return real(module, **kw)

    monkeypatch.setattr(torch, "compile", spy)
    plain, r1 = _train(tiny_causal_dir, numbers)
    assert not compiled
    model, r2 = _train(tiny_causal_dir, numbers, torch_compile="True")
    assert compiled and compiled[0][1] == {"dynamic": True}
    assert r1.train_loss == pytest.approx(r2.train_loss, rel=1e-3)
    assert r1.val_loss == pytest.approx(r2.val_loss, rel=1e-3)
    assert not any("_orig_mod" in k for k in model.state_dict())


def test_chunked_loss_without_gradients_matches_and_computes_none(monkeypatch):
    """Evaluation (no_grad): the same sum, one chunk at a time, and no gradient computed even
    when the head's weight trains (full fine-tuning): the fused pass is not used."""
    from springboard.train import losses

    def fused(*args):
        raise AssertionError("the fused pass computes gradients")

    monkeypatch.setattr(losses._FusedLinearCrossEntropy, "apply", fused)
    torch.manual_seed(0)
    head = torch.nn.Linear(8, 30)
    hidden, targets = torch.randn(11, 8), torch.randint(0, 30, (11,))
    with torch.no_grad():
        plain = F.cross_entropy(head(hidden), targets, reduction="sum")
        chunked = chunked_head_loss(hidden, head, targets, 3)
    assert chunked.grad_fn is None and not chunked.requires_grad
    torch.testing.assert_close(chunked, plain, rtol=1e-5, atol=1e-5)


def test_torch_compile_wraps_the_forward_each_family_runs(tiny_causal_dir, tiny_t5_dir, monkeypatch):
    """Causal: the body (the head stays apart, at label positions); seq2seq: the whole model.
    The model passed in is never replaced."""
    from springboard.train.distributed import single
    from springboard.train.forward import training_forward
    from springboard.train.modeling import load_model

    wrapped = []

    def fake_compile(module, **kw):
        wrapped.append((module, kw))
        return ("compiled", module)

    monkeypatch.setattr(torch, "compile", fake_compile)
    hp = hps.parse("causal-lm", {"torch_compile": "True"})
    model, _, _ = load_model(tiny_causal_dir, hp, torch.device("cpu"))
    forward, (body, head) = training_forward(model, hp, False, single())
    lm = model.get_base_model()
    assert forward is model and body == ("compiled", getattr(lm, lm.base_model_prefix))
    assert head is lm.get_output_embeddings() and wrapped[-1][1] == {"dynamic": True}

    hp = hps.parse("flan-t5", {"torch_compile": "True", "peft_type": "lora"})
    t5, _, _ = load_model(tiny_t5_dir, hp, torch.device("cpu"))
    forward, split = training_forward(t5, hp, True, single())
    assert forward == ("compiled", t5) and split is None
    assert training_forward(t5, hps.parse("flan-t5", {}), True, single()) == (t5, None)
