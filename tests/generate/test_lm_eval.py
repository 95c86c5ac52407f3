"""lm-evaluation-harness against a Springboard endpoint (slow: lm-eval, datasets and a live server).

lm-eval's own `local-completions` model talks to the endpoint's OpenAI `/v1/completions` on
loopback: a log-likelihood task (multiple choice: `echo=True, logprobs=1` over token-id prompts)
and a generation task (`generate_until`). Both tasks and their data are local files. The results
are checked against the model itself: the log-likelihoods lm-eval got equal the ones transformers
computes directly (so `acc` does too), and the generations equal the engine's greedy outputs.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

MC_DOCS = [
    {"question": "The sky on a clear day is", "choices": ["blue", "green", "made of stone"], "answer": 0},
    {"question": "Water freezes into", "choices": ["steam", "ice", "sand"], "answer": 1},
    {"question": "A function in Python is defined with the keyword", "choices": ["class", "import", "def"], "answer": 2},
    {"question": "The opposite of true is", "choices": ["false", "maybe"], "answer": 0},
]
GEN_DOCS = [
    {"prompt": "The capital of France is", "target": " Paris"},
    {"prompt": "One, two, three, four,", "target": " five"},
    {"prompt": "The built-in Python function that returns the length of a list is", "target": " len()"},
]
STOP = ["\n", ".", ","]
MAX_GEN_TOKS = 12


def _write_tasks(root: Path) -> Path:
    """Two task YAMLs over local JSON-lines data (lm-eval's `json` dataset builder)."""
    root.mkdir(parents=True, exist_ok=True)
    for name, docs in (("mc", MC_DOCS), ("gen", GEN_DOCS)):
        (root / f"{name}.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (root / "springboard_mc.yaml").write_text(f"""\
task: springboard_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: {root / 'mc.jsonl'}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{question}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: answer
metric_list:
  - metric: acc
""")
    (root / "springboard_gen.yaml").write_text(f"""\
task: springboard_gen
dataset_path: json
dataset_kwargs:
  data_files:
    test: {root / 'gen.jsonl'}
test_split: test
output_type: generate_until
doc_to_text: "{{{{prompt}}}}"
doc_to_target: "{{{{target}}}}"
generation_kwargs:
  until: {json.dumps(STOP)}
  max_gen_toks: {MAX_GEN_TOKS}
  do_sample: false
metric_list:
  - metric: exact_match
""")
    return root


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real uvicorn server on loopback; the test deploys its endpoint through the manager."""
    import uvicorn

    from springboard.app import create_app
    from springboard.serve import EndpointManager, EndpointRegistry

    manager = EndpointManager(EndpointRegistry(tmp_path_factory.mktemp("endpoints")))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(manager, restore=False), host="127.0.0.1", port=port,
                                        log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline, "test server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", manager
    srv.should_exit = True
    thread.join(timeout=10)


# (model, lm-eval client options): token-id prompts one request at a time (lm-eval's default),
# batched prompt lists from concurrent clients, and text prompts (tokenized_requests=False).
CASES = [
    ("tiny", "num_concurrent=1"),
    ("tiny", "batch_size=4,num_concurrent=4"),
    ("tiny", "num_concurrent=1,tokenized_requests=False"),
    ("smollm2-135m-instruct", "num_concurrent=1"),
]


@pytest.fixture(params=CASES, ids=[f"{m.split('-')[0]}-{o.replace(',', '-')}" for m, o in CASES])
def endpoint(request, server, tiny_causal_dir):
    """(base URL, endpoint name, its loaded Engine, client options): the tiny random model, and
    the real default model (SmolLM2, from the hub catalog, converted weights via
    $SPRINGBOARD_MODELS_DIR)."""
    import asyncio

    from springboard.serve import EndpointConfig

    url, manager = server
    ref, options = request.param
    name = ref.split("-")[0]
    model = str(tiny_causal_dir) if ref == "tiny" else ref
    # lm-eval renders prompts itself (its --apply_chat_template): the endpoint takes its text raw
    manager.create(EndpointConfig(name=name, model=model, prompt_format="raw"), background=False)
    record = manager.describe(name)
    assert record.status == "InService", record.failure_reason
    yield url, name, manager.get(name).ready(), options
    asyncio.run(manager.delete(name))


def _reference_loglikelihood(model, tok, context: str, continuation: str) -> float:
    """Sum of log P(continuation | context) from transformers, tokenized as lm-eval does (the
    context's trailing spaces move to the continuation; the pair is encoded whole)."""
    import torch

    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    whole = tok(context + continuation, add_special_tokens=False)["input_ids"]
    start = len(tok(context, add_special_tokens=False)["input_ids"])
    with torch.inference_mode():
        logits = model(torch.tensor([whole])).logits[0].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    return float(sum(logprobs[i - 1, whole[i]] for i in range(start, len(whole))))


def test_lm_eval_local_completions_runs_a_loglikelihood_and_a_generation_task(endpoint, tmp_path, monkeypatch):
    # datasets reads its cache location when first imported
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "datasets-cache"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    import lm_eval
    from lm_eval.tasks import TaskManager
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from springboard.generate.params import GenerationParams

    url, name, engine, options = endpoint
    model_dir = engine.model_dir
    tasks = _write_tasks(tmp_path / "tasks")
    model_args = (f"base_url={url}/v1/completions,model={name},tokenizer={model_dir},"
                  f"tokenizer_backend=huggingface,max_retries=1,{options}")
    out = lm_eval.simple_evaluate(
        model="local-completions", model_args=model_args, tasks=["springboard_mc", "springboard_gen"],
        task_manager=TaskManager(include_path=str(tasks)), log_samples=True, random_seed=0,
    )
    results, samples = out["results"], out["samples"]

    # The log-likelihood task: every (context, choice) score equals transformers' own.
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    tok = AutoTokenizer.from_pretrained(model_dir)
    mc = sorted(samples["springboard_mc"], key=lambda s: s["doc_id"])
    assert len(mc) == len(MC_DOCS)
    correct = []
    for sample in mc:
        doc = MC_DOCS[sample["doc_id"]]
        got = [float(r[0][0]) for r in sample["resps"]]
        want = [_reference_loglikelihood(model, tok, *arguments) for arguments in
                (tuple(a) for a in sample["arguments"])]
        assert [a[1] for a in sample["arguments"]] == [" " + c for c in doc["choices"]]
        assert got == pytest.approx(want, abs=1e-3), doc
        correct.append(max(range(len(want)), key=want.__getitem__) == doc["answer"])
    acc = results["springboard_mc"]["acc,none"]
    assert isinstance(acc, float)
    assert acc == pytest.approx(sum(correct) / len(correct))

    # The generation task: lm-eval's outputs are the engine's greedy outputs for the same prompts.
    gen = sorted(samples["springboard_gen"], key=lambda s: s["doc_id"])
    assert len(gen) == len(GEN_DOCS)
    prompts = [GEN_DOCS[s["doc_id"]]["prompt"] for s in gen]
    assert [s["arguments"][0][0] for s in gen] == prompts
    params = GenerationParams.parse({"max_new_tokens": MAX_GEN_TOKS, "do_sample": False, "stop": STOP})
    want = [r.texts[0] for r in engine.generate(prompts, params, batch_size=1)]
    got = [s["resps"][0][0] for s in gen]
    assert got == want
    assert any(text.strip() for text in got), got  # the model did generate something
    exact = results["springboard_gen"]["exact_match,none"]
    assert exact == pytest.approx(sum(g == d["target"] for g, d in
                                      zip(got, (GEN_DOCS[s["doc_id"]] for s in gen))) / len(gen))
