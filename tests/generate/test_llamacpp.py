"""The fast CPU path: HF → GGUF conversion, backend choice, and llama.cpp decode giving the
transformers reference's outputs under greedy decoding."""

from __future__ import annotations


import pytest

from springboard.errors import ValidationError
from springboard.generate import Engine, GenerationParams, GenerationRequest
from springboard.generate.llamacpp import GGUF_NAME, backend_for, ensure_gguf, llama_cpp_available

PROMPTS = ["Hello world", "The quick brown fox jumps over the lazy dog and then", "x y z"]
needs_llama_cpp = pytest.mark.skipif(
    not llama_cpp_available(),
    reason="llama_cpp (llama-cpp-python, the [fast] extra; setup-env.sh builds it) is not installed",
)


def test_gguf_holds_the_same_model(peaked_dir):
    """transformers' own GGUF reader loads our file back to the same logits (q/k permutation,
    tied embeddings, norms, vocabulary size all right)."""
    import torch
    from transformers import AutoModelForCausalLM

    path = ensure_gguf(peaked_dir)
    assert path == peaked_dir / GGUF_NAME and path.is_file()
    first = path.stat().st_mtime_ns
    assert ensure_gguf(peaked_dir).stat().st_mtime_ns == first  # converted once, then reused
    reference = AutoModelForCausalLM.from_pretrained(peaked_dir)
    loaded = AutoModelForCausalLM.from_pretrained(peaked_dir, gguf_file=GGUF_NAME)
    ids = torch.tensor([[1, 5, 9, 30, 100, 7, 250]])
    with torch.no_grad():
        assert torch.equal(reference(ids).logits, loaded(ids).logits)


def test_backend_choice(monkeypatch, tiny_causal_dir, tiny_t5_dir):
    from transformers import AutoConfig

    llama, t5 = AutoConfig.from_pretrained(tiny_causal_dir), AutoConfig.from_pretrained(tiny_t5_dir)
    monkeypatch.delenv("SPRINGBOARD_GENERATE_BACKEND", raising=False)
    expected = "llamacpp" if llama_cpp_available() else "transformers"
    assert backend_for(None, "cpu", llama) == expected  # the default is auto
    assert backend_for("auto", "cpu", t5) == "transformers"
    assert backend_for("auto", "cuda", llama) == "transformers"
    with pytest.raises(ValidationError, match="not a Llama-family"):
        backend_for("llamacpp", "cpu", t5)
    with pytest.raises(ValidationError, match="CPU path"):
        backend_for("llamacpp", "cuda", llama)
    monkeypatch.setenv("SPRINGBOARD_GENERATE_BACKEND", "fastest")
    with pytest.raises(ValidationError, match="unknown generation backend 'fastest'"):
        backend_for(None, "cpu", llama)
    monkeypatch.setenv("SPRINGBOARD_GENERATE_BACKEND", "transformers")
    assert backend_for(None, "cpu", llama) == "transformers"
    if not llama_cpp_available():
        with pytest.raises(ValidationError, match="not installed"):
            backend_for("llamacpp", "cpu", llama)


@pytest.fixture(scope="module")
def engines(peaked_dir):
    if not llama_cpp_available():
        pytest.skip("llama_cpp (llama-cpp-python) is not installed")
    fast = Engine.load(peaked_dir, backend="llamacpp", dtype="float32")  # the reference's weights
    reference = Engine.load(peaked_dir, backend="transformers")
    yield fast, reference
    fast.close()


@needs_llama_cpp
def test_greedy_outputs_equal_the_reference(engines):
    fast, reference = engines
    assert fast.backend == "llamacpp" and reference.backend == "transformers"
    params = GenerationParams(max_new_tokens=24)
    before = fast.fast.rows
    for prompt in PROMPTS:
        got = fast.generate([prompt], params)[0]
        want = reference.generate([prompt], params)[0]
        assert got.texts == want.texts and got.texts[0]
        assert (got.generated_tokens, got.finish_reason) == (want.generated_tokens, want.finish_reason)
    assert fast.fast.rows == before + len(PROMPTS)  # llama.cpp decoded them, not the fallback


