"""Precision as a setting (generate/precision.py) and the llama.cpp backend's continuous batching
(generate/llamacpp_batch.py): validation naming DTYPE / QUANTIZE, GGUF files converted once and
cached by content hash, the default model's own GGUF served as shipped, and a row's output the
same whether it ran alone or among others."""

from __future__ import annotations

import shutil
import threading

import pytest

from springboard.errors import DataError
from springboard.generate import Engine, GenerationParams
from springboard.generate import precision as prec
from springboard.generate.llamacpp import GGUF_NAME, llama_cpp_available

needs_llama_cpp = pytest.mark.skipif(not llama_cpp_available(), reason="llama_cpp (llama-cpp-python) is not installed")
PROMPTS = ["Hello world", "The quick brown fox jumps over the lazy dog and then", "x y z", "a b c d e f g",
           "Once upon a time", "1 2 3"]


def test_settings_are_validated_naming_the_setting(tiny_causal_dir):
    from transformers import AutoConfig

    assert prec.parse(None, None) == ("auto", "auto")
    assert prec.parse("BF16", None) == ("bfloat16", "auto")
    with pytest.raises(DataError, match="field 'DTYPE'.*unknown DTYPE 'int3'"):
        prec.parse("int3", None)
    with pytest.raises(DataError, match="field 'QUANTIZE'.*unknown QUANTIZE 'q9_9'"):
        prec.from_environment({"QUANTIZE": "q9_9"})
    with pytest.raises(DataError, match="field 'QUANTIZE'.*not both"):
        prec.parse("float32", "q8_0")
    config = AutoConfig.from_pretrained(tiny_causal_dir)  # hidden_size 64
    with pytest.raises(DataError, match="field 'QUANTIZE'.*QUANTIZE=q4_k_m packs rows in blocks of 256.*hidden_size is 64"):
        prec.choose(None, "q4_k_m", "llamacpp", "cpu", config, tiny_causal_dir)
    with pytest.raises(DataError, match="field 'QUANTIZE'.*runs on the llamacpp backend"):
        prec.choose(None, "q8_0", "transformers", "cpu", config, tiny_causal_dir)
    chosen = prec.choose(None, None, "llamacpp", "cpu", config, tiny_causal_dir)
    assert (chosen.weights, chosen.source) == ("q8_0", "converted") and "auto" in chosen.reason
    reference = prec.choose(None, None, "transformers", "cpu", config, tiny_causal_dir)
    assert (reference.weights, reference.source, reference.exact) == ("float32", "reference", True)


def test_transform_config_refuses_a_bad_precision(tmp_path):
    from springboard.transform.config import TransformConfig

    with pytest.raises(Exception, match="QUANTIZE"):
        TransformConfig(model="m", input=str(tmp_path), output=str(tmp_path / "o"), environment={"QUANTIZE": "fast"})


@pytest.fixture(scope="module")
def q8_engine(tiny_causal_dir, tmp_path_factory):
    if not llama_cpp_available():
        pytest.skip("llama_cpp (llama-cpp-python) is not installed")
    model_dir = tmp_path_factory.mktemp("q8") / "model"
    shutil.copytree(tiny_causal_dir, model_dir, ignore=shutil.ignore_patterns(GGUF_NAME, "gguf"))
    engine = Engine.load(model_dir, backend="llamacpp", quantize="q8_0")
    yield engine
    engine.close()


@needs_llama_cpp
def test_a_converted_gguf_is_cached_by_content_hash(q8_engine):
    p = q8_engine.precision
    assert (p.backend, p.weights, p.source, p.exact) == ("llamacpp", "q8_0", "converted", False)
    digest = prec.content_hash(q8_engine.model_dir)
    assert p.gguf == q8_engine.model_dir / "gguf" / f"{digest[:16]}-q8_0.gguf" and p.gguf.is_file()
    assert prec.gguf_file_type(p.gguf) == "q8_0"
    assert not [f for f in p.gguf.parent.iterdir() if ".tmp" in f.name]
    before = p.gguf.stat().st_mtime_ns
    again = prec.resolve(None, "q8_0", "llamacpp", "cpu", q8_engine.model.config, q8_engine.model_dir)
    assert again.gguf == p.gguf and p.gguf.stat().st_mtime_ns == before  # converted once


