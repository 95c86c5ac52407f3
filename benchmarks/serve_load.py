"""The server under load with malformed input mixed in: nothing 5xx, memory bounded.

A real server process (`python -m springboard.app`) hosts one endpoint. 16 concurrent clients
send requests for a bounded time in two phases of the same run:

- baseline: valid requests only (SageMaker runtime text generation and text2text, response
  streaming, OpenAI completions and chat);
- mixed: the same, with one request in three (at random, seeded) one of the malformed inputs issue 10 found
  (10,000-deep JSON, empty prompts, a lone surrogate, "8"/true/Infinity as numbers, `prompt: []`,
  7 MB bodies declared and chunked, an endpoint name that is a path);
- abusive: the same, with one request in three one of the shapes issue 19 found (500,000
  one-character `text_inputs`, 16 prompts x 64 beams x 64 return sequences, non-streaming requests
  for 400 tokens abandoned by a client that gives up after 0.5 s, 6 MB uploads under a made-up SigV4
  signature): each must be refused (or, abandoned, stop generating) without growing the server.

Reports requests served, answers by class (request kind and status), 5xx (must be 0), client
errors (timeouts, resets; abandoned requests are counted apart), valid requests/s, the server's
peak RSS per phase (sampled every 50 ms with psutil) and its RSS over time (every 0.5 s), and
/ping latency throughout (one probe every 0.25 s; the bar is under 1 s).

    .venv/bin/python benchmarks/serve_load.py [--model tiny|MODEL_ID|PATH] [--seconds 30] [--clients 16]

`tiny` (default) is a 2-layer random Llama built on the fly (tests/tinymodels.py): it measures
the server, not the model. Writes benchmarks/results/serve_load[_<model>].json."""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
ENDPOINT = "load"
# The server requires a key, as one reachable by others would (issue 19 attacked such a server):
# every client sends it; the made-up SigV4 uploads do not have it.
API_KEY = "serve-load-" + os.urandom(8).hex()
AUTH = {"Authorization": f"Bearer {API_KEY}"}
SEVEN_MB = 7 * 1024 * 1024
PROMPTS = ["Tell me about the ocean", "Write a line about trains", "Describe a library", "Why is the sky blue",
           "A poem about rain", "Explain coffee", "The moon is", "Gardens in winter"]


def valid_requests(tokens: int) -> list[tuple[str, str, dict, bytes]]:
    """(kind, path, headers, body) of well-formed requests."""
    js = {"Content-Type": "application/json"}
    out = []
    for i, prompt in enumerate(PROMPTS):
        out += [
            ("runtime_tgi", f"/endpoints/{ENDPOINT}/invocations", js,
             json.dumps({"inputs": prompt, "parameters": {"max_new_tokens": tokens}}).encode()),
            ("runtime_text2text", f"/endpoints/{ENDPOINT}/invocations", js,
             json.dumps({"text_inputs": prompt, "max_new_tokens": tokens}).encode()),
            ("runtime_stream", f"/endpoints/{ENDPOINT}/invocations-response-stream", js,
             json.dumps({"inputs": prompt, "parameters": {"max_new_tokens": tokens}, "stream": True}).encode()),
            ("openai_completion", "/v1/completions", js,
             json.dumps({"model": ENDPOINT, "prompt": prompt, "max_tokens": tokens, "temperature": 0}).encode()),
            ("openai_chat", "/v1/chat/completions", js,
             json.dumps({"model": ENDPOINT, "messages": [{"role": "user", "content": prompt}],
                         "max_tokens": tokens, "seed": i}).encode()),
        ]
    return out


def malformed_requests() -> list[tuple[str, str, dict, bytes | None]]:
    """(kind, path, headers, body) of the inputs that used to crash, hang or slip through.
    A body of None stands for a 7 MB chunked body (sent from a generator)."""
    js = {"Content-Type": "application/json"}
    rt, chat, comp = f"/endpoints/{ENDPOINT}/invocations", "/v1/chat/completions", "/v1/completions"
    deep = b"[" * 10_000 + b"]" * 10_000
    return [
        ("deep_json_runtime", rt, js, b'{"inputs": ' + deep + b"}"),
        ("deep_json_chat", chat, js, b'{"model": "load", "messages": ' + deep + b"}"),
        ("empty_prompt_runtime", rt, js, b'{"inputs": ""}'),
        ("empty_prompt_openai", comp, js, b'{"model": "load", "prompt": ""}'),
        ("empty_prompt_list_openai", comp, js, b'{"model": "load", "prompt": []}'),
        ("lone_surrogate_runtime", rt, js, b'{"inputs": "\\ud800"}'),
        ("lone_surrogate_chat", chat, js, b'{"model": "load", "messages": [{"role": "user", "content": "\\ud800"}]}'),
        ("string_int", rt, js, b'{"inputs": "Hi", "parameters": {"max_new_tokens": "8"}}'),
        ("bool_int", rt, js, b'{"inputs": "Hi", "parameters": {"max_new_tokens": true}}'),
        ("infinity", rt, js, b'{"inputs": "Hi", "parameters": {"repetition_penalty": Infinity}}'),
        ("string_int_openai", comp, js, b'{"model": "load", "prompt": "Hi", "max_tokens": "8"}'),
        ("oversized_chat", chat, js, b'{"model": "load", "messages": [{"role": "user", "content": "'
         + b"x" * SEVEN_MB + b'"}]}'),
        ("oversized_chunked_runtime", rt, js, None),
        ("path_name", "/endpoints/..%2F..%2Fdecoy/invocations", js, b'{"inputs": "Hi"}'),
        ("bad_name", "/endpoints/bad_name!/invocations", js, b'{"inputs": "Hi"}'),
    ]


