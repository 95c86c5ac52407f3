"""Quality of every precision offered on the llama.cpp backend, against float32, on the
quickstart's held-out documentation (the first --examples of quickstart.dataset.build(), the
examples the quickstart never trains on):

- perplexity of "documentation\\n\\nsummary" texts (windows of at most 512 tokens);
- greedy agreement: the chat-templated quickstart prompt's greedy continuation (--tokens ids),
  the share of prompts whose continuation equals float32's, and the mean share of float32's
  tokens matched before the first difference.

float32 is the HF weights converted to GGUF (the reference's weights); the default model's own
Q4_1 file is measured as shipped; bfloat16, q8_0 and the other quantized types are converted
from float32 by llama.cpp's quantizer (generate/precision.py), types whose blocks do not tile the
model's rows are reported as refused. Bar: bfloat16 and q8_0 perplexity no more than 1% above
float32's.

    .venv/bin/python benchmarks/precision_quality.py [--model smollm2-135m-instruct --examples 120 --types float32,q8_0]

Writes benchmarks/results/precision_quality.json."""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

TYPES = ["float32", "bfloat16", "q8_0", "q5_0", "q4_1", "q4_0", "q4_k_m"]


def held_out(n: int) -> list:
    from springboard.quickstart.dataset import build

    return build()[:n]  # quickstart.write_dataset's test split


def measure(model: str = "smollm2-135m-instruct", examples: int = 120, tokens: int = 32, threads: int = 0,
            types: list[str] = TYPES) -> dict:
    from transformers import AutoConfig, AutoTokenizer

    from springboard.errors import DataError
    from springboard.generate import precision as prec
    from springboard.generate.loading import find_spec, resolve_ref
    from springboard.quickstart import PROMPT

    model_dir = resolve_ref(model)
    spec, config = find_spec(model, model_dir), AutoConfig.from_pretrained(model_dir)
    tok = AutoTokenizer.from_pretrained(model_dir)
    docs = held_out(examples)
    windows = [tok(f"{d.documentation}\n\n{d.summary}")["input_ids"][:512] for d in docs]
    prompts = [tok(tok.apply_chat_template([{"role": "user", "content": PROMPT.format(documentation=d.documentation)}],
                                           add_generation_prompt=True, tokenize=False),
                   add_special_tokens=False)["input_ids"] for d in docs]
    eos = {tok.eos_token_id, tok.convert_tokens_to_ids("<|im_end|>"), tok.convert_tokens_to_ids("<|endoftext|>")} - {None}
    rows: dict[str, dict] = {}
    reference: list[list[int]] | None = None
    for name in types:
        dtype, quantize = (name, None) if name in ("float32", "bfloat16") else (None, name)
        try:
            p = prec.resolve(dtype, quantize, "llamacpp", "cpu", config, model_dir, spec)
        except DataError as exc:
            rows[name] = {"refused": str(exc)}
            continue
        started = time.perf_counter()
        ppl = prec.perplexity(p.gguf, windows, threads)
        outs = prec.greedy(p.gguf, prompts, tokens, eos, threads)
        if reference is None:
            reference = outs
        same = [o == r for o, r in zip(outs, reference)]
        prefix = [_common(o, r) / max(len(r), 1) for o, r in zip(outs, reference)]
        rows[name] = {"weights": p.weights, "source": p.source, "perplexity": round(ppl, 4),
                      "file_mb": round(p.gguf.stat().st_size / 2**20, 1),
                      "greedy_identical": round(sum(same) / len(same), 3),
                      "greedy_prefix_matched": round(sum(prefix) / len(prefix), 3),
                      "seconds": round(time.perf_counter() - started, 1)}
        print(name, rows[name], flush=True)
        if "shipped" == p.source:  # the shipped file stands in for its type: same weights
            rows[name]["file"] = str(p.gguf)
    base = rows[types[0]]["perplexity"]
    for row in rows.values():
        if "perplexity" in row:
            row["vs_float32"] = round(row["perplexity"] / base - 1, 4)
    return {"model": model, "examples": len(docs), "scored_tokens": sum(len(w) - 1 for w in windows),
            "greedy_tokens": tokens, "precisions": rows}


def _common(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--examples", type=int, default=120)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--types", default=",".join(TYPES),
                        help="comma-separated precisions, the first the reference (default: all)")
    args = parser.parse_args()
    result = measure(args.model, args.examples, args.tokens, args.threads, args.types.split(","))
    result["machine"] = {"cpu": platform.processor() or platform.machine(), "threads": args.threads,
                         "note": "shared with other work while measured (quality numbers do not depend on load)"}
    out = Path(__file__).parent / "results" / "precision_quality.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    for name, row in result["precisions"].items():
        print(f"{name:9} " + (f"ppl {row['perplexity']:.3f} ({row['vs_float32']:+.2%})  greedy identical "
                              f"{row['greedy_identical']:.0%}  prefix {row['greedy_prefix_matched']:.0%}  "
                              f"{row['file_mb']} MB  {row['source']}" if "perplexity" in row else row["refused"]))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
