from __future__ import annotations

import pytest

from springboard.errors import DataError
from springboard.generate import Engine, GenerationParams, GenerationRequest

PROMPTS = ["Hello world", "The quick brown fox jumps over the lazy dog and then", "x"]
GREEDY = GenerationParams(max_new_tokens=8)


@pytest.fixture(scope="module")
def causal(tiny_causal_dir) -> Engine:
    return Engine.load(tiny_causal_dir)


@pytest.fixture(scope="module")
def t5(tiny_t5_dir) -> Engine:
    return Engine.load(tiny_t5_dir)


def test_load_reports_model_facts(causal, t5, tiny_causal_dir):
    assert not causal.is_seq2seq and t5.is_seq2seq
    assert causal.model_dir == tiny_causal_dir
    assert causal.tokenizer.padding_side == "left"  # causal batches are left-padded
    assert next(causal.model.parameters()).dtype.is_floating_point
    assert str(next(causal.model.parameters()).dtype) == "torch.float32"  # fp32 on CPU


def test_hub_model_id_resolves_with_its_spec(tiny_causal_dir):
    from springboard.hub import register_model

    register_model("tiny-test-llm", tiny_causal_dir)
    engine = Engine.load("tiny-test-llm")
    assert engine.spec is not None and engine.spec.model_id == "tiny-test-llm"


@pytest.mark.parametrize("which", ["causal", "t5"])
def test_batch_equals_one_by_one_under_greedy(which, causal, t5):
    engine = causal if which == "causal" else t5
    batched = engine.generate(PROMPTS, GREEDY)
    single = [engine.generate([p], GREEDY)[0] for p in PROMPTS]
    assert [r.texts for r in batched] == [r.texts for r in single]
    assert [r.generated_tokens for r in batched] == [r.generated_tokens for r in single]
    assert [r.prompt_tokens for r in batched] == [r.prompt_tokens for r in single]
    assert len({r.prompt_tokens for r in batched}) > 1  # really different lengths, so padding was exercised


def test_batch_size_splits_into_passes_with_the_same_result(causal):
    assert [r.texts for r in causal.generate(PROMPTS, GREEDY, batch_size=1)] == [
        r.texts for r in causal.generate(PROMPTS, GREEDY)
    ]


def test_requests_with_different_lengths_share_a_pass(causal):
    short, long = GenerationParams(max_new_tokens=3), GenerationParams(max_new_tokens=9, return_full_text=True)
    a, b = causal.generate_batch([GenerationRequest([PROMPTS[0]], short), GenerationRequest([PROMPTS[1]], long)])
    assert a[0].texts == causal.generate([PROMPTS[0]], short)[0].texts
    assert b[0].texts == causal.generate([PROMPTS[1]], long)[0].texts
    assert a[0].generated_tokens <= 3


def test_max_new_tokens_and_max_length_follow_hf_semantics(causal, t5):
    result = causal.generate([PROMPTS[1]], GenerationParams(max_new_tokens=6))[0]
    assert result.generated_tokens <= 6
    # causal max_length counts the prompt
    budget = result.prompt_tokens + 4
    by_length = causal.generate([PROMPTS[1]], GenerationParams(max_length=budget))[0]
    assert by_length.generated_tokens <= 4
    assert by_length.texts[0] == causal.generate([PROMPTS[1]], GenerationParams(max_new_tokens=4))[0].texts[0]
    # max_new_tokens wins over max_length
    both = causal.generate([PROMPTS[1]], GenerationParams(max_length=budget, max_new_tokens=6))[0]
    assert both.texts == result.texts
    # seq2seq max_length counts the decoder sequence (start token included)
    assert t5.generate(["hello"], GenerationParams(max_length=5))[0].generated_tokens <= 4


def test_length_finish_reason(causal):
    result = causal.generate(["Hello world"], GenerationParams(max_new_tokens=5))[0]
    if result.finish_reason == "length":
        assert result.generated_tokens == 5
    else:
        assert result.generated_tokens <= 5


def test_stop_sequences_are_trimmed_and_finish_with_stop(causal):
    params = GenerationParams(max_new_tokens=12)
    full = causal.generate([PROMPTS[1]], params)[0].texts[0]
    assert len(full) >= 6
    stop = full[3:5]
    expected = full[: full.find(stop)]
    result = causal.generate([PROMPTS[1]], params.with_overrides(stop=[stop]))[0]
    assert result.texts == [expected]
    assert result.finish_reason == "stop"
    assert result.finish_causes == ["stop_sequence"]


def test_return_full_text_prepends_the_prompt(causal):
    plain = causal.generate([PROMPTS[0]], GREEDY)[0].texts[0]
    full = causal.generate([PROMPTS[0]], GREEDY.with_overrides(return_full_text=True))[0].texts[0]
    assert full == PROMPTS[0] + plain


def test_seed_makes_sampling_reproducible(causal):
    params = GenerationParams(max_new_tokens=10, do_sample=True, top_k=50, top_p=0.95, seed=7)
    first = causal.generate(PROMPTS, params)
    again = causal.generate(PROMPTS, params)
    assert [r.texts for r in first] == [r.texts for r in again]
    others = [causal.generate(PROMPTS, params.with_overrides(seed=s)) for s in (8, 9, 10)]
    assert any([r.texts for r in o] != [r.texts for r in first] for o in others)


def test_num_return_sequences_with_beams_and_sampling(causal, t5):
    beams = causal.generate(PROMPTS[:2], GenerationParams(max_new_tokens=6, num_beams=3, num_return_sequences=2))
    assert [len(r.texts) for r in beams] == [2, 2]
    sampled = t5.generate(["a b"], GenerationParams(max_new_tokens=4, do_sample=True, num_return_sequences=3))
    assert len(sampled[0].texts) == 3 and len(sampled[0].token_counts) == 3


