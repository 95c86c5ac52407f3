"""Serving throughput: continuous batching vs the static dynamic batcher vs no batching, same run.

N concurrent boto3 `sagemaker-runtime` clients (default 1, 4, 16, 64) send greedy requests with
mixed answer lengths to one endpoint of the real SmolLM2-135M model (fp32, CPU): half are chat
questions asking for a one-word answer (they stop at EOS after a few tokens), half are story
openers that run to the token limit. Each mode is its own server process with its own engine:

- continuous: the engine's scheduler (rows join the running batch at the next step, leave when done)
- static: the dynamic batcher before continuous batching (a pass runs until its longest row ends),
  on today's engine (packed weights, generate/cpu.py)
- static-before: the same batcher as it was before issue 13, without packed weights
  (SPRINGBOARD_PACKED_WEIGHTS=0): the baseline the issue's bar names ("today's static batcher")
- none: one request at a time

Reports requests/s, generated tokens/s, p50/p95 latency per mode and client count, and p50/p95
time-to-first-token of streamed requests (invoke_endpoint_with_response_stream) at `--ttft-clients`.

    .venv/bin/python benchmarks/serve_throughput.py [--clients 1 4 16 64 --long 40 --short 8]

Writes benchmarks/results/serve_throughput.json."""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import uvicorn

from springboard.app import create_app
from springboard.generate import Engine
from springboard.serve import EndpointConfig, EndpointManager, EndpointRegistry
from springboard.serve.batching import Batcher

TOPICS = ["the ocean", "a mountain", "coffee", "the moon", "trains", "a library", "rain", "music",
          "gardens", "the desert", "bicycles", "winter", "a lighthouse", "bread", "rivers", "stars"]
QUESTIONS = ["What color is the sky on a clear day?", "What is the capital of France?", "How many legs does a cat have?",
             "What is frozen water called?", "Which animal barks?", "What is 2 plus 2?", "What do bees make?",
             "What is the opposite of hot?"]


def start_server(app) -> tuple[uvicorn.Server, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def client(url: str):
    from botocore.config import Config

    config = Config(read_timeout=1800, retries={"total_max_attempts": 1}, max_pool_connections=128)
    return boto3.client("sagemaker-runtime", endpoint_url=url, region_name="us-east-1", config=config,
                        aws_access_key_id="bench", aws_secret_access_key="bench")


def payload(i: int, long: int, short: int, stream: bool = False) -> dict:
    if i % 2:  # runs to the token limit
        body = {"inputs": f"Once upon a time, near {TOPICS[i % len(TOPICS)]}, there lived",
                "parameters": {"max_new_tokens": long, "details": True}}
    else:  # a one-word answer: stops at EOS after a few tokens
        question = f"Answer with one word. {QUESTIONS[i % len(QUESTIONS)]}"
        body = {"inputs": [[{"role": "user", "content": question}]],
                "parameters": {"max_new_tokens": short, "details": True}}
    if stream:
        body["inputs"] = body["inputs"] if isinstance(body["inputs"], str) else "Q: " + question + "\nA:"
        body["stream"] = True
    return body


def load_test(url: str, endpoint: str, clients: int, long: int, short: int) -> dict:
    latencies: list[float] = []
    generated: list[int] = []
    lock = threading.Lock()
    rts = [client(url) for _ in range(clients)]

    def worker(i: int) -> None:
        t0 = time.perf_counter()
        out = json.loads(rts[i].invoke_endpoint(EndpointName=endpoint, ContentType="application/json",
                                                Body=json.dumps(payload(i, long, short)))["Body"].read())
        elapsed = time.perf_counter() - t0
        with lock:
            latencies.append(elapsed)
            generated.append(out[0]["details"]["generated_tokens"])

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, range(clients)))
    wall = time.perf_counter() - start
    return {"clients": clients, "wall_s": round(wall, 2), "requests_per_s": round(clients / wall, 3),
            "generated_tokens": sum(generated), "generated_tokens_per_s": round(sum(generated) / wall, 2),
            "latency_p50_s": round(statistics.median(latencies), 3),
            "latency_p95_s": round(_p95(latencies), 3)}


