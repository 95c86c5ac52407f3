"""Serving throughput with dynamic batching on vs off, in the same run.

16 concurrent boto3 `sagemaker-runtime` clients send greedy TGI-style requests to one endpoint of
the real SmolLM2-135M model (fp32, CPU), first with dynamic batching on, then off. Reports
requests/s, generated tokens/s and p50/p95 latency for each, and server overhead: the p50 of a
1-token request through the server minus the p50 of the same direct engine call.

    .venv/bin/python benchmarks/serve_throughput.py [--clients 16 --requests 1 --rounds 2 --tokens 32]

Writes benchmarks/results/serve_throughput.json."""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import uvicorn

from springboard.generate import Engine, GenerationParams
from springboard.app import create_app
from springboard.serve import EndpointConfig, EndpointManager, EndpointRegistry

TOPICS = ["the ocean", "a mountain", "coffee", "the moon", "trains", "a library", "rain", "music",
          "gardens", "the desert", "bicycles", "winter", "a lighthouse", "bread", "rivers", "stars"]


def start_server(manager: EndpointManager) -> tuple[uvicorn.Server, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(manager, restore=False), host="127.0.0.1", port=port,
                                           log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def client(url: str):
    from botocore.config import Config

    # Unbatched requests queue behind each other for minutes; a retry would double the work.
    config = Config(read_timeout=1800, retries={"total_max_attempts": 1}, max_pool_connections=64)
    return boto3.client("sagemaker-runtime", endpoint_url=url, region_name="us-east-1", config=config,
                        aws_access_key_id="bench", aws_secret_access_key="bench")


def load_test(url: str, endpoint: str, clients: int, requests: int, tokens: int) -> dict:
    latencies: list[float] = []
    generated: list[int] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        rt = client(url)
        for j in range(requests):
            # Story openers: raw completion runs on to the token limit, so the measurement
            # compares batching itself rather than how early rows happen to hit eos (a
            # static batch keeps computing rows that finished until its longest row ends).
            payload = {"inputs": f"Once upon a time, near {TOPICS[(i + j) % len(TOPICS)]}, there lived",
                       "parameters": {"max_new_tokens": tokens, "details": True}}
            t0 = time.perf_counter()
            out = json.loads(rt.invoke_endpoint(EndpointName=endpoint, ContentType="application/json",
                                                Body=json.dumps(payload))["Body"].read())
            elapsed = time.perf_counter() - t0
            with lock:
                latencies.append(elapsed)
                generated.append(out[0]["details"]["generated_tokens"])

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, range(clients)))
    wall = time.perf_counter() - start
    q = statistics.quantiles(latencies, n=20)
    return {"requests": len(latencies), "wall_s": round(wall, 2),
            "requests_per_s": round(len(latencies) / wall, 3),
            "generated_tokens_per_s": round(sum(generated) / wall, 2),
            "generated_tokens": sum(generated),
            "latency_p50_s": round(statistics.median(latencies), 3), "latency_p95_s": round(q[18], 3),
            "_latencies": latencies}


def pool(runs: list[dict]) -> dict:
    latencies = [x for r in runs for x in r["_latencies"]]
    wall = sum(r["wall_s"] for r in runs)
    requests = sum(r["requests"] for r in runs)
    tokens = sum(r["generated_tokens"] for r in runs)
    for r in runs:
        r.pop("_latencies", None)
    return {"requests": requests, "wall_s": round(wall, 2), "requests_per_s": round(requests / wall, 3),
            "generated_tokens_per_s": round(tokens / wall, 2), "generated_tokens": tokens,
            "latency_p50_s": round(statistics.median(latencies), 3),
            "latency_p95_s": round(statistics.quantiles(latencies, n=20)[18], 3)}


