"""Serving at llama.cpp's speed: a default-deployed endpoint (backend auto: on a CPU the default
model's own Q4_1 GGUF through llama.cpp with continuous batching) against llama.cpp standalone
(llama-cpp-python's Llama on the same file, same token ids, same thread count), in the same run.

- single stream: one chat completion of --tokens new tokens (greedy, the OpenAI chat route, not
  streamed) vs `Llama.generate` on the same prompt; tokens/s = completion tokens / wall time,
  median of --rounds, the two sides interleaved. Bar: endpoint >= 0.8x standalone.
- 16 clients: --clients concurrent streamed chat completions of mixed lengths (max_tokens drawn
  from 32-128, seeded; each asks for usage) vs the standalone serving the same requests one at a
  time; aggregate completion tokens/s and streamed time-to-first-token p50. Bars: >= 4x,
  TTFT p50 < 1 s.

The server is a real process (`python -m springboard.app`) with --threads threads for llama.cpp
(SPRINGBOARD_LLAMACPP_THREADS). On a shared machine the ratio is the number to read.

    .venv/bin/python benchmarks/llamacpp_serving.py [--tokens 128 --rounds 3 --clients 16 --threads 2]

Writes benchmarks/results/llamacpp_serving.json."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
MODEL = "smollm2-135m-instruct"
ENDPOINT = "bench"
API_KEY = "llamacpp-serving-" + os.urandom(8).hex()
AUTH = {"Authorization": f"Bearer {API_KEY}"}
QUESTIONS = ["Tell me a long story about a lighthouse keeper and the sea.", "Explain how a bicycle works.",
             "Write a poem about autumn leaves.", "Describe the life cycle of a star.",
             "What should I pack for a week of hiking?", "Explain recursion to a child.",
             "Write a letter to a friend about a trip to Rome.", "How do bees make honey?"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(home: Path, threads: int) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, SPRINGBOARD_HOME=str(home), SPRINGBOARD_API_KEY=API_KEY, PYTHONUNBUFFERED="1",
               SPRINGBOARD_LLAMACPP_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    env.pop("SPRINGBOARD_GENERATE_BACKEND", None)  # the default: auto
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(home / "server.log", "ab")
    server = subprocess.Popen([sys.executable, "-m", "springboard.app", "--port", str(port)], env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(f"{url}/springboard/health", timeout=2, headers=AUTH).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            raise SystemExit(f"server did not start; see {home / 'server.log'}")
        time.sleep(0.2)
    httpx.post(f"{url}/springboard/endpoints", json={"name": ENDPOINT, "model": MODEL}, timeout=30,
               headers=AUTH).raise_for_status()
    while (record := httpx.get(f"{url}/springboard/endpoints/{ENDPOINT}", headers=AUTH).json())["status"] == "Creating":
        time.sleep(0.5)
    if record["status"] != "InService":
        raise SystemExit(f"endpoint {record['status']}: {record['failure_reason']}")
    return server, url


def body(question: str, tokens: int, stream: bool) -> dict:
    out = {"model": ENDPOINT, "messages": [{"role": "user", "content": question}], "max_tokens": tokens,
           "temperature": 0}
    if stream:
        out |= {"stream": True, "stream_options": {"include_usage": True}}
    return out


async def one_stream(http: httpx.AsyncClient, url: str, question: str, tokens: int) -> tuple[float, int]:
    """(time to first content, completion tokens) of one streamed chat completion."""
    started, first, used = time.perf_counter(), None, 0
    async with http.stream("POST", f"{url}/v1/chat/completions", json=body(question, tokens, True), headers=AUTH) as r:
        r.raise_for_status()
        async for line in r.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if first is None and any((c.get("delta") or {}).get("content") for c in chunk.get("choices", [])):
                first = time.perf_counter() - started
            if chunk.get("usage"):
                used = chunk["usage"]["completion_tokens"]
    return (first if first is not None else time.perf_counter() - started), used


async def clients(url: str, requests: list[tuple[str, int]]) -> tuple[float, list[tuple[float, int]]]:
    async with httpx.AsyncClient(timeout=600) as http:
        started = time.perf_counter()
        results = await asyncio.gather(*(one_stream(http, url, q, n) for q, n in requests))
        return time.perf_counter() - started, results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from llama_cpp import Llama
    from transformers import AutoTokenizer

    from springboard.generate.engine import resolve_ref
    from springboard.hub import get_model_spec
    from springboard.hub.convert import gguf_path

    tok = AutoTokenizer.from_pretrained(resolve_ref(MODEL))
    eos = {tok.convert_tokens_to_ids("<|im_end|>"), tok.eos_token_id}
    shipped = gguf_path(get_model_spec(MODEL))
    llm = Llama(model_path=str(shipped), n_ctx=2048, n_batch=512, n_threads=args.threads,
                n_threads_batch=args.threads, verbose=False)

    def standalone(question: str, tokens: int) -> tuple[float, int]:
        text = tok.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True,
                                       tokenize=False)
        ids = tok(text, add_special_tokens=False)["input_ids"]
        started, n = time.perf_counter(), 0
        for token in llm.generate(ids, temp=0.0, top_k=1, repeat_penalty=1.0, reset=True):
            if token in eos:
                break
            n += 1
            if n >= tokens:
                break
        return time.perf_counter() - started, n

    load_at_start = os.getloadavg()
    home = Path(tempfile.mkdtemp(prefix="llamacpp-serving-"))
    server, url = start_server(home, args.threads)
    try:
        record = httpx.get(f"{url}/springboard/endpoints/{ENDPOINT}", headers=AUTH).json()
        print("endpoint precision:", record.get("precision"), flush=True)
        single = {"endpoint": [], "standalone": []}
        with httpx.Client(timeout=600) as http:
            http.post(f"{url}/v1/chat/completions", json=body(QUESTIONS[1], 8, False), headers=AUTH).raise_for_status()
            standalone(QUESTIONS[1], 8)  # warm both
            for _ in range(args.rounds):
                started = time.perf_counter()
                r = http.post(f"{url}/v1/chat/completions", json=body(QUESTIONS[0], args.tokens, False), headers=AUTH)
                r.raise_for_status()
                single["endpoint"].append(r.json()["usage"]["completion_tokens"] / (time.perf_counter() - started))
                seconds, n = standalone(QUESTIONS[0], args.tokens)
                single["standalone"].append(n / seconds)
        rng = random.Random(0)
        requests = [(QUESTIONS[i % len(QUESTIONS)], rng.randint(32, 128)) for i in range(args.clients)]
        wall, results = asyncio.run(clients(url, requests))
        served_tokens = sum(n for _, n in results)
        alone = [standalone(q, n) for q, n in requests]
    finally:
        server.terminate()
        server.wait(60)
    endpoint_single = statistics.median(single["endpoint"])
    standalone_single = statistics.median(single["standalone"])
    concurrent = served_tokens / wall
    sequential = sum(n for _, n in alone) / sum(s for s, _ in alone)
    ttft = sorted(t for t, _ in results)
    report = {
        "model": MODEL, "endpoint_precision": record.get("precision"), "threads": args.threads,
        "machine": {"cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
                    "load_average_1_5_15_min_at_start": load_at_start,
                    "note": "the ratios come from interleaved or back-to-back runs in this process"},
        "single_stream": {"tokens": args.tokens, "endpoint_tokens_per_s": round(endpoint_single, 1),
                          "standalone_tokens_per_s": round(standalone_single, 1),
                          "ratio": round(endpoint_single / standalone_single, 3), "bar": 0.8,
                          "rounds": {k: [round(v, 1) for v in vs] for k, vs in single.items()}},
        "concurrent": {"clients": args.clients, "endpoint_tokens": served_tokens, "wall_s": round(wall, 2),
                       "endpoint_tokens_per_s": round(concurrent, 1),
                       "standalone_one_at_a_time_tokens_per_s": round(sequential, 1),
                       "ratio": round(concurrent / sequential, 3), "bar": 4.0,
                       "ttft_p50_s": round(statistics.median(ttft), 3), "ttft_max_s": round(ttft[-1], 3)},
    }
    out = ROOT / "benchmarks" / "results" / "llamacpp_serving.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