def ttft_test(url: str, endpoint: str, clients: int, long: int, short: int) -> dict:
    firsts: list[float] = []
    lock = threading.Lock()
    rts = [client(url) for _ in range(clients)]

    def worker(i: int) -> None:
        t0 = time.perf_counter()
        response = rts[i].invoke_endpoint_with_response_stream(
            EndpointName=endpoint, ContentType="application/json", Body=json.dumps(payload(i, long, short, True)))
        first = None
        for _ in response["Body"]:
            if first is None:
                first = time.perf_counter() - t0
        with lock:
            firsts.append(first if first is not None else time.perf_counter() - t0)

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, range(clients)))
    return {"clients": clients, "wall_s": round(time.perf_counter() - start, 2),
            "ttft_p50_s": round(statistics.median(firsts), 3), "ttft_p95_s": round(_p95(firsts), 3)}


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--long", type=int, default=40, help="max_new_tokens of the long requests")
    parser.add_argument("--short", type=int, default=8, help="max_new_tokens of the one-word answers")
    parser.add_argument("--none-max-clients", type=int, default=16, help="skip no-batching above this")
    parser.add_argument("--ttft-clients", type=int, default=16)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "serve_throughput.json"))
    parser.add_argument("--serve", choices=list(MODES), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.serve:  # the child process serving one mode
        serve(args.serve, args.model)
        return
    results: dict = {"model": args.model, "long_max_new_tokens": args.long, "short_max_new_tokens": args.short,
                     "torch_threads": int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1),
                     "machine": platform.machine(), "cpus": os.cpu_count(), "runs": [], "ttft": []}
    for mode in MODES:
        child = subprocess.Popen([sys.executable, __file__, "--serve", mode, "--model", args.model],
                                 stdout=subprocess.PIPE, text=True, env={**os.environ, **MODE_ENV.get(mode, {})})
        try:
            url = _ready(child)
            for clients in args.clients:
                if mode == "none" and clients > args.none_max_clients:
                    continue
                load = os.getloadavg()[0]
                run = {"mode": mode, **load_test(url, mode, clients, args.long, args.short), "load_1m": round(load, 2)}
                results["runs"].append(run)
                print(run, flush=True)
                save(args.out, results)
            if mode in ("continuous", "static"):
                run = {"mode": mode, **ttft_test(url, mode, args.ttft_clients, args.long, args.short)}
                results["ttft"].append(run)
                print(run, flush=True)
            if mode == "continuous":
                results["scheduler"] = _scheduler_stats(url)
        finally:
            child.terminate()
            child.wait(timeout=60)
    by = {(r["mode"], r["clients"]): r for r in results["runs"]}
    results["speedup_tokens_per_s_vs_static"] = {
        c: round(by[("continuous", c)]["generated_tokens_per_s"] / by[("static", c)]["generated_tokens_per_s"], 2)
        for c in args.clients if ("static", c) in by}
    results["speedup_tokens_per_s_vs_static_before"] = {
        c: round(by[("continuous", c)]["generated_tokens_per_s"] / by[("static-before", c)]["generated_tokens_per_s"], 2)
        for c in args.clients if ("static-before", c) in by}
    results["speedup_tokens_per_s_vs_none"] = {
        c: round(by[("continuous", c)]["generated_tokens_per_s"] / by[("none", c)]["generated_tokens_per_s"], 2)
        for c in args.clients if ("none", c) in by}
    results["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    save(args.out, results)
    print(json.dumps({k: v for k, v in results.items() if k != "runs"}, indent=2))


# Each mode is its own server process, as each would be deployed: engines in one process would
# share (and throttle) one OpenMP runtime.
MODES = {"continuous": {}, "static": {"continuous": False}, "static-before": {"continuous": False},
         "none": {"enabled": False}}
MODE_ENV = {"static-before": {"SPRINGBOARD_PACKED_WEIGHTS": "0"}}


def serve(mode: str, model: str) -> None:
    manager = EndpointManager(EndpointRegistry(Path(tempfile.mkdtemp(prefix="sb-bench-"))))
    engine = Engine.load(model)
    endpoint = manager.add_engine(EndpointConfig(name=mode, model=model, max_batch_size=64, max_wait_ms=10), engine)
    engine.close()  # add_engine's batcher started a scheduler; this mode's batcher decides
    endpoint.batcher = Batcher(engine, max_batch_size=64, max_wait_ms=10, **MODES[mode])
    app = create_app(manager, restore=False)

    @app.get("/bench/scheduler")
    def stats() -> dict:
        return vars(engine.scheduler.stats) if engine.scheduler is not None else {}

    server, url = start_server(app)
    client(url).invoke_endpoint(EndpointName=mode, ContentType="application/json",  # warm up, as served
                                Body=json.dumps({"inputs": "Warm up.", "parameters": {"max_new_tokens": 2}}))

    print("READY", url, flush=True)
    while True:
        time.sleep(3600)


def _ready(child: subprocess.Popen) -> str:
    assert child.stdout is not None
    for line in child.stdout:
        if line.startswith("READY "):
            return line.split()[1]
    raise RuntimeError(f"the {child.args} server exited with {child.wait()}")


def _scheduler_stats(url: str) -> dict:
    import urllib.request

    with urllib.request.urlopen(f"{url}/bench/scheduler") as response:
        return json.loads(response.read())


def save(out: str, results: dict) -> None:
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