@needs_llama_cpp
def test_a_failed_conversion_names_the_setting_and_leaves_nothing(tiny_causal_dir, tmp_path):
    broken = tmp_path / "no-tokenizer"
    shutil.copytree(tiny_causal_dir, broken, ignore=shutil.ignore_patterns(GGUF_NAME, "gguf", "tokenizer.json"))
    with pytest.raises(DataError, match="field 'QUANTIZE'.*QUANTIZE=q4_0: cannot convert the model to GGUF.*tokenizer.json"):
        Engine.load(broken, backend="llamacpp", quantize="q4_0")
    left = [f.name for f in [*broken.glob("*gguf*"), *broken.glob(".*gguf*"), *broken.glob("gguf/*")]
            if not f.name.endswith(".lock") and f.is_file()]  # a lock file holds no weights
    assert left == []


@needs_llama_cpp
def test_every_row_runs_on_llama_cpp_and_batched_equals_alone(q8_engine):
    """Scheduling does not change outputs at a precision: each prompt's greedy output when all
    run at once (one llama.cpp batch, chunked prefill) equals its output alone."""
    params = GenerationParams(max_new_tokens=20)
    rows, steps = q8_engine.fast.rows, q8_engine.fast.steps
    alone = [q8_engine.generate([p], params)[0] for p in PROMPTS]
    solo_steps = q8_engine.fast.steps - steps
    together = q8_engine.generate(PROMPTS, params)
    assert q8_engine.fast.rows == rows + 2 * len(PROMPTS)  # all on llama.cpp, none on transformers
    assert q8_engine.fast.steps - steps - solo_steps < solo_steps  # they shared steps
    assert [r.texts for r in together] == [r.texts for r in alone]
    assert [(r.generated_tokens, r.finish_reason) for r in together] == [(r.generated_tokens, r.finish_reason)
                                                                         for r in alone]
    assert any(r.texts[0] for r in alone)
    # concurrent streams from threads: the same again
    got: dict[int, str] = {}

    def run(i: int) -> None:
        got[i] = "".join(q8_engine.stream(PROMPTS[i], params))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(PROMPTS))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [got[i] for i in range(len(PROMPTS))] == [r.texts[0] for r in alone]