def abusive_requests() -> list[tuple[str, str, dict, bytes, float | None]]:
    """(kind, path, headers, body, client timeout) of issue 19's request shapes."""
    js = {"Content-Type": "application/json"}
    rt = f"/endpoints/{ENDPOINT}/invocations"
    sigv4 = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "SageMaker.ListModels",
             "X-Amz-Date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
             "Authorization": "AWS4-HMAC-SHA256 Credential=BOGUSKEY/20260101/us-east-1/sagemaker/aws4_request, "
                              "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + "0" * 64}
    return [
        ("huge_text_inputs", rt, js, json.dumps({"text_inputs": ["a"] * 500_000, "max_new_tokens": 1}).encode(), None),
        ("huge_beams_x_sequences", rt, js, json.dumps({"text_inputs": ["a b"] * 16, "num_beams": 64,
                                                       "num_return_sequences": 64, "max_new_tokens": 8}).encode(), None),
        ("abandoned_non_stream", rt, js, json.dumps({"inputs": "Tell me a long story",
                                                     "parameters": {"max_new_tokens": 400}}).encode(), 0.5),
        ("abandoned_openai", "/v1/completions", js, json.dumps({"model": ENDPOINT, "prompt": "Once upon a time",
                                                                "max_tokens": 400}).encode(), 0.5),
        ("bogus_sigv4_upload", "/", sigv4, b"{" + b" " * (6 * 1024 * 1024 - 2) + b"}", None),
    ]


async def _chunks():
    piece = b"x" * (1024 * 1024)
    for _ in range(7):
        yield piece


async def client_loop(http: httpx.AsyncClient, index: int, deadline: float, mixed: bool | str, tokens: int,
                      counts: collections.Counter) -> None:
    valid = valid_requests(tokens)
    bad = [(*r, None) for r in malformed_requests()] if mixed is True else abusive_requests()
    rng = random.Random(index)  # reproducible, and every client goes through every kind
    while time.monotonic() < deadline:
        pick_bad = bool(mixed) and rng.random() < 1 / 3
        kind, path, headers, body, timeout = rng.choice(bad) if pick_bad else (*rng.choice(valid), None)
        try:
            extra = {} if timeout is None else {"timeout": timeout}
            response = await http.post(path, headers=headers, content=_chunks() if body is None else body, **extra)
            status = response.status_code
            counts[f"{kind}:{status}"] += 1
            counts["5xx" if status >= 500 else ("valid_ok" if not pick_bad and status == 200 else "other")] += 1
            if pick_bad and status < 400 and timeout is None:  # an abandoned one may finish in time
                counts["malformed_accepted"] += 1
            if not pick_bad and status != 200:
                counts["valid_refused"] += 1
        except httpx.TimeoutException as exc:
            if timeout is not None:  # meant: the client gave up (the server must stop its work)
                counts[f"{kind}:abandoned"] += 1
                counts["abandoned"] += 1
                continue
            counts[f"{kind}:client_error:{type(exc).__name__}"] += 1
            counts["client_errors"] += 1
        except httpx.HTTPError as exc:
            counts[f"{kind}:client_error:{type(exc).__name__}"] += 1
            counts["client_errors"] += 1


def sample_rss(pid: int, stop: threading.Event, peak: list[int], series: list[tuple[float, float]]) -> None:
    proc = psutil.Process(pid)
    start, last = time.monotonic(), -1.0
    while not stop.is_set():
        try:
            rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
        except psutil.Error:
            break
        peak[0] = max(peak[0], rss)
        now = time.monotonic() - start
        if now - last >= 0.5:
            series.append((round(now, 1), round(rss / 2**20, 1)))
            last = now
        time.sleep(0.05)


def probe_ping(url: str, stop: threading.Event, latencies: list[float]) -> None:
    """/ping every 0.25 s, as a load balancer's health check would; a failed probe counts 5 s."""
    with httpx.Client(timeout=5.0, headers=AUTH) as http:
        while not stop.is_set():
            start = time.monotonic()
            try:
                ok = http.get(f"{url}/ping").status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append(time.monotonic() - start if ok else 5.0)
            stop.wait(0.25)