def overhead(url: str, endpoint: str, engine: Engine, reps: int) -> dict:
    prompt = "Say hello."
    params = GenerationParams(max_new_tokens=1)
    direct, served = [], []
    rt = client(url)
    body = json.dumps({"inputs": prompt, "parameters": {"max_new_tokens": 1}})
    for _ in range(3):  # warm both paths
        engine.generate([prompt], params)
        rt.invoke_endpoint(EndpointName=endpoint, ContentType="application/json", Body=body)
    for _ in range(reps):
        t0 = time.perf_counter()
        engine.generate([prompt], params)
        direct.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        rt.invoke_endpoint(EndpointName=endpoint, ContentType="application/json", Body=body)["Body"].read()
        served.append(time.perf_counter() - t0)
    d, s = statistics.median(direct), statistics.median(served)
    return {"direct_p50_ms": round(d * 1000, 2), "served_p50_ms": round(s * 1000, 2),
            "overhead_p50_ms": round((s - d) * 1000, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=1, help="per client, per round")
    parser.add_argument("--rounds", type=int, default=2, help="alternating on/off rounds")
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--overhead-reps", type=int, default=15)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "serve_throughput.json"))
    args = parser.parse_args()

    import tempfile

    import torch

    engine = Engine.load(args.model)
    manager = EndpointManager(EndpointRegistry(Path(tempfile.mkdtemp(prefix="sb-bench-"))))
    manager.add_engine(EndpointConfig(name="batched", model=args.model, batching=True, max_batch_size=16,
                                      max_wait_ms=10), engine)
    manager.add_engine(EndpointConfig(name="unbatched", model=args.model, batching=False), engine)
    server, url = start_server(manager)
    try:
        results = {"model": args.model, "clients": args.clients, "requests_per_client": args.requests,
                   "max_new_tokens": args.tokens, "device": engine.device,
                   "torch_threads": torch.get_num_threads(), "machine": platform.machine()}
        # Warm up both paths (first-call costs: kernels, allocator, client set-up) unmeasured.
        engine.generate([f"Warm up {t}." for t in TOPICS[:4]], GenerationParams(max_new_tokens=2))
        for endpoint in ("batched", "unbatched"):
            client(url).invoke_endpoint(EndpointName=endpoint, ContentType="application/json",
                                        Body=json.dumps({"inputs": "Hi", "parameters": {"max_new_tokens": 2}}))
        manager.get("batched").batcher.stats = type(manager.get("batched").batcher.stats)()
        # Rounds alternate on and off, so load from other processes on a shared machine
        # falls on both sides alike; each side's numbers are pooled over its rounds.
        runs: dict[str, list[dict]] = {"batching_on": [], "batching_off": []}
        for round_no in range(args.rounds):
            for side, endpoint in (("batching_on", "batched"), ("batching_off", "unbatched")):
                run = load_test(url, endpoint, args.clients, args.requests, args.tokens)
                runs[side].append(run)
                print(f"round {round_no + 1} {side}:", {k: v for k, v in run.items() if k != "_latencies"}, flush=True)
                results["rounds"] = {k: [{x: y for x, y in r.items() if x != "_latencies"} for r in v]
                                     for k, v in runs.items()}
                save(args.out, results)  # partial results survive a cut-off run
        for side in runs:
            results[side] = pool(runs[side])
        stats = manager.get("batched").batcher.stats
        results["batching_on"]["passes"] = stats.passes
        results["batching_on"]["mean_rows_per_pass"] = round(stats.rows / max(stats.passes, 1), 2)
        on, off = results["batching_on"], results["batching_off"]
        results["speedup_requests_per_s"] = round(on["requests_per_s"] / off["requests_per_s"], 2)
        results["speedup_tokens_per_s"] = round(on["generated_tokens_per_s"] / off["generated_tokens_per_s"], 2)
        # Other load on the machine skews absolute numbers; rounds alternate so both sides share it.
        results["note"] = "on/off rounds alternate in the same run"
        results["load_average_1m_after"] = round(os.getloadavg()[0], 2)
        results["overhead_unbatched_endpoint"] = overhead(url, "unbatched", engine, args.overhead_reps)
        results["overhead_batched_endpoint"] = overhead(url, "batched", engine, args.overhead_reps)
    finally:
        server.should_exit = True
    save(args.out, results)
    print(json.dumps(results, indent=2))


def save(out: str, results: dict) -> None:
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