@needs_llama_cpp
def test_sampling_stop_and_cancel_on_the_batch(q8_engine):
    sampled = GenerationParams(max_new_tokens=12, do_sample=True, seed=11, temperature=0.8, top_k=30, top_p=0.9)
    a = q8_engine.generate(PROMPTS[:3], sampled)
    b = q8_engine.generate(PROMPTS[:3], sampled)
    assert [r.texts for r in a] == [r.texts for r in b] and all(1 <= r.generated_tokens <= 12 for r in a)
    several = q8_engine.generate([PROMPTS[0]], sampled.with_overrides(num_return_sequences=3))[0]
    assert len(several.texts) == 3 and several.texts[0] == a[0].texts[0]  # row 0 keeps the seed
    full = q8_engine.generate([PROMPTS[1]], GenerationParams(max_new_tokens=16))[0].texts[0]
    stop = full[len(full) // 2: len(full) // 2 + 3]
    stopped = q8_engine.generate([PROMPTS[1]], GenerationParams(max_new_tokens=16, stop=(stop,)))[0]
    assert stopped.finish_reason == "stop" and stop not in stopped.texts[0] and full.startswith(stopped.texts[0])
    stream = q8_engine.stream(PROMPTS[0], GenerationParams(max_new_tokens=200))
    next(iter(stream), None)
    stream.close()
    # the cancelled row's cells are freed: the backend goes idle and serves the next request
    assert q8_engine.generate([PROMPTS[2]], GenerationParams(max_new_tokens=4))[0].generated_tokens >= 1


@needs_llama_cpp
def test_what_llama_cpp_does_not_run_stays_on_transformers(q8_engine):
    rows = q8_engine.fast.rows
    got = q8_engine.generate([PROMPTS[0]], GenerationParams(max_new_tokens=4, logprobs=2, prompt_logprobs=True))[0]
    assert got.prompt_logprobs and got.tokens and got.tokens[0][0].top  # the prompt's: the reference's
    assert q8_engine.generate([PROMPTS[0]], GenerationParams(max_new_tokens=4, num_beams=2))[0].texts
    assert q8_engine.fast.rows == rows


@pytest.mark.slow
@needs_llama_cpp
def test_the_default_model_serves_its_own_gguf_as_shipped():
    from springboard.hub import get_model_spec
    from springboard.hub.convert import gguf_path

    engine = Engine.load("smollm2-135m-instruct", backend="llamacpp")
    try:
        p = engine.precision
        assert (p.weights, p.source) == ("q4_1", "shipped")
        assert p.gguf == gguf_path(get_model_spec("smollm2-135m-instruct"))  # the package's file, not a copy
        assert not (engine.model_dir / "gguf").exists()  # nothing converted
        chat = [[{"role": "user", "content": q}] for q in ("What is the capital of France?", "Name a colour.",
                                                            "Write a haiku about the sea.", "Say hi.")]
        params = GenerationParams(max_new_tokens=32)
        alone = [engine.generate([c], params, chat=True)[0].texts for c in chat]
        together = [r.texts for r in engine.generate(chat, params, chat=True)]
        assert together == alone and all(a[0] for a in alone)
    finally:
        engine.close()
    with pytest.raises(DataError, match="QUANTIZE=q4_k_m packs rows in blocks of 256.*hidden_size is 576"):
        Engine.load("smollm2-135m-instruct", backend="llamacpp", quantize="q4_k_m")



def _probe(monkeypatch, bf16: bool):
    from springboard import hardware

    monkeypatch.setattr(hardware, "choose_precision", lambda requested, device: hardware.Precision(
        "bfloat16" if bf16 else "float32", requested, "this CPU's bf16 GEMM measured 2.50x float32's speed (test)"))


@needs_llama_cpp
def test_batch_work_runs_on_transformers_in_bf16_where_the_cpu_gemm_says_so(tiny_causal_dir, monkeypatch):
    """`auto` for batch work (transform jobs, evaluation) on a CPU whose bf16 GEMM measures
    faster: the transformers backend in bfloat16, the reason saying why; endpoints
    (interactive) keep llama.cpp; anything asked for explicitly is honoured as asked."""
    monkeypatch.setenv("SPRINGBOARD_GENERATE_BACKEND", "auto")
    _probe(monkeypatch, True)
    batch = Engine.load(tiny_causal_dir, workload="batch")
    assert batch.backend == "transformers" and batch.precision.weights == "bfloat16"
    import torch

    assert batch.model.dtype == torch.bfloat16
    assert "auto for batch work" in batch.precision.reason and "2.50x" in batch.precision.reason
    assert batch.generate(["Hello world"], GenerationParams(max_new_tokens=3))[0].generated_tokens == 3
    batch.close()
    interactive = Engine.load(tiny_causal_dir)
    assert interactive.backend == "llamacpp"
    interactive.close()
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(tiny_causal_dir)
    for asked in ({"dtype": "float32"}, {"quantize": "q8_0"}, {"backend": "llamacpp"}):
        kw = {"backend": None, "dtype": None, "quantize": None} | asked
        assert prec.batch_choice(kw["backend"], kw["dtype"], kw["quantize"], "cpu", config)[2] is None, asked
    monkeypatch.setenv("SPRINGBOARD_GENERATE_BACKEND", "transformers")
    assert prec.batch_choice(None, None, None, "cpu", config)[2] is None
    monkeypatch.setenv("SPRINGBOARD_GENERATE_BACKEND", "auto")
    assert prec.batch_choice(None, None, None, "cuda", config)[2] is None
    _probe(monkeypatch, False)  # bf16 no faster here: batch work stays where auto puts it
    assert prec.batch_choice(None, None, None, "cpu", config) == (None, None, None)


def test_a_transform_job_loads_its_engine_for_batch_work(tmp_path, tiny_causal_dir, monkeypatch):
    """The transform job (its worker process, the real probe) logs the precision batch work
    gets on this machine: transformers bfloat16 where this CPU's bf16 GEMM is faster."""
    from springboard import hardware, jobs
    from springboard.transform import transform_config

    monkeypatch.setenv("SPRINGBOARD_GENERATE_BACKEND", "auto")
    src = tmp_path / "in" / "r.jsonl"
    src.parent.mkdir()
    src.write_text('{"text_inputs": "Hello world"}\n')
    job = jobs.submit(transform_config(str(tiny_causal_dir), src.parent, tmp_path / "out",
                                       env={"HYPER_PARAMS": str({"max_new_tokens": 2})}), wait=True)
    assert job.status == "Completed", job.failure_reason
    log = job.log_path.read_text()
    if hardware.choose_precision("auto", "cpu").bf16:
        assert "precision transformers:bfloat16" in log and "auto for batch work" in log, log[-2000:]
    else:
        assert "auto for batch work" not in log
