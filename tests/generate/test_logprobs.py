"""Log-probabilities (prompt and generated, streamed and not), token-id prompts, truncation and
the decoding knobs TGI and FLAN clients send (typical_p, watermark, length_penalty)."""

from __future__ import annotations

import math

import pytest
import torch

from springboard.errors import DataError
from springboard.generate import Engine, GenerationParams

PROMPT = "The quick brown fox jumps over the lazy dog and then"


@pytest.fixture(scope="module")
def causal(tiny_causal_dir) -> Engine:
    return Engine.load(tiny_causal_dir)


@pytest.fixture(scope="module")
def t5(tiny_t5_dir) -> Engine:
    return Engine.load(tiny_t5_dir)


def _hf_step_logprobs(engine: Engine, prompt: str, n: int) -> tuple[list[int], list[torch.Tensor]]:
    """What transformers itself reports for each greedy step (output_logits)."""
    ids = engine.tokenizer(prompt, return_tensors="pt")
    with torch.inference_mode():
        out = engine.model.generate(**ids, max_new_tokens=n, do_sample=False, output_logits=True,
                                    return_dict_in_generate=True, pad_token_id=engine.tokenizer.pad_token_id)
    new = out.sequences[0, ids["input_ids"].shape[1]:].tolist()
    return new, [torch.log_softmax(step[0].float(), -1) for step in out.logits]


def test_generated_token_logprobs_match_transformers_own_step_logits(causal):
    result = causal.generate([PROMPT], GenerationParams(max_new_tokens=6, logprobs=3))[0]
    ids, steps = _hf_step_logprobs(causal, PROMPT, 6)
    tokens = result.tokens[0]
    assert [t.id for t in tokens] == ids[: len(tokens)]
    assert len(tokens) == result.generated_tokens
    for token, step in zip(tokens, steps):
        assert math.isclose(token.logprob, step[token.id].item(), abs_tol=1e-4)
        assert len(token.top) == 3
        assert token.top[0].id == int(step.argmax())  # greedy picks the best alternative
        assert token.top[0].logprob >= token.top[1].logprob >= token.top[2].logprob
    assert "".join(t.text for t in tokens if not t.special) == result.texts[0]
    plain = causal.generate([PROMPT], GenerationParams(max_new_tokens=6))[0]
    assert plain.tokens == [] and plain.texts == result.texts  # asking for logprobs changes nothing


def test_prompt_logprobs_score_every_prompt_token_but_the_first(causal):
    ids = causal.tokenizer(PROMPT)["input_ids"]
    result = causal.generate([PROMPT], GenerationParams(max_new_tokens=2, logprobs=0, prompt_logprobs=True))[0]
    prefill = result.prompt_logprobs
    assert [t.id for t in prefill] == ids and prefill[0].logprob is None
    with torch.inference_mode():
        logits = causal.model(torch.tensor([ids])).logits[0]
    expected = torch.log_softmax(logits, -1)[torch.arange(len(ids) - 1), torch.tensor(ids[1:])]
    assert [round(t.logprob, 4) for t in prefill[1:]] == [round(v, 4) for v in expected.tolist()]
    scored = causal.score([PROMPT], top_n=2)[0]
    assert [t.id for t in scored] == ids and all(len(t.top) == 2 for t in scored[1:])
    assert math.isclose(sum(t.logprob for t in scored[1:]), expected.sum().item(), abs_tol=1e-3)


def test_streamed_tokens_carry_ids_and_the_same_logprobs(causal):
    expected = causal.generate([PROMPT], GenerationParams(max_new_tokens=8, logprobs=2))[0]
    stream = causal.stream(PROMPT, GenerationParams(max_new_tokens=8, logprobs=2))
    events = list(stream.events())
    tokens = [e.token for e in events if e.token is not None]
    assert [t.id for t in tokens] == [t.id for t in expected.tokens[0]]
    for got, want in zip(tokens, expected.tokens[0]):
        assert math.isclose(got.logprob, want.logprob, abs_tol=1e-4)
        assert [a.id for a in got.top] == [a.id for a in want.top]
    assert "".join(e.text for e in events) == expected.texts[0]
    assert stream.generated_tokens == expected.generated_tokens
    assert stream.finish_cause == expected.finish_causes[0]


def test_seq2seq_generated_logprobs(t5):
    result = t5.generate(["translate: hello"], GenerationParams(max_new_tokens=5, logprobs=1, prompt_logprobs=True))[0]
    assert len(result.tokens[0]) == result.generated_tokens
    assert all(t.logprob <= 0 and t.top[0].logprob >= t.logprob - 1e-6 for t in result.tokens[0])
    assert result.prompt_logprobs[0].id == t5.model.generation_config.decoder_start_token_id
    with pytest.raises(DataError):
        t5.score(["hello"])


