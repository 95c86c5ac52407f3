"""The cheaper CPU decode step (generate/cpu.py): packed weights and the in-place KV cache must
not change a bit of the model's output."""

from __future__ import annotations

import pytest
import torch

from springboard.generate.cpu import _batch_invariant_rows, growing_cache, pack_linears, packing_available


def _model(path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()


@pytest.mark.skipif(not packing_available(), reason="this torch has no MKL packed GEMM")
def test_packed_weights_keep_every_row_what_a_batched_f_linear_gives(tiny_causal_dir):
    """From 16 rows on packed logits equal F.linear's bit for bit; a packed pass of 2-15 rows of a
    batch gives each row what it gets in a 16-row F.linear pass, and the row counts where this
    CPU's packed GEMM cannot (measured: which they are depends on the CPU) stay on F.linear; a
    single stream's short passes stay on F.linear, and so do passes over 512 rows. A weight
    changed in place is packed again."""
    invariant = _batch_invariant_rows()  # depends on the CPU (an AMD EPYC: 4, 8, 12-15)
    plain, packed = _model(tiny_causal_dir), _model(tiny_causal_dir)
    assert pack_linears(packed) == sum(isinstance(m, torch.nn.Linear) for m in packed.modules())
    calls = []
    real = torch.ops.mkl._mkl_linear
    torch.ops.mkl._mkl_linear = lambda *a: calls.append(a[-1]) or real(*a)
    ids = torch.randint(3, 300, (600, 20), generator=torch.Generator().manual_seed(0))
    try:
        with torch.inference_mode():
            for rows, length in ((16, 1), (40, 1), (1, 5), (1, 20), (600, 1)):
                assert torch.equal(plain(input_ids=ids[:rows, :length]).logits,
                                   packed(input_ids=ids[:rows, :length]).logits), (rows, length)
            reference = plain(input_ids=ids[:16, :1]).logits
            for rows in range(2, 16):
                out = packed(input_ids=ids[:rows, :1]).logits
                if rows in invariant:
                    assert torch.equal(out, reference[:rows]), rows
                else:
                    assert torch.equal(out, plain(input_ids=ids[:rows, :1]).logits), rows
    finally:
        torch.ops.mkl._mkl_linear = real
    # not the one row of 5 positions, nor the 600 rows, nor the row counts this CPU cannot keep
    assert set(calls) == {16, 40, 20} | invariant
    layer = next(m for m in packed.modules() if isinstance(m, torch.nn.Linear))
    twin = next(m for m in plain.modules() if isinstance(m, torch.nn.Linear))
    with torch.no_grad():
        layer.weight.mul_(2)
        twin.weight.mul_(2)
    with torch.inference_mode():
        assert torch.equal(plain(input_ids=ids[:16, :1]).logits, packed(input_ids=ids[:16, :1]).logits)


def test_packed_weights_off_by_environment(tiny_causal_dir, monkeypatch):
    monkeypatch.setenv("SPRINGBOARD_PACKED_WEIGHTS", "0")
    assert pack_linears(_model(tiny_causal_dir)) == 0


def test_growing_cache_equals_dynamic_cache_and_appends_in_place(tiny_causal_dir):
    """Prefill, decode steps, a row dropped (batch_select_indices) and a trim by assignment, as
    the scheduler does them: logits equal DynamicCache's at every step; between growths a step
    writes into the same buffer."""
    from transformers import DynamicCache

    import inspect

    model = _model(tiny_causal_dir)
    arg = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    ids = torch.randint(3, 300, (4, 70), generator=torch.Generator().manual_seed(0))
    caches = [DynamicCache(config=model.config), growing_cache(model.config)]
    assert type(caches[1].layers[0]).__name__ == "GrowingLayer"
    pointers = set()
    with torch.inference_mode():
        outs = [model(input_ids=ids[:, :6], **{arg: c}, use_cache=True).logits for c in caches]
        assert torch.equal(*outs)
        rows = 4
        for step in range(6, 70):
            if step == 30:  # a row finished
                for c in caches:
                    c.batch_select_indices(torch.tensor([0, 2, 3]))
                ids, rows = ids[[0, 2, 3]], 3
            if step == 40:  # the first columns trimmed, as the scheduler does once no row uses them
                for c in caches:
                    for layer in c.layers:
                        layer.keys, layer.values = layer.keys[:, :, 1:, :], layer.values[:, :, 1:, :]
            length = caches[0].get_seq_length()
            assert caches[1].get_seq_length() == length
            outs = [model(input_ids=ids[:, step : step + 1], **{arg: c}, use_cache=True,
                          cache_position=torch.tensor([length])).logits for c in caches]
            assert torch.equal(*outs), step
            pointers.add(caches[1].layers[0].keys.data_ptr())
            assert caches[1].layers[0].keys.shape == (rows, 2, length + 1, 16)
    assert len(pointers) < 10  # grown a few times, not copied every step


@pytest.mark.skipif(not packing_available(), reason="this torch has no MKL packed GEMM")
def test_only_a_lone_engine_is_packed(tiny_causal_dir, monkeypatch):
    """Engines pack their weights while they are the only one in the process: a second engine
    unpacks the first and is not packed (several packed engines stepped slower than plain ones)."""
    import weakref

    from springboard.generate import Engine, cpu

    monkeypatch.setattr(cpu, "_LIVE", weakref.WeakSet())  # engines other tests left behind do not count

    def packed(engine):
        return any(isinstance(m.__dict__.get("forward"), cpu._PackedForward) for m in engine.model.modules())

    first = Engine.load(tiny_causal_dir)
    assert packed(first)
    second = Engine.load(tiny_causal_dir)
    assert not packed(first) and not packed(second)


@pytest.mark.skipif(not packing_available(), reason="this torch has no MKL packed GEMM")
def test_an_engine_dropped_does_not_keep_the_next_from_packing(tiny_causal_dir, monkeypatch):
    import weakref

    from springboard.generate import Engine, cpu

    monkeypatch.setattr(cpu, "_LIVE", weakref.WeakSet())
    first = Engine.load(tiny_causal_dir)
    first.close()
    del first
    second = Engine.load(tiny_causal_dir)
    assert any(isinstance(m.__dict__.get("forward"), cpu._PackedForward) for m in second.model.modules())
