"""Single-stream decode speed: Springboard's fast CPU path (the Engine with backend=llamacpp)
against llama.cpp itself (its Python binding, on the same GGUF, same token ids) and against plain
HF `generate()`, plus the Engine's transformers path, in the same run. Same prompt, same number of
new tokens, greedy, the same thread count on every side; rounds interleave the sides so machine
load from other work hits them alike.

    .venv/bin/python benchmarks/decode_speed.py [--tokens 128 --rounds 3 --threads 2]

Tokens/s = new tokens / wall time of the whole call (prefill of the short prompt included),
median over rounds. Writes benchmarks/results/decode_speed.json."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

PROMPT = [{"role": "user", "content": "Tell me a long story about a lighthouse keeper and the sea."}]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    args = parser.parse_args()
    os.environ["SPRINGBOARD_LLAMACPP_THREADS"] = str(args.threads)

    import torch
    from llama_cpp import Llama

    from springboard.generate import Engine, GenerationParams

    torch.set_num_threads(args.threads)
    fast = Engine.load(args.model, backend="llamacpp")
    reference = Engine.load(args.model, backend="transformers")
    _, ids = reference.encode(PROMPT, chat=True)
    n = args.tokens
    direct = Llama(model_path=str(fast.fast.gguf), n_ctx=2048, n_batch=512, n_threads=args.threads,
                   n_threads_batch=args.threads, verbose=False)

    # For scale, not the bar: llama.cpp on the quantized GGUF the default model ships as (Q4_1),
    # which is a different (lossy) model from the float32 weights both other sides run.
    quantized = None
    try:
        from springboard.hub import get_model_spec
        from springboard.hub.convert import gguf_path

        source = gguf_path(get_model_spec(args.model))
        quantized = Llama(model_path=str(source), n_ctx=2048, n_batch=512, n_threads=args.threads,
                          n_threads_batch=args.threads, verbose=False)
    except Exception as exc:  # noqa: BLE001 - a model without a shipped GGUF
        print(f"no quantized source GGUF for {args.model}: {exc}")

    def llama_direct(llm=direct) -> list[int]:
        llm.reset()
        out = []
        for token in llm.generate(ids, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0, reset=True):
            out.append(int(token))
            if len(out) == n:
                return out
        return out

    def hf_generate() -> list[int]:
        x = torch.tensor([ids])
        with torch.inference_mode():
            out = reference.model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=n,
                                           min_new_tokens=n, do_sample=False,
                                           pad_token_id=reference.tokenizer.pad_token_id)
        return out[0, len(ids):].tolist()

    # Springboard's paths stop at EOS; a prompt with a long answer and the count of tokens each
    # call produced keep the rate honest (tokens/s uses the tokens actually generated).
    params = GenerationParams(max_new_tokens=n)
    sides = {
        "springboard_llamacpp": lambda: fast.generate([PROMPT], params, chat=True)[0].generated_tokens,
        "llama_cpp_direct": lambda: len(llama_direct()),
        "hf_generate": lambda: len(hf_generate()),
        "springboard_transformers": lambda: reference.generate([PROMPT], params, chat=True)[0].generated_tokens,
    }
    if quantized is not None:
        sides["llama_cpp_direct_shipped_q4_1"] = lambda: len(llama_direct(quantized))
    for run in sides.values():  # warm-up (first-call allocations, thread pools)
        run()
    rates: dict[str, list[float]] = {name: [] for name in sides}
    counts: dict[str, int] = {}
    for _ in range(args.rounds):
        for name, run in sides.items():
            start = time.perf_counter()
            count = run()
            rates[name].append(count / (time.perf_counter() - start))
            counts[name] = count

    fast_text = fast.generate([PROMPT], params, chat=True)[0].texts[0]
    ref_text = reference.generate([PROMPT], params, chat=True)[0].texts[0]
    direct_ids, hf_ids = llama_direct(), hf_generate()
    same_prefix = next((i for i, (a, b) in enumerate(zip(direct_ids, hf_ids)) if a != b), min(len(direct_ids), len(hf_ids)))
    median = {name: statistics.median(v) for name, v in rates.items()}
    result = {
        "model": args.model,
        "gguf": str(fast.fast.gguf),
        "prompt_tokens": len(ids),
        "new_tokens": n,
        "threads": args.threads,
        "rounds": args.rounds,
        "tokens_per_s": median,
        "tokens_per_s_all_rounds": rates,
        "generated_tokens": counts,
        "ratio_fast_vs_llama_cpp": median["springboard_llamacpp"] / median["llama_cpp_direct"],
        "ratio_fast_vs_hf_generate": median["springboard_llamacpp"] / median["hf_generate"],
        "greedy_text_equal_fast_vs_transformers": fast_text == ref_text,
        "greedy_ids_equal_llama_cpp_vs_hf_first_n": same_prefix,
        "load_average": os.getloadavg(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
    }
    out = Path(__file__).parent / "results" / "decode_speed.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    fast.close()


if __name__ == "__main__":
    main()
