"""One LoRA optimizer step at the seeds' scale: Mistral-7B's and FLAN-T5-XL's ARCHITECTURES with
RANDOM weights (never presented as the models: no checkpoint is read, the losses mean nothing).

Issue 21's claim: a LoRA step of a 7B at sequence 512, batch 1, bf16, gradient checkpointing fits
in 20 GB peak RSS on a 24 GB CPU machine; FLAN-T5-XL (3B) the same. Reports s/step and memory
by part: frozen base weights, LoRA weights + gradients + AdamW state, and the rest of the step's
peak (activations kept by checkpointing, recomputation, workspace).

The path is the training loop's own: peft LoRA on q/v projections (float32), `forward.loss_sum`
(the LM head at label positions only) under the run's bf16 autocast, gradient checkpointing.
The frozen base is built directly in bf16 (a float32 7B alone is 28 GB).

The architecture is checked against our catalog's entry for the model (hidden size, layers,
parameter count; the catalog counts T5's input embedding tables once more, as its checkpoint
stores them, so FLAN-T5-XL's count is within 3%), so the step is the catalogued model's size.

    .venv/bin/python benchmarks/train_7b_memory.py --arch mistral-7b     # needs > 20 GB available (~5 min)
    .venv/bin/python benchmarks/train_7b_memory.py --arch flan-t5-xl     # ~10 GB (~3 min)
    .venv/bin/python benchmarks/train_7b_memory.py --arch flan-t5-xl --shrink   # plumbing: ~50M parameters

It refuses to start when MemAvailable is below --min-available-gb (default 20; 2 with --shrink
or --layers): the machine may be shared and a 7B step takes ~16 GB. `--shrink` (hidden sizes
/4, 4 layers) and `--layers` are dry runs of the plumbing, written to their own result file and
marked as such: not the model's memory.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
GB = 2**30


def config_for(arch: str):
    """The published architecture hyperparameters (config.json of mistralai/Mistral-7B-v0.1 and
    google/flan-t5-xl); weights are random."""
    from transformers import MistralConfig, T5Config

    if arch == "mistral-7b":
        return MistralConfig(vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                             num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=32768,
                             rms_norm_eps=1e-5, rope_theta=10000.0, sliding_window=4096, tie_word_embeddings=False)
    if arch == "flan-t5-xl":
        return T5Config(vocab_size=32128, d_model=2048, d_kv=64, d_ff=5120, num_layers=24, num_decoder_layers=24,
                        num_heads=32, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
                        decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    raise SystemExit(f"--arch: unknown {arch!r}; known: mistral-7b, flan-t5-xl")


CATALOG_IDS = {"mistral-7b": "huggingface-llm-mistral-7b", "flan-t5-xl": "huggingface-text2text-flan-t5-xl"}


def check_against_catalog(arch: str, config, parameters: int) -> dict:
    """The built architecture against the catalog's entry: hidden size and layers exactly, the
    parameter count within 3% (T5: the checkpoint stores the tied input embeddings apart)."""
    from springboard.hub import get_model_spec

    spec = get_model_spec(CATALOG_IDS[arch])
    hidden = getattr(config, "d_model", None) or config.hidden_size
    layers = (config.num_layers + config.num_decoder_layers) if hasattr(config, "num_decoder_layers") \
        else config.num_hidden_layers
    facts = {"catalog_id": spec.model_id, "catalog_parameters": spec.parameters, "built_parameters": parameters,
             "catalog_hidden_size": spec.hidden_size, "catalog_num_layers": spec.num_layers}
    if (hidden, layers) != (spec.hidden_size, spec.num_layers) or abs(parameters / spec.parameters - 1) > 0.03:
        raise SystemExit(f"the built {arch} (hidden {hidden}, {layers} layers, {parameters} parameters) does not match "
                         f"the catalog's {spec.model_id}: {facts}")
    return facts


def shrunken(config):
    """A ~50-130M-parameter dry-run config of the same family: hidden sizes /4, 4 layers, the
    vocabulary kept (the LM head's cost stays the model's)."""
    config = config.__class__.from_dict(config.to_dict())
    if hasattr(config, "d_model"):  # T5
        config.d_model, config.d_ff, config.num_heads = config.d_model // 4, config.d_ff // 4, config.num_heads // 4
        config.num_layers = config.num_decoder_layers = 4
    else:
        config.hidden_size, config.intermediate_size = config.hidden_size // 4, config.intermediate_size // 4
        config.num_attention_heads, config.num_key_value_heads = config.num_attention_heads // 4, config.num_key_value_heads // 4
        config.num_hidden_layers = 4
    return config


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _reset_peak() -> None:
    """Resets VmHWM (the peak RSS) so the step's peak is measured apart from building the model."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def mem_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", default="mistral-7b", choices=["mistral-7b", "flan-t5-xl"])
    p.add_argument("--seq", type=int, default=512)
    p.add_argument("--target", type=int, default=128, help="label tokens (causal: the last N positions; T5: decoder length)")
    p.add_argument("--steps", type=int, default=2, help="optimizer steps timed (the first includes warm-up)")
    p.add_argument("--lora-r", type=int, default=8)
    p.add_argument("--min-available-gb", type=float, default=None, help="default 20; 2 with --shrink or --layers")
    p.add_argument("--layers", type=int, default=None,
                   help="build only N layers: a dry run of the plumbing (then not the model's memory)")
    p.add_argument("--shrink", action="store_true",
                   help="hidden sizes /4 and 4 layers (~50-130M parameters): a dry run of the plumbing")
    p.add_argument("--output", default=None)
    args = p.parse_args(argv)
    dry_run = bool(args.shrink or args.layers)
    if args.min_available_gb is None:
        args.min_available_gb = 2.0 if dry_run else 20.0
    available = mem_available() / GB
    if available < args.min_available_gb:
        print(f"refusing to start: MemAvailable {available:.1f} GB < --min-available-gb {args.min_available_gb}",
              file=sys.stderr)
        return 2

    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    from springboard.hardware import choose_precision
    from springboard.train.forward import _split_head, loss_sum

    seq2seq = args.arch == "flan-t5-xl"
    config = config_for(args.arch)
    with torch.device("meta"):
        full = (AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM).from_config(config)
    catalog = check_against_catalog(args.arch, config, sum(p.numel() for p in full.parameters()))
    del full
    if args.shrink:
        config = shrunken(config)
    if args.layers:
        for key in ("num_hidden_layers", "num_layers", "num_decoder_layers"):
            if hasattr(config, key):
                setattr(config, key, args.layers)
    rss_start = _status("VmRSS")
    t = time.perf_counter()
    torch.manual_seed(0)
    cls = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
    model = cls.from_config(config, dtype=torch.bfloat16)  # random weights
    build_seconds = time.perf_counter() - t
    model.config.use_cache = False
    targets = ["q", "v"] if seq2seq else ["q_proj", "v_proj"]
    model = get_peft_model(model, LoraConfig(task_type=TaskType.SEQ_2_SEQ_LM if seq2seq else TaskType.CAUSAL_LM,
                                             r=args.lora_r, lora_alpha=2 * args.lora_r, target_modules=targets))
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.enable_input_require_grads()
    model.train()
    frozen = sum(p.numel() * p.element_size() for p in model.parameters() if not p.requires_grad)
    trainable = [p for p in model.parameters() if p.requires_grad]
    lora_bytes = sum(p.numel() * p.element_size() for p in trainable)
    optimizer = torch.optim.AdamW(trainable, lr=1e-4)
    precision = choose_precision("bfloat16", "cpu")
    rss_model = _status("VmRSS")

    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(3, config.vocab_size, (1, args.seq), generator=gen)
    mask = torch.ones_like(ids)
    if seq2seq:
        labels = torch.randint(3, config.vocab_size, (1, args.target), generator=gen)
    else:
        labels = torch.full_like(ids, -100)
        labels[:, -args.target:] = ids[:, -args.target:]
    batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    split = None if seq2seq else _split_head(model)
    _reset_peak()
    times, losses = [], []
    for _ in range(args.steps):
        t = time.perf_counter()
        with precision.autocast("cpu"):
            loss, n = loss_sum(model, batch, seq2seq, split)
        (loss / n).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t)
        losses.append(loss.item() / int(n))
    peak = _status("VmHWM")
    optimizer_bytes = sum(s.numel() * s.element_size() for st in optimizer.state.values()
                          for s in st.values() if torch.is_tensor(s))
    report = {
        "arch": args.arch, "random_weights": True, "seq": args.seq, "batch": 1, "label_tokens": args.target,
        "dry_run": (f"shrunken config (hidden sizes /4, 4 layers), NOT {args.arch}'s memory" if args.shrink else
                    f"{args.layers} layers only, NOT {args.arch}'s memory" if args.layers else False),
        "layers": args.layers or (4 if args.shrink else "all (the real architecture)"),
        "catalog": catalog,
        "precision": precision.describe(), "gradient_checkpointing": True, "lora_r": args.lora_r,
        "parameters": sum(p.numel() for p in model.parameters()),
        "build_seconds": build_seconds, "step_seconds": times,
        "seconds_per_step": sum(times[1:]) / len(times[1:]) if len(times) > 1 else times[0],
        "seconds_per_step_note": "mean over the steps after the first (warm-up)" if len(times) > 1 else "one step",
        "loss": losses,
        "peak_rss_gb": peak / GB,
        "memory_gb": {
            "process_before_model": rss_start / GB,
            "frozen_base_weights_bf16": frozen / GB,
            "lora_weights_grads_adamw_fp32": (2 * lora_bytes + optimizer_bytes) / GB,
            "rest_of_step_peak (activations, recompute, workspace)": max(peak - rss_model - lora_bytes - optimizer_bytes, 0) / GB,
        },
        "mem_available_before_gb": available,
        "torch_threads": torch.get_num_threads(),
        "note": "random weights: the architecture's cost, not the model's quality; a shared machine's timings",
    }
    suffix = "_shrunk" if args.shrink else f"_{args.layers}layers" if args.layers else ""
    out = Path(args.output) if args.output else RESULTS / f"train_7b_memory_{args.arch}{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
