"""A 7B on the CPU engine's runtime: a Q4_0 GGUF of Mistral-7B's ARCHITECTURE with RANDOM weights
(never presented as the model: no checkpoint is read; the tokens it writes mean nothing).

Issue 21 asks for a 7B deployed on the CPU engine with load time, RSS and single-stream tokens/s.
What this measures is llama.cpp itself (the engine the llamacpp backend drives) on a 7B-sized
Q4_0 file: load time, resident memory once every weight has been read, prefill and single-stream
decode tokens/s (the raw low-level loop of benchmarks/llamacpp_ceiling.py, one sequence).

Why not `springboard deploy` of a random 7B: the llamacpp backend keeps the transformers model
resident as its reference (tokenizer, chat template, the features llama.cpp does not run), in
float32 — 28 GB for a 7B, more than this 24 GB machine has — and the f32 GGUF it quantizes from is
built in memory (another 27 GB). Both are noted in the closing note; this script writes the Q4_0
tensors directly (gguf-py, raw Q4_0 blocks: an fp16 scale of 0.01 and random 4-bit values per 32
weights), the layout llama.cpp reads from any Q4_0 file.

The architecture is Mistral-7B-v0.1's (hidden 4096, 32 layers, 32 heads / 8 KV heads, FFN 14336,
as `train_7b_memory.config_for('mistral-7b')`), written as llama.cpp's "llama" arch (Mistral's
sliding window is not applied below 4096 tokens). The vocabulary is the default model's tokenizer
(49152 entries, so that llama.cpp loads a real BPE vocabulary) instead of Mistral's 32000: the
embedding and output matrices are 1.5x Mistral's (+0.14B parameters, reported).

    .venv/bin/python benchmarks/serve_7b_gguf.py [--threads 2 --steps 16 --prompt-tokens 64]

Needs ~4 GB of disk under --dir (default a temporary folder, removed after) and ~5 GB of memory.
Writes benchmarks/results/serve_7b_gguf.json."""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

RESULTS = Path(__file__).parent / "results" / "serve_7b_gguf.json"
GB = 2**30
QK = 32  # weights per Q4_0 block; a block is an fp16 scale + 16 bytes of 4-bit values


def q4_0_random(rows: int, cols: int, rng) -> "object":
    import numpy as np

    blocks = rng.integers(0, 256, size=(rows * cols // QK, 18), dtype=np.uint8)
    blocks[:, :2] = np.array([0.01], dtype=np.float16).view(np.uint8)
    return blocks.reshape(rows, cols // QK * 18)


def write_random_gguf(out: Path, tokenizer_dir: Path, seed: int = 0) -> int:
    """Mistral-7B's architecture as a llama-arch Q4_0 GGUF with random weights; returns the
    parameter count."""
    import gguf
    import numpy as np
    from train_7b_memory import config_for

    from springboard.generate.llamacpp import _write_vocab

    config = config_for("mistral-7b")
    vocab = json.loads((tokenizer_dir / "config.json").read_text())["vocab_size"]
    h, ffn, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    n_head, n_kv = config.num_attention_heads, config.num_key_value_heads
    head_dim = h // n_head
    writer = gguf.GGUFWriter(str(out), "llama")
    writer.add_name("random-mistral-7b-architecture")
    writer.add_context_length(4096)
    writer.add_embedding_length(h)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_kv)
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(float((getattr(config, "rope_parameters", None) or {}).get("rope_theta", 10000.0)))
    writer.add_layer_norm_rms_eps(float(config.rms_norm_eps))
    writer.add_vocab_size(vocab)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_0)
    _write_vocab(writer, tokenizer_dir, vocab)
    rng = np.random.default_rng(seed)
    parameters = 0

    def quantized(name: str, rows: int, cols: int) -> None:
        nonlocal parameters
        parameters += rows * cols
        writer.add_tensor(name, q4_0_random(rows, cols, rng), raw_dtype=gguf.GGMLQuantizationType.Q4_0)

    def norm(name: str) -> None:
        nonlocal parameters
        parameters += h
        writer.add_tensor(name, np.ones(h, dtype=np.float32))

    quantized("token_embd.weight", vocab, h)
    for i in range(layers):
        norm(f"blk.{i}.attn_norm.weight")
        quantized(f"blk.{i}.attn_q.weight", h, h)
        quantized(f"blk.{i}.attn_k.weight", n_kv * head_dim, h)
        quantized(f"blk.{i}.attn_v.weight", n_kv * head_dim, h)
        quantized(f"blk.{i}.attn_output.weight", h, h)
        norm(f"blk.{i}.ffn_norm.weight")
        quantized(f"blk.{i}.ffn_gate.weight", ffn, h)
        quantized(f"blk.{i}.ffn_up.weight", ffn, h)
        quantized(f"blk.{i}.ffn_down.weight", h, ffn)
    norm("output_norm.weight")
    quantized("output.weight", vocab, h)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return parameters


def rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=16, help="decode steps of one token")
    parser.add_argument("--prompt-tokens", type=int, default=64)
    parser.add_argument("--dir", help="where the ~4 GB file goes (default: a temporary folder, removed after)")
    args = parser.parse_args()
    import llama_cpp as C
    from llamacpp_ceiling import measure

    from springboard import hardware, hub

    tokenizer_dir = Path(hub.resolve_model("smollm2-135m-instruct"))
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        gguf_file = Path(tmp) / "random-mistral-7b-arch.Q4_0.gguf"
        start = time.perf_counter()
        parameters = write_random_gguf(gguf_file, tokenizer_dir)
        written = time.perf_counter() - start
        size = gguf_file.stat().st_size
        rss_before = rss()
        C.llama_backend_init()
        start = time.perf_counter()
        model = C.llama_model_load_from_file(str(gguf_file).encode(), C.llama_model_default_params())
        load = time.perf_counter() - start
        if not model:
            raise SystemExit(f"llama.cpp could not load {gguf_file}")
        rss_loaded = rss()
        C.llama_model_free(model)
        rows = measure(str(gguf_file), [1], args.steps, args.prompt_tokens, args.threads)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result = {
        "benchmark": "serve_7b_gguf", "cpu": hardware.cpu_name(), "cpu_count": os.cpu_count(), "threads": args.threads,
        "llama_cpp": C.__version__, "load_average_1_5_15_min_at_start": os.getloadavg(),
        "model": "Mistral-7B-v0.1 architecture, RANDOM weights, Q4_0, vocabulary 49152 (the default model's tokenizer)",
        "parameters": parameters, "gguf_bytes": size, "gguf_gb": round(size / GB, 2), "write_seconds": round(written, 1),
        "load_seconds": round(load, 2), "rss_after_load_gb": round((rss_loaded - rss_before) / GB, 2),
        "peak_rss_gb": round(peak / GB, 2),
        "prompt_tokens": args.prompt_tokens, "decode_steps": args.steps,
        "prefill_tokens_per_s": rows[0]["prefill_tokens_per_s"], "decode_tokens_per_s": rows[0]["decode_tokens_per_s"],
        "decode_ms_per_token": rows[0]["decode_ms_per_step"],
        "note": "mmap: the load maps the file, RSS after load counts pages read so far; the peak counts every weight "
                "read by the decode. Random weights: the speed and memory are the size's, the text means nothing.",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
