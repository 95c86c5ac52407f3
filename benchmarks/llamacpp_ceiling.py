"""What llama.cpp itself does on this machine with the default model's shipped Q4_1 GGUF: the ceiling
any llama.cpp-based server (ours, llama-server, Ollama) can reach here, and so what the 16-client
bar of issue 20 (aggregate >= 4x one stream) asks of the hardware.

Raw llama-cpp-python low-level API, no server, no Python per-token work beyond filling the batch:
the shipped Q4_1 file and each GGUF converted from
the model already cached beside it (`gguf/<hash>-<type>.gguf`, e.g. q8_0, bfloat16), one context
with a KV-cache stream per sequence (`kv_unified=False`, as the serving backend runs),
--threads threads. For each sequence count N: every sequence prefilled with a --prompt-token prompt
(one decode call each), then --steps decode calls of one token per sequence. Reports prefill and
decode tokens/s, and decode at N sequences as a multiple of decode at one. Optionally
(--contention) the same with one busy-looping process beside it, with OpenMP's default wait policy
and with OMP_WAIT_POLICY=PASSIVE (each in a child process, since the policy is read at start).

    .venv/bin/python benchmarks/llamacpp_ceiling.py [--sequences 1,16,32 --steps 32 --threads 2 --contention]

Writes benchmarks/results/llamacpp_ceiling.json."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "llamacpp_ceiling.json"


def measure(gguf: str, sequences: list[int], steps: int, prompt: int, threads: int) -> list[dict]:
    import llama_cpp as C

    C.llama_backend_init()
    model = C.llama_model_load_from_file(gguf.encode(), C.llama_model_default_params())
    rows = []
    for n in sequences:
        params = C.llama_context_default_params()
        params.n_ctx, params.n_batch, params.n_ubatch = 1024 * n, 512, 512
        params.n_seq_max, params.kv_unified = n, False
        params.n_threads = params.n_threads_batch = threads
        ctx = C.llama_init_from_model(model, params)
        batch = C.llama_batch_init(512, 0, 1)

        def decode(items: list[tuple[int, int, int, bool]]) -> None:
            for i, (token, pos, seq, logits) in enumerate(items):
                batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = token, pos, 1, logits
                batch.seq_id[i][0] = seq
            batch.n_tokens = len(items)
            if C.llama_decode(ctx, batch) != 0:
                raise SystemExit("llama_decode failed")

        start = time.perf_counter()
        for seq in range(n):
            decode([(100 + j, j, seq, j == prompt - 1) for j in range(prompt)])
        prefill = time.perf_counter() - start
        start = time.perf_counter()
        for k in range(steps):
            decode([(200 + k, prompt + k, seq, True) for seq in range(n)])
        decoding = time.perf_counter() - start
        rows.append({"sequences": n, "prefill_tokens_per_s": round(n * prompt / prefill, 1),
                     "decode_tokens_per_s": round(n * steps / decoding, 1),
                     "decode_ms_per_step": round(decoding / steps * 1000, 1)})
        C.llama_batch_free(batch)
        C.llama_free(ctx)
    C.llama_model_free(model)
    one = next((r["decode_tokens_per_s"] for r in rows if r["sequences"] == 1), None)
    for r in rows:
        r["decode_vs_one_sequence"] = round(r["decode_tokens_per_s"] / one, 2) if one else None
    return rows


def child(args: argparse.Namespace, env: dict[str, str], gguf: str | None = None) -> list[dict]:
    out = subprocess.run([sys.executable, __file__, "--child", "--sequences", args.sequences, "--steps", str(args.steps),
                          "--prompt-tokens", str(args.prompt_tokens), "--threads", str(args.threads)]
                         + (["--gguf", gguf] if gguf else []), env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequences", default="1,16,32")
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--prompt-tokens", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--contention", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--gguf", help=argparse.SUPPRESS)
    args = parser.parse_args()
    from springboard.hub import get_model_spec
    from springboard.hub.convert import gguf_path

    from springboard import settings

    gguf = args.gguf or str(gguf_path(get_model_spec("smollm2-135m-instruct")))
    sequences = [int(x) for x in args.sequences.split(",")]
    converted = sorted((settings.models_dir() / "smollm2-135m-instruct" / "gguf").glob("*.gguf"))
    if args.child:
        print(json.dumps(measure(gguf, sequences, args.steps, args.prompt_tokens, args.threads)))
        return
    import llama_cpp

    result = {"benchmark": "llamacpp_ceiling", "gguf": Path(gguf).name, "threads": args.threads,
              "cpu_count": os.cpu_count(), "llama_cpp": llama_cpp.llama_print_system_info().decode().strip(),
              "load_average_1_5_15_min_at_start": os.getloadavg(),
              "idle": child(args, dict(os.environ)),
              "idle_converted": {path.stem.split("-", 1)[-1]: child(args, dict(os.environ), str(path))
                                 for path in converted}}
    if args.contention:
        burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            result["one_busy_process_beside"] = {
                "omp_default": child(args, dict(os.environ)),
                "omp_passive": child(args, dict(os.environ, OMP_WAIT_POLICY="PASSIVE")),
            }
        finally:
            burner.kill()
        result["idle_omp_passive"] = child(args, dict(os.environ, OMP_WAIT_POLICY="PASSIVE"))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