async def phase(url: str, pid: int, seconds: float, clients: int, mixed: bool | str, tokens: int) -> dict:
    counts: collections.Counter = collections.Counter()
    stop, peak, series, pings = threading.Event(), [0], [], []
    sampler = threading.Thread(target=sample_rss, args=(pid, stop, peak, series), daemon=True)
    sampler.start()
    pinger = threading.Thread(target=probe_ping, args=(url, stop, pings), daemon=True)
    pinger.start()
    start = time.monotonic()
    limits = httpx.Limits(max_connections=clients * 2)
    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(300.0), limits=limits, headers=AUTH) as http:
        await asyncio.gather(*(client_loop(http, i, start + seconds, mixed, tokens, counts) for i in range(clients)))
    wall = time.monotonic() - start
    stop.set()
    sampler.join()
    pinger.join()
    pings.sort()
    total = sum(v for k, v in counts.items() if ":" in k)
    by_class = {k: v for k, v in sorted(counts.items()) if ":" in k}
    return {
        "wall_s": round(wall, 2),
        "requests": total,
        "valid_ok": counts["valid_ok"],
        "valid_requests_per_s": round(counts["valid_ok"] / wall, 2),
        "malformed_sent": sum(v for k, v in by_class.items()
                              if k.split(":")[0] in {m[0] for m in [*malformed_requests(), *abusive_requests()]}),
        "abandoned": counts["abandoned"],
        "server_errors_5xx": counts["5xx"],
        "malformed_accepted": counts["malformed_accepted"],
        "valid_refused": counts["valid_refused"],
        "client_errors": counts["client_errors"],
        "peak_server_rss_mb": round(peak[0] / 2**20, 1),
        "ping": {"probes": len(pings), "p50_s": round(pings[len(pings) // 2], 3) if pings else None,
                 "max_s": round(pings[-1], 3) if pings else None},
        "rss_mb_over_time": series,
        "by_class": by_class,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny", help="'tiny' (a random 2-layer Llama), a hub id or a path")
    parser.add_argument("--seconds", type=float, default=30.0, help="per phase")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=16, help="max new tokens per valid request")
    parser.add_argument("--out", help="where to write the results (default: benchmarks/results/serve_load[_MODEL].json)")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="serve-load-"))
    model = args.model
    if model == "tiny":
        sys.path.insert(0, str(ROOT / "tests"))
        import tinymodels

        model = str(tinymodels.build_causal(home / "tiny-causal"))
    # the tiny model is built beside the server's home: a root its requests may read
    env = dict(os.environ, SPRINGBOARD_HOME=str(home / "home"), SPRINGBOARD_DATA_ROOTS=str(home),
               SPRINGBOARD_API_KEY=API_KEY, PYTHONUNBUFFERED="1")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(home / "server.log", "ab") as log:
        server = subprocess.Popen([sys.executable, "-m", "springboard.app", "--port", str(port)],
                                  env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/springboard/health", timeout=2, headers=AUTH).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"server did not start; see {home / 'server.log'}")
            time.sleep(0.2)
        created = httpx.post(f"{url}/springboard/endpoints", json={"name": ENDPOINT, "model": model}, timeout=30,
                             headers=AUTH)
        created.raise_for_status()
        while (record := httpx.get(f"{url}/springboard/endpoints/{ENDPOINT}", headers=AUTH).json())["status"] == "Creating":
            time.sleep(0.5)
        if record["status"] != "InService":
            raise SystemExit(f"endpoint {record['status']}: {record['failure_reason']}")
        idle_rss = psutil.Process(server.pid).memory_info().rss
        results = {}
        for name, mixed in (("baseline_valid_only", False), ("mixed_malformed", True), ("abusive_issue19", "abuse")):
            print(f"{name}: {args.clients} clients for {args.seconds:.0f} s ...", flush=True)
            results[name] = asyncio.run(phase(url, server.pid, args.seconds, args.clients, mixed, args.tokens))
            print(json.dumps({k: v for k, v in results[name].items() if k not in ("by_class", "rss_mb_over_time")}),
                  flush=True)
        alive = httpx.get(f"{url}/springboard/health", timeout=10, headers=AUTH).status_code == 200
    finally:
        server.terminate()
        server.wait(60)
    report = {
        "model": args.model,
        "clients": args.clients,
        "seconds_per_phase": args.seconds,
        "max_new_tokens": args.tokens,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": int(os.environ.get("OMP_NUM_THREADS", "0")) or None,
        "idle_server_rss_mb": round(idle_rss / 2**20, 1),
        "server_alive_after": alive,
        "phases": results,
    }
    suffix = "" if args.model == "tiny" else "_" + Path(args.model).name.replace("/", "-")
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / f"serve_load{suffix}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    fivexx = sum(p["server_errors_5xx"] for p in results.values())
    accepted = sum(p["malformed_accepted"] for p in results.values())
    slowest_ping = max((p["ping"]["max_s"] or 0.0) for p in results.values())
    print(f"5xx: {fivexx}, malformed accepted: {accepted}, server alive: {alive}, slowest /ping: {slowest_ping:.2f} s")
    return 0 if fivexx == 0 and accepted == 0 and alive and slowest_ping < 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
