"""Batching: continuous batching (requests join the engine scheduler's running batch) and the
dynamic batcher for what the scheduler does not run (beam search, seq2seq, batch_size)."""

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
    batcher = Batcher(engine, max_batch_size=16, max_wait_ms=50, continuous=False)
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
    batcher = Batcher(engine, max_batch_size=16, max_wait_ms=50, continuous=False)
    results = _run(batcher, requests)
    assert batcher.stats.passes == 4  # greedy pair, beams, and each seeded request alone
    # a seeded request answers the same alone as when it arrived among others
    assert results[4][0].texts == engine.generate([PROMPTS[0]], seeded)[0].texts


def test_max_batch_size_bounds_a_pass_and_off_means_one_pass_per_request(tiny_causal_dir):
    engine = Engine.load(tiny_causal_dir)
    requests = [GenerationRequest([p], GenerationParams(max_new_tokens=3)) for p in PROMPTS]
    bounded = Batcher(engine, max_batch_size=2, max_wait_ms=50, continuous=False)
    _run(bounded, requests)
    assert bounded.stats.passes == 2
    off = Batcher(engine, enabled=False)
    _run(off, requests)
    assert off.stats.passes == 4


def test_one_bad_request_does_not_fail_its_batch(tiny_causal_dir):
    engine = Engine.load(tiny_causal_dir)
    good = GenerationRequest([PROMPTS[0]], GenerationParams(max_new_tokens=3))
    bad = GenerationRequest(["word " * 600], GenerationParams(max_new_tokens=3))
    batcher = Batcher(engine, max_wait_ms=50, continuous=False)

    async def go():
        try:
            return await asyncio.gather(batcher.submit(good), batcher.submit(bad), return_exceptions=True)
        finally:
            await batcher.close()

    ok, failed = asyncio.run(go())
    assert ok[0].texts == engine.generate([PROMPTS[0]], good.params)[0].texts
    assert getattr(failed, "field", None) == "inputs"


# -- continuous batching ----------------------------------------------------------------------------


def test_continuous_batching_shares_steps_with_unchanged_greedy_results(tiny_causal_dir):
    engine = Engine.load(tiny_causal_dir)
    lengths = [3, 12, 5, 8]
    requests = [GenerationRequest([p], GenerationParams(max_new_tokens=n)) for p, n in zip(PROMPTS, lengths)]
    batcher = Batcher(engine, max_batch_size=16)
    stats = engine.scheduler.stats
    results = _run(batcher, requests)
    assert batcher.stats.passes == 0 and batcher.stats.requests == 4  # none went through static passes
    assert stats.max_running >= 2 and stats.rows == 4
    assert stats.steps < sum(lengths)  # rows shared decode steps
    solo = [engine.generate([r.prompts[0]], r.params)[0] for r in requests]
    assert [r[0].texts for r in results] == [s.texts for s in solo]
    assert [r[0].generated_tokens for r in results] == [s.generated_tokens for s in solo]


def test_a_request_joins_the_running_batch_and_leaves_when_done(tiny_causal_dir):
    engine = Engine.load(tiny_causal_dir)
    batcher = Batcher(engine, max_batch_size=16)
    scheduler = engine.scheduler
    long = GenerationRequest([PROMPTS[3]], GenerationParams(max_new_tokens=120))
    short = GenerationRequest([PROMPTS[1]], GenerationParams(max_new_tokens=4))
    order: list[str] = []

    async def go():
        async def run(name, request):
            result = await batcher.submit(request)
            order.append(name)
            return result

        try:
            first = asyncio.create_task(run("long", long))
            while scheduler.stats.steps < 3:  # the long request is decoding
                await asyncio.sleep(0.005)
            return await asyncio.gather(first, run("short", short))
        finally:
            await batcher.close()

    long_out, short_out = asyncio.run(go())
    assert order == ["short", "long"]  # it left before the long row ended
    assert scheduler.stats.max_running == 2  # it joined the long row's batch
    assert short_out[0].texts == engine.generate([PROMPTS[1]], short.params)[0].texts
    assert long_out[0].texts == engine.generate([PROMPTS[3]], long.params)[0].texts


def test_seeded_sampling_in_the_running_batch_does_not_depend_on_neighbours(tiny_causal_dir):
    engine = Engine.load(tiny_causal_dir)
    seeded = GenerationParams(max_new_tokens=6, do_sample=True, seed=11, temperature=0.9)
    batcher = Batcher(engine)
    alone = _run(batcher, [GenerationRequest([PROMPTS[0]], seeded)])[0]
    batcher = Batcher(engine)
    crowd = _run(batcher, [GenerationRequest([PROMPTS[0]], seeded),
                           GenerationRequest([PROMPTS[1]], GenerationParams(max_new_tokens=9, do_sample=True)),
                           GenerationRequest([PROMPTS[2]], GenerationParams(max_new_tokens=9))])
    assert crowd[0][0].texts == alone[0].texts