def test_token_id_prompts_and_truncation(causal):
    ids = causal.tokenizer(PROMPT)["input_ids"]
    by_text = causal.generate([PROMPT], GenerationParams(max_new_tokens=5))[0]
    by_ids = causal.generate([ids], GenerationParams(max_new_tokens=5))[0]
    assert by_ids.texts == by_text.texts and by_ids.prompt_tokens == len(ids)
    cut = causal.generate([PROMPT], GenerationParams(max_new_tokens=5, truncate=4))[0]
    assert cut.prompt_tokens == 4
    assert cut.texts == causal.generate([ids[-4:]], GenerationParams(max_new_tokens=5))[0].texts
    with pytest.raises(DataError) as err:
        causal.generate([[10**7]], GenerationParams(max_new_tokens=2))
    assert "vocabulary" in str(err.value)


def test_decoding_knobs_reach_transformers(causal):
    from springboard.generate.decoding import generation_config

    config = generation_config(causal.model, causal.tokenizer, GenerationParams(num_beams=2, length_penalty=0.3), 5)
    assert config.length_penalty == 0.3
    config = generation_config(causal.model, causal.tokenizer, GenerationParams(do_sample=True, typical_p=0.5), 5)
    assert config.typical_p == 0.5
    marked = generation_config(causal.model, causal.tokenizer, GenerationParams(watermark=True), 5).watermarking_config
    assert marked.greenlist_ratio == 0.5 and marked.bias == 2.0  # TGI's gamma and delta


def test_watermark_is_detectable(causal):
    """The watermark biases decoding towards each step's green list (transformers' detector
    finds it); unmarked text from the same model is not flagged."""
    from transformers import WatermarkDetector, WatermarkingConfig

    params = dict(max_new_tokens=60, do_sample=True, seed=3, temperature=1.0)
    marked = causal.generate(["Once"], GenerationParams(**params, watermark=True, logprobs=0))[0]
    plain = causal.generate(["Once"], GenerationParams(**params, logprobs=0))[0]
    detector = WatermarkDetector(causal.model.config, "cpu", WatermarkingConfig(greenlist_ratio=0.5, bias=2.0))

    def z(result) -> float:
        ids = torch.tensor([[t.id for t in result.tokens[0]]])
        return float(detector(ids, return_dict=True).z_score[0])

    assert z(marked) > z(plain)
    assert z(marked) > 2.0


def test_a_causal_max_length_within_the_prompt_is_an_error_not_an_empty_answer(causal):
    n = len(causal.tokenizer(PROMPT)["input_ids"])
    with pytest.raises(DataError) as err:
        causal.generate([PROMPT], GenerationParams(max_length=n))
    assert err.value.field == "max_length" and f"{n} tokens" in str(err.value)
    with pytest.raises(DataError):
        causal.stream(PROMPT, GenerationParams(max_length=n))


def test_importing_springboard_bounds_the_openmp_spin_wait_unless_the_user_chose():
    """OpenMP's default spin-wait made decoding ~10x slower on a busy machine, no spin ~40% slower on
    an idle one (see springboard/__init__.py): a bounded spin is set in the environment before torch
    loads, and a user's own policy or spin count is kept."""
    import os
    import subprocess
    import sys

    code = "import os, springboard, torch; print(os.environ.get('OMP_WAIT_POLICY'), os.environ.get('GOMP_SPINCOUNT'))"
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}

    def run(**extra):
        return subprocess.run([sys.executable, "-c", code], env={**env, **extra}, capture_output=True, text=True,
                              check=True).stdout.split()

    assert run() == ["None", "10000"]
    assert run(OMP_WAIT_POLICY="PASSIVE") == ["PASSIVE", "None"]
    assert run(GOMP_SPINCOUNT="300000") == ["None", "300000"]


def test_openai_penalties_discourage_repeats_the_same_on_every_path(tiny_causal_dir):
    engine = Engine.load(tiny_causal_dir)
    plain = GenerationParams(max_new_tokens=30, logprobs=0)
    penalized = GenerationParams(max_new_tokens=30, logprobs=0, frequency_penalty=2.0, presence_penalty=2.0)

    def repeats(result) -> int:
        ids = [t.id for t in result.tokens[0]]
        return len(ids) - len(set(ids))

    static = engine.generate([PROMPT], penalized)[0]
    assert repeats(static) < repeats(engine.generate([PROMPT], plain)[0])
    streamed = "".join(engine.stream(PROMPT, penalized))
    engine.enable_continuous_batching()
    scheduled = engine.generate([PROMPT], penalized)[0]
    assert scheduled.texts == static.texts and streamed == static.texts[0]
    with pytest.raises(DataError) as err:
        GenerationParams(frequency_penalty=3.0)
    assert err.value.field == "frequency_penalty"
