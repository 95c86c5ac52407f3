"""Dynamic batching: concurrent requests share forward passes, compatibly grouped."""

from __future__ import annotations

import asyncio

from springboard.generate import Engine, GenerationParams, GenerationRequest
from springboard.serve.batching import Batcher

PROMPTS = ["Hello world", "The quick brown fox", "x", "Once upon a time there was"]


def _run(batcher: Batcher, requests: list[GenerationRequest]):
    async def go():
        try:
            return await asyncio.gather(*(batcher.submit(r) for r in requests))
        finally:
            await batcher.close()

    return asyncio.run(go())


def test_concurrent_requests_share_one_pass_with_unchanged_results(tiny_causal_dir):
    engine = Engine.load(tiny_causal_dir)
    lengths = [3, 8, 5, 6]
    requests = [GenerationRequest([p], GenerationParams(max_new_tokens=n)) for p, n in zip(PROMPTS, lengths)]
    batcher = Batcher(engine, max_batch_size=16, max_wait_ms=50)
    results = _run(batcher, requests)
    assert batcher.stats.passes == 1 and batcher.stats.requests == 4
    solo = [engine.generate([r.prompts[0]], r.params)[0].texts for r in requests]
    assert [r[0].texts for r in results] == solo


def test_incompatible_params_and_seeded_sampling_get_their_own_passes(tiny_causal_dir):
    engine = Engine.load(tiny_causal_dir)
    greedy = GenerationParams(max_new_tokens=4)
    beams = GenerationParams(max_new_tokens=4, num_beams=2)
    seeded = GenerationParams(max_new_tokens=4, do_sample=True, seed=1)
    requests = [GenerationRequest([PROMPTS[0]], greedy), GenerationRequest([PROMPTS[1]], beams),
                GenerationRequest([PROMPTS[2]], greedy), GenerationRequest([PROMPTS[3]], seeded),
                GenerationRequest([PROMPTS[0]], seeded)]
    batcher = Batcher(engine, max_batch_size=16, max_wait_ms=50)
    results = _run(batcher, requests)
    assert batcher.stats.passes == 4  # greedy pair, beams, and each seeded request alone
    # a seeded request answers the same alone as when it arrived among others
    assert results[4][0].texts == engine.generate([PROMPTS[0]], seeded)[0].texts


def test_max_batch_size_bounds_a_pass_and_off_means_one_pass_per_request(tiny_causal_dir):
    engine = Engine.load(tiny_causal_dir)
    requests = [GenerationRequest([p], GenerationParams(max_new_tokens=3)) for p in PROMPTS]
    bounded = Batcher(engine, max_batch_size=2, max_wait_ms=50)
    _run(bounded, requests)
    assert bounded.stats.passes == 2
    off = Batcher(engine, enabled=False)
    _run(off, requests)
    assert off.stats.passes == 4


def test_one_bad_request_does_not_fail_its_batch(tiny_causal_dir):
    engine = Engine.load(tiny_causal_dir)
    good = GenerationRequest([PROMPTS[0]], GenerationParams(max_new_tokens=3))
    bad = GenerationRequest(["word " * 600], GenerationParams(max_new_tokens=3))
    batcher = Batcher(engine, max_wait_ms=50)

    async def go():
        try:
            return await asyncio.gather(batcher.submit(good), batcher.submit(bad), return_exceptions=True)
        finally:
            await batcher.close()

    ok, failed = asyncio.run(go())
    assert ok[0].texts == engine.generate([PROMPTS[0]], good.params)[0].texts
    assert getattr(failed, "field", None) == "inputs"