def test_continuous_batching_refuses_a_bad_request_alone_and_runs_beams_statically(tiny_causal_dir):
    engine = Engine.load(tiny_causal_dir)
    good = GenerationRequest([PROMPTS[0]], GenerationParams(max_new_tokens=3))
    bad = GenerationRequest(["word " * 600], GenerationParams(max_new_tokens=3))
    beams = GenerationRequest([PROMPTS[1]], GenerationParams(max_new_tokens=3, num_beams=2))
    batcher = Batcher(engine, max_wait_ms=10)

    async def go():
        try:
            return await asyncio.gather(batcher.submit(good), batcher.submit(bad), batcher.submit(beams),
                                        return_exceptions=True)
        finally:
            await batcher.close()

    ok, failed, beamed = asyncio.run(go())
    assert ok[0].texts == engine.generate([PROMPTS[0]], good.params)[0].texts
    assert getattr(failed, "field", None) == "inputs"
    assert beamed[0].texts == engine.generate([PROMPTS[1]], beams.params)[0].texts
    assert batcher.stats.passes == 1  # only the beam search took a static pass


def test_a_degenerate_sampling_distribution_falls_back_to_the_most_likely_token(tiny_causal_dir):
    """Logits that overflow (a vanishing temperature) make softmax NaN; the limit of that
    distribution is its argmax, not a failed request."""
    import torch

    from springboard.generate.scheduler import _Row

    engine = Engine.load(tiny_causal_dir)
    engine.enable_continuous_batching()

    class Stream:
        params = GenerationParams(max_new_tokens=2, do_sample=True, seed=1)

    class Overflow(list):
        def __call__(self, ids, scores):
            return scores / 1e-45  # +inf where positive: softmax is NaN

    row = _Row(Stream(), processors=Overflow([None]), generator=torch.Generator().manual_seed(1),
               greedy=False, history=[1])
    logits = torch.zeros(1, 10)
    logits[0, 7] = 5.0
    assert engine.scheduler._choose([row], logits) == [7]
    engine.close()


def test_prompts_of_very_different_lengths_are_prefilled_in_groups_with_unchanged_results(tiny_causal_dir):
    from types import SimpleNamespace

    from springboard.generate.prefill import by_length

    def rows(*lengths):
        return [SimpleNamespace(stream=SimpleNamespace(prompt_ids=[1] * n)) for n in lengths]

    def shape(groups):
        return [[len(r.stream.prompt_ids) for r in g] for g in groups]

    # padding 12-token prompts to 50 would cost more than one more pass; 10 vs 12 would not
    assert shape(by_length(rows(50, 12, 50, 12, 50, 12, 50, 12))) == [[12] * 4, [50] * 4]
    assert shape(by_length(rows(12, 10, 11))) == [[10, 11, 12]]
    assert shape(by_length(rows(7))) == [[7]]

    engine = Engine.load(tiny_causal_dir)
    prompts = ["x", "word " * 60, "Hello world", "word " * 55 + "end"]
    requests = [GenerationRequest([p], GenerationParams(max_new_tokens=6)) for p in prompts]
    batcher = Batcher(engine, max_batch_size=16, max_wait_ms=50)
    stats = engine.scheduler.stats
    results = _run(batcher, requests)
    assert stats.rows == 4 and stats.prefill_chunks >= 2  # short and long prompts: two groups
    solo = [engine.generate([r.prompts[0]], r.params)[0].texts for r in requests]
    assert [r[0].texts for r in results] == solo


def test_a_shared_prompt_prefix_is_computed_once_and_reused_with_unchanged_results(tiny_causal_dir):
    engine = Engine.load(tiny_causal_dir)
    preamble = "You are a helpful assistant. " * 6
    prompts = [preamble + q for q in ("Hi", "What is two plus two?", "Name a colour", "Say yes")]
    requests = [GenerationRequest([p], GenerationParams(max_new_tokens=5)) for p in prompts]
    solo = [engine.generate([p], r.params)[0].texts for p, r in zip(prompts, requests)]
    batcher = Batcher(engine, max_batch_size=16, max_wait_ms=50)
    scheduler = engine.scheduler

    async def two_rounds():
        try:
            return [await asyncio.gather(*(batcher.submit(r) for r in requests)) for _ in range(2)]
        finally:
            await batcher.close()

    for results in asyncio.run(two_rounds()):
        assert [r[0].texts for r in results] == solo
    assert scheduler.prefixes.entries  # the preamble's keys and values were kept
    assert scheduler.stats.prefix_hits >= 1  # and the second round took them from the cache
    (adapter, tokens), = list(scheduler.prefixes.entries)
    assert adapter is None and len(tokens) >= 16