def test_chat_applies_the_template_only_when_asked(causal):
    chat = causal.generate(["Hi there"], GREEDY, chat=True)[0]
    assert chat.prompt.startswith("<|im_start|>user\nHi there<|im_end|>")
    assert chat.prompt.endswith("<|im_start|>assistant\n")
    plain = causal.generate(["Hi there"], GREEDY)[0]
    assert plain.prompt == "Hi there" and plain.prompt_tokens < chat.prompt_tokens
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    rendered = causal.generate([messages], GREEDY)[0]
    assert "<|im_start|>system\nBe brief.<|im_end|>" in rendered.prompt


def test_chat_without_a_template_uses_the_plain_prompt(tmp_path):
    import tinymodels

    engine = Engine.load(tinymodels.build_causal(tmp_path / "notemplate", chat_template=False))
    assert not engine.has_chat_template
    assert engine.generate(["Hi"], GREEDY, chat=True)[0].prompt == "Hi"


def test_too_many_tokens_name_the_field(causal):
    with pytest.raises(DataError) as err:
        causal.generate(["word " * 600], GREEDY)
    assert err.value.field == "inputs"
    with pytest.raises(DataError) as err:
        causal.generate(["Hi"], GenerationParams(max_new_tokens=100_000))
    assert err.value.field == "max_new_tokens"


def test_stream_yields_the_same_text_as_generate(causal, t5):
    for engine in (causal, t5):
        expected = engine.generate([PROMPTS[1]], GenerationParams(max_new_tokens=10))[0]
        stream = engine.stream(PROMPTS[1], GenerationParams(max_new_tokens=10))
        assert "".join(stream) == expected.texts[0]
        assert stream.finish_reason == expected.finish_reason
        assert stream.generated_tokens == expected.generated_tokens


def test_stream_stops_at_a_stop_sequence(causal):
    full = causal.generate([PROMPTS[1]], GenerationParams(max_new_tokens=12))[0].texts[0]
    stop = full[3:5]
    stream = causal.stream(PROMPTS[1], GenerationParams(max_new_tokens=12, stop=[stop]))
    assert "".join(stream) == full[: full.find(stop)]
    assert stream.finish_reason == "stop"


def test_stream_refuses_beam_search(causal):
    with pytest.raises(DataError) as err:
        causal.stream("Hi", GenerationParams(num_beams=2))
    assert err.value.field == "num_beams"


def test_torch_work_off_the_scheduler_runs_on_short_lived_threads(causal, tiny_causal_dir):
    """A thread's OpenMP pool lives as long as the thread, and libgomp throttles every team's spin
    once the process holds more OpenMP threads than cores: loads, static passes and scoring run on
    a thread that ends with them (engine.apart), the caller's thread computes nothing."""
    import threading

    from springboard.generate.engine import apart

    seen: list[str] = []
    generate = causal.model.generate

    def spy(*args, **kwargs):
        seen.append(threading.current_thread().name)
        return generate(*args, **kwargs)

    causal.model.generate = spy
    try:
        causal.generate(["hello"], GenerationParams(max_new_tokens=2, num_beams=2))  # a static pass
    finally:
        del causal.model.generate
    assert seen == ["springboard-compute"]
    with pytest.raises(KeyError):  # errors reach the caller
        apart(lambda: {}["missing"])
    threads = []
    apart(lambda: threads.append(threading.current_thread()))
    assert threads[0] is not threading.current_thread() and not threads[0].is_alive()


@pytest.mark.parametrize("where", ["_group", "_join"])
def test_a_failed_scheduler_step_fails_its_requests_instead_of_hanging(tiny_causal_dir, monkeypatch, where):
    """A step that raises while a prefill group is being formed or joins the running batch ends
    that group's rows with the error (they used to be in neither queue and wait for ever); the
    scheduler goes on serving the next requests."""
    import threading
    import time

    from springboard.generate.scheduler import Scheduler

    engine = Engine.load(tiny_causal_dir)
    engine.enable_continuous_batching()
    real = getattr(Scheduler, where)
    calls = []
    fail_at = 2 if where == "_join" else 1  # the running row's own join comes first

    def once(self, *args):
        calls.append(where)
        if len(calls) == fail_at:
            raise RuntimeError(f"boom in {where}")
        return real(self, *args)

    monkeypatch.setattr(Scheduler, where, once)
    params = GenerationParams(max_new_tokens=4)
    try:
        if where == "_join":  # a running batch to join
            running = engine.schedule(GenerationRequest(["a running row"], GenerationParams(max_new_tokens=200)))
            deadline = time.time() + 30
            while not engine.scheduler.stats.steps and time.time() < deadline:  # it is in the running batch
                time.sleep(0.001)
        box = {}
        worker = threading.Thread(target=lambda: box.setdefault("out", _catch(engine, params)))
        worker.start()
        worker.join(60)
        assert not worker.is_alive(), "the request hung"
        assert isinstance(box["out"], RuntimeError) and "boom" in str(box["out"])
        assert engine.generate(["and the next one"], params)[0].generated_tokens == 4
        if where == "_join":
            assert isinstance(_wait_error(running), RuntimeError)  # the running rows failed with the step
    finally:
        engine.close()


def _catch(engine, params):
    try:
        return engine.generate(["one prompt", "another prompt here"], params)
    except Exception as exc:  # noqa: BLE001 - the test inspects it
        return exc


def _wait_error(scheduled):
    try:
        scheduled.wait()
    except Exception as exc:  # noqa: BLE001
        return exc
    return None
