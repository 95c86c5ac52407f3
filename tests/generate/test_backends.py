"""The same behaviour tests on every generation backend: each test that takes `engine` runs once
on the transformers backend (the static pass, and the continuous scheduler where the batcher
starts it) and once on llama.cpp (the tiny Llama converted to a q8_0 GGUF: at a precision other
than float32 every row llama.cpp can run goes to it, so a batch of rows is one llama.cpp batch).
What llama.cpp does not run (log-probabilities, grammars) its capabilities leave out, and the
router sends to transformers: those tests check where the rows ran as well as the answer. The
`served` tests ask a real server on loopback, through the TGI and OpenAI clients, the same way.

Plus the rules the backends share: one place ends a row (RowDecoder), the router's choice by
capabilities, passes.isolate / plan, and the import rules of the generate package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from springboard.generate import Engine, GenerationParams, GenerationRequest
from springboard.generate.llamacpp import llama_cpp_available

PROMPTS = ["Hello world", "The quick brown fox jumps over the lazy dog and then", "x y z"]
BACKENDS = ["transformers", pytest.param("llamacpp", marks=pytest.mark.skipif(
    not llama_cpp_available(), reason="llama_cpp (llama-cpp-python) is not installed"))]
SRC = Path(__file__).resolve().parents[2] / "src" / "springboard"


@pytest.fixture(scope="module", params=BACKENDS)
def engine(request, peaked_dir):
    if request.param == "llamacpp":
        loaded = Engine.load(peaked_dir, backend="llamacpp", quantize="q8_0")
        assert loaded.fast is not None and not loaded.precision.exact
    else:
        loaded = Engine.load(peaked_dir, backend="transformers")
    yield loaded
    loaded.close()


def _rows(engine: Engine) -> int:
    """Rows llama.cpp decoded so far (0 on the transformers backend)."""
    return engine.fast.rows if engine.fast is not None else 0


def _on_llama(engine: Engine, before: int, rows: int) -> None:
    """The rows ran where the backend says: on llama.cpp for the llamacpp engine."""
    assert _rows(engine) - before == (rows if engine.fast is not None else 0)


def test_stream_equals_generate(engine):
    params = GenerationParams(max_new_tokens=16)
    before = _rows(engine)
    for prompt in PROMPTS:
        want = engine.generate([prompt], params)[0]
        stream = engine.stream(prompt, params)
        assert "".join(stream) == want.texts[0] and want.texts[0]
        assert (stream.generated_tokens, stream.finish_cause) == (want.generated_tokens, want.finish_causes[0])
    _on_llama(engine, before, 2 * len(PROMPTS))


def test_stop_sequences_cut_the_text_and_say_so(engine):
    full = engine.generate([PROMPTS[1]], GenerationParams(max_new_tokens=16))[0].texts[0]
    stop = full[len(full) // 2 : len(full) // 2 + 3]
    params = GenerationParams(max_new_tokens=16, stop=(stop,))
    before = _rows(engine)
    got = engine.generate([PROMPTS[1]], params)[0]
    assert got.texts[0] == full[: full.index(stop)]
    assert got.finish_causes == ["stop_sequence"] and got.finish_reason == "stop"
    stream = engine.stream(PROMPTS[1], params)
    assert "".join(stream) == got.texts[0] and stream.finish_cause == "stop_sequence"
    _on_llama(engine, before, 2)


def test_seeded_sampling_is_reproducible_and_several_sequences_differ(engine):
    params = GenerationParams(max_new_tokens=10, do_sample=True, seed=7, temperature=50.0, top_k=50)
    before = _rows(engine)
    a, b = engine.generate([PROMPTS[0]], params)[0], engine.generate([PROMPTS[0]], params)[0]
    assert a.texts == b.texts and 1 <= a.generated_tokens <= 10
    several = engine.generate([PROMPTS[0]], params.with_overrides(num_return_sequences=3))[0]
    assert len(several.texts) == 3 and len(set(several.texts)) > 1
    _on_llama(engine, before, 5)


def test_batched_equals_alone(engine):
    params = GenerationParams(max_new_tokens=12)
    alone = [engine.generate([p], params)[0] for p in PROMPTS]
    together = engine.generate(PROMPTS, params)
    assert [r.texts for r in together] == [r.texts for r in alone]
    assert [(r.generated_tokens, r.finish_causes) for r in together] == [
        (r.generated_tokens, r.finish_causes) for r in alone]


def test_a_cancelled_stream_ends_as_cancelled_and_frees_the_backend(engine):
    stream = engine.stream(PROMPTS[0], GenerationParams(max_new_tokens=300))
    events = stream.events()
    next(events)
    stream.close()
    rest = list(events)
    assert stream.finish_cause == "cancelled" and stream.finish_reason == "length"
    assert 1 <= stream.generated_tokens < 300 and len(rest) < 300
    again = engine.generate([PROMPTS[2]], GenerationParams(max_new_tokens=4))[0]  # the backend goes on
    assert again.generated_tokens >= 1


def test_logprobs_run_on_every_backend_without_changing_the_text(engine):
    """The generated tokens' log-probabilities come from the backend's own logits (llama.cpp's
    too), so asking for them keeps the request on the same weights: the same greedy text; each
    token's logprob is its own top alternative's (greedy), alternatives best first."""
    import math

    params = GenerationParams(max_new_tokens=6, logprobs=2)
    plain = engine.generate([PROMPTS[0]], GenerationParams(max_new_tokens=6))[0]
    before = _rows(engine)
    got = engine.generate([PROMPTS[0]], params)[0]
    backend = engine.route([GenerationRequest([PROMPTS[0]], params)]).capabilities.name
    if engine.fast is not None:
        assert backend == "llamacpp" and _rows(engine) == before + 1
    assert got.texts == plain.texts
    tokens = got.tokens[0]
    assert tokens and len(tokens) == got.generated_tokens and all(len(t.top) == 2 for t in tokens)
    for t in tokens:
        assert t.logprob <= 0 and t.top[0].logprob >= t.top[1].logprob
        assert t.top[0].id == t.id and math.isclose(t.top[0].logprob, t.logprob, abs_tol=1e-6)
    # the prompt's log-probabilities are the transformers model's (llama.cpp declares none)
    echo = GenerationParams(max_new_tokens=2, logprobs=0, prompt_logprobs=True)
    assert engine.route([GenerationRequest([PROMPTS[0]], echo)]).capabilities.name.startswith("transformers")


def test_structured_output_runs_on_the_transformers_scheduler(engine):
    from springboard.generate.constrain import regex_grammar

    params = GenerationParams(max_new_tokens=20, grammar=regex_grammar(r"[a-c]{3}-\d{2}"))
    before = _rows(engine)
    got = engine.generate([PROMPTS[0]], params)[0]
    import re

    assert re.fullmatch(r"[a-c]{3}-\d{2}", got.texts[0]), got.texts
    assert engine.scheduler is not None and engine.route([GenerationRequest(["x"], params)]) is engine.scheduler
    assert _rows(engine) == before


# -- served, through real clients --------------------------------------------------------------


@pytest.fixture(scope="module")
def served(engine, tmp_path_factory):
    import liveserver

    from springboard.serve import EndpointConfig, EndpointManager, EndpointRegistry

    manager = EndpointManager(EndpointRegistry(tmp_path_factory.mktemp("backend-endpoints")))
    manager.add_engine(EndpointConfig(name="m", model=str(engine.model_dir), prompt_format="raw"), engine)
    live = liveserver.start(manager, publish=False)
    yield live
    live.stop(timeout=10)


def test_served_tgi_stream_and_details(served, engine):
    from huggingface_hub import InferenceClient

    tgi = InferenceClient(base_url=f"{served.url}/endpoints/m")
    want = engine.generate([PROMPTS[1]], GenerationParams(max_new_tokens=8, logprobs=0))[0]
    before = _rows(engine)
    # a TGI stream carries each token's log-probability: from the backend's own logits (on the
    # llamacpp engine, llama.cpp's), so the text is the same as without them
    assert "".join(tgi.text_generation(PROMPTS[1], max_new_tokens=8, stream=True)) == want.texts[0]
    chunks = list(tgi.text_generation(PROMPTS[1], max_new_tokens=8, stream=True, details=True))
    assert "".join(c.token.text for c in chunks if not c.token.special) == want.texts[0]
    assert chunks[-1].details.generated_tokens == want.generated_tokens
    assert [c.token.logprob for c in chunks] == pytest.approx([t.logprob for t in want.tokens[0]], abs=1e-4)
    out = tgi.text_generation(PROMPTS[1], max_new_tokens=8, details=True, top_n_tokens=2)  # log-probabilities
    assert out.generated_text == want.texts[0] and len(out.details.tokens) == want.generated_tokens
    assert [t.id for t in out.details.tokens] == [t.id for t in want.tokens[0]]
    assert all(len(top) == 2 for top in out.details.top_tokens)
    if engine.fast is not None:
        assert _rows(engine) == before + 3  # all three ran on llama.cpp


def test_served_openai_stream_stop_seed_and_logprobs(served, engine):
    import openai

    client = openai.OpenAI(base_url=f"{served.url}/v1", api_key="unused", max_retries=0)
    full = engine.generate([PROMPTS[1]], GenerationParams(max_new_tokens=16))[0].texts[0]
    before = _rows(engine)
    chunks = client.completions.create(model="m", prompt=PROMPTS[1], max_tokens=16, temperature=0, stream=True)
    assert "".join(c.choices[0].text for c in chunks if c.choices) == full
    _on_llama(engine, before, 1)
    stop = full[len(full) // 2 : len(full) // 2 + 3]
    out = client.completions.create(model="m", prompt=PROMPTS[1], max_tokens=16, temperature=0, stop=[stop])
    assert out.choices[0].text == full[: full.index(stop)] and out.choices[0].finish_reason == "stop"
    seeded = {"model": "m", "prompt": PROMPTS[0], "max_tokens": 8, "temperature": 1.2, "seed": 11}
    assert client.completions.create(**seeded).choices[0].text == client.completions.create(**seeded).choices[0].text
    scored = client.completions.create(model="m", prompt=PROMPTS[0], max_tokens=4, temperature=0, logprobs=2)
    assert len(scored.choices[0].logprobs.top_logprobs) == scored.usage.completion_tokens


# -- the shared rules ---------------------------------------------------------------------------


def test_one_place_ends_a_row_and_records_why(tiny_causal_dir):
    from transformers import AutoTokenizer

    from springboard.generate.decoding import RowDecoder, decode_row
    from springboard.generate.logprobs import Vocabulary

    tok = AutoTokenizer.from_pretrained(tiny_causal_dir)
    vocab = Vocabulary(tok)
    ids = tok("hello world and more", add_special_tokens=False)["input_ids"]
    eos = {tok.eos_token_id}
    assert decode_row(tok, vocab, GenerationParams(), eos, 100, [*ids, tok.eos_token_id, 5]).finish_cause == "eos_token"
    limited = decode_row(tok, vocab, GenerationParams(), eos, 2, ids)
    assert (limited.finish_cause, limited.count) == ("length", 2)
    stopped = decode_row(tok, vocab, GenerationParams(stop=("world",)), eos, 100, ids)
    assert stopped.finish_cause == "stop_sequence" and "world" not in stopped.text
    assert decode_row(tok, vocab, GenerationParams(), eos, 100, ids[:1], cancelled=True).finish_cause == "cancelled"
    assert RowDecoder(tok, GenerationParams(), eos, 0).finish_cause == "length"  # no room: ended before a token


def test_the_router_chooses_by_capabilities():
    from springboard.generate.backends import Backend
    from springboard.generate.backends.static import CAPABILITIES as STATIC
    from springboard.generate.decoding import needs
    from springboard.generate.llamacpp_batch import CAPABILITIES as LLAMA, LlamaCppBackend
    from springboard.generate.scheduler import CAPABILITIES as SCHEDULED, Scheduler
    from springboard.generate.backends.static import TransformersStatic

    for cls in (TransformersStatic, Scheduler, LlamaCppBackend):
        assert all(hasattr(cls, name) for name in ("capabilities", "takes", "submit", "close")), cls
    assert isinstance(TransformersStatic(None), Backend)
    grammar = needs(GenerationParams(grammar='start: "a"'))
    assert not LLAMA.covers(grammar, False) and SCHEDULED.covers(grammar, False) and not STATIC.covers(grammar, False)
    beams = needs(GenerationParams(num_beams=2))
    assert STATIC.covers(beams, True) and not SCHEDULED.covers(beams, False) and LLAMA.lacks(beams) == ["beam_search"]
    assert not SCHEDULED.covers(set(), seq2seq=True)  # encoder-decoder models: static passes only
    assert needs(GenerationParams(repetition_penalty=1.2)) == {"repetition_penalty"}


def test_passes_isolate_a_failing_item_and_seeded_requests_run_alone():
    from springboard.generate import passes

    calls = []

    def run(items):
        calls.append(list(items))
        if "bad" in items:
            raise ValueError("bad item")
        return [i.upper() for i in items]

    out = passes.isolate(run, ["a", "bad", "c"])
    assert out[0] == "A" and out[2] == "C" and isinstance(out[1], ValueError)
    assert calls == [["a", "bad", "c"], ["a"], ["bad"], ["c"]]
    with pytest.raises(KeyError):
        passes.isolate(lambda items: (_ for _ in ()).throw(KeyError("stop")), ["a", "b"], fatal=(KeyError,))
    seeded, plain = GenerationParams(do_sample=True, seed=1), GenerationParams()
    items = [("s1", seeded), ("p1", plain), ("s2", seeded), ("p2", plain), ("p3", plain)]
    groups = passes.plan(items, lambda i: i[1], lambda i: 1, max_rows=2)
    assert [[name for name, _ in g] for g in groups] == [["s1"], ["p1", "p2"], ["s2"], ["p3"]]
    assert passes.pass_size(seeded, 8) == 1 and passes.pass_size(plain, 8) == 8


def _imports(path: Path) -> list[tuple[str, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("springboard"):
            out.extend((node.module, alias.name) for alias in node.names)
    return out


def test_no_private_imports_and_no_engine_stream_circle():
    files = [*sorted((SRC / "generate").rglob("*.py")), SRC / "serve" / "batching.py", SRC / "transform" / "shard.py"]
    private = [(f.name, module, name) for f in files for module, name in _imports(f) if name.startswith("_")]
    assert private == []
    stream = {module for module, _ in _imports(SRC / "generate" / "stream.py")}
    assert "springboard.generate.engine" not in stream
    for f in files:
        assert len(f.read_text().splitlines()) <= 400, f