@needs_llama_cpp
def test_stream_and_stop_sequences_match(engines):
    fast, reference = engines
    full = reference.generate([PROMPTS[1]], GenerationParams(max_new_tokens=16))[0].texts[0]
    stop = full[len(full) // 2 : len(full) // 2 + 3]
    params = GenerationParams(max_new_tokens=16, stop=(stop,))
    want = reference.generate([PROMPTS[1]], params)[0]
    before = fast.fast.rows
    stream = fast.stream(PROMPTS[1], params)
    assert "".join(stream) == want.texts[0]
    assert stream.finish_reason == want.finish_reason == "stop"
    assert fast.fast.rows == before + 1
    chat = [{"role": "user", "content": "hi there"}]
    greedy = GenerationParams(max_new_tokens=12)
    assert fast.generate([chat], greedy, chat=True)[0].texts == reference.generate([chat], greedy, chat=True)[0].texts


@needs_llama_cpp
def test_what_llama_cpp_does_not_run_stays_on_transformers(engines):
    fast, reference = engines
    before = fast.fast.rows
    echo = GenerationParams(max_new_tokens=6, logprobs=2, prompt_logprobs=True)
    got = fast.generate([PROMPTS[0]], echo)[0]
    assert got.prompt_logprobs and got.tokens[0][0].top  # the prompt's log-probabilities: the reference path
    assert fast.fast.rows == before
    beams = GenerationParams(max_new_tokens=6, num_beams=2)
    assert fast.generate([PROMPTS[0]], beams)[0].texts == reference.generate([PROMPTS[0]], beams)[0].texts
    # several rows at once: a batch, not single-stream decode
    greedy = GenerationParams(max_new_tokens=6)
    assert fast.generate(PROMPTS, greedy) == reference.generate(PROMPTS, greedy)
    assert fast.fast.rows == before


@needs_llama_cpp
def test_sampling_is_seeded_and_bounded(engines):
    fast, _ = engines
    params = GenerationParams(max_new_tokens=10, do_sample=True, seed=7, temperature=0.9, top_k=20)
    a = fast.generate([PROMPTS[0]], params)[0]
    b = fast.generate([PROMPTS[0]], params)[0]
    assert a.texts == b.texts and 1 <= a.generated_tokens <= 10


@needs_llama_cpp
def test_scheduled_request_runs_on_llama_cpp_when_free(engines):
    fast, reference = engines
    params = GenerationParams(max_new_tokens=10)
    before = fast.fast.rows
    scheduled = fast.schedule(GenerationRequest([PROMPTS[2]], params))
    assert scheduled.wait()[0].texts == reference.generate([PROMPTS[2]], params)[0].texts
    assert fast.fast.rows == before + 1


@pytest.mark.slow
@needs_llama_cpp
def test_smollm2_greedy_equals_the_reference():
    """The real default model (float32 both sides)."""
    fast = Engine.load("smollm2-135m-instruct", backend="llamacpp", dtype="float32")
    reference = Engine.load("smollm2-135m-instruct", backend="transformers")
    try:
        params = GenerationParams(max_new_tokens=48)
        for prompt in ([{"role": "user", "content": "What is the capital of France?"}],
                       [{"role": "user", "content": "Write a haiku about the sea."}]):
            got = fast.generate([prompt], params, chat=True)[0]
            want = reference.generate([prompt], params, chat=True)[0]
            assert got.texts == want.texts and got.generated_tokens == want.generated_tokens
        assert fast.fast.rows == 2
    finally:
        fast.close()


def test_only_params_llama_cpp_honours_take_the_fast_path():
    from springboard.generate.decoding import needs
    from springboard.generate.llamacpp_batch import CAPABILITIES

    def supports(params):
        return CAPABILITIES.covers(needs(params), seq2seq=False)

    assert supports(GenerationParams(max_new_tokens=5, stop=("x",), do_sample=True, seed=3, top_k=4, top_p=0.5))
    # several sampled sequences are rows of their own (seed + j); several greedy ones are beams' cousins
    assert supports(GenerationParams(max_new_tokens=5, num_return_sequences=2, do_sample=True))
    assert supports(GenerationParams(max_new_tokens=5, logprobs=3))  # from llama.cpp's own logits
    for other in ({"prompt_logprobs": True}, {"num_beams": 2},
                  {"num_return_sequences": 2, "num_beams": 2}, {"repetition_penalty": 1.2}, {"typical_p": 0.5}, {"watermark": True},
                  {"no_repeat_ngram_size": 2}, {"grammar": "start: \"a\""}):
        assert not supports(GenerationParams(max_new_tokens=5, **other)), other
