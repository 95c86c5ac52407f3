"""The fast CPU decode path: llama.cpp (its Python binding, `llama-cpp-python`) behind the Engine.

The transformers model stays loaded and is the reference: tokenizing, chat templates, stop
sequences, token accounting and every feature llama.cpp does not run here (the prompt's
log-probabilities, grammars, beam search, several greedy sequences, watermark, repetition
penalties) stay on it; the generated tokens' log-probabilities come from llama.cpp's own logits. For the
requests it takes, llama.cpp only runs the decode loop over the same token ids: the engine
encodes the prompt with its own tokenizer, llama.cpp returns token ids, and the row is decoded by
the same RowDecoder as every other stream, so greedy outputs are the reference's.

The float32 weights reach llama.cpp as a GGUF converted from the HF directory with the `gguf`
package (Llama-architecture causal models), written once next to the artifact
(`<model_dir>/springboard-f32.gguf`) under a file lock, atomically; other precisions are
quantized from it (generate/precision.py).

Choosing the backend (`backend_for`): `transformers` always works; `llamacpp` needs a CPU
device, a Llama-family causal model and `llama_cpp` importable, and refuses otherwise; `auto`
takes llamacpp where those hold and transformers elsewhere. The choice comes from
Engine.load(backend=...) or else $SPRINGBOARD_GENERATE_BACKEND (default `auto`), and is logged.
At what precision llama.cpp runs is generate/precision.py's; its continuous batching is
generate/llamacpp_batch.py."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from springboard.errors import ValidationError

log = logging.getLogger("springboard.generate")

BACKENDS = ("auto", "transformers", "llamacpp")
ENV = "SPRINGBOARD_GENERATE_BACKEND"
GGUF_NAME = "springboard-f32.gguf"
LLAMA_FAMILY = {"llama"}  # model_type values whose weights map 1:1 onto llama.cpp's "llama" arch


def llama_cpp_available() -> bool:
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        return False
    return True


def requested_backend(requested: str | None) -> str:
    """What was asked for: `requested`, else $SPRINGBOARD_GENERATE_BACKEND, else `auto`."""
    return (requested or os.environ.get(ENV) or "auto").strip().lower()


def backend_for(requested: str | None, device: str, config: Any) -> str:
    """The backend an engine uses: `requested_backend`. An explicit `llamacpp` that cannot run
    here is an error, never ignored."""
    choice = requested_backend(requested)
    if choice not in BACKENDS:
        raise ValidationError(f"unknown generation backend {choice!r}; one of {', '.join(BACKENDS)} "
                              f"(from {'backend' if requested else ENV})")
    if choice == "transformers":
        return choice
    reason = unsupported_reason(device, config)
    if reason is None:
        return "llamacpp"
    if choice == "llamacpp":
        raise ValidationError(f"the llamacpp backend cannot serve this model: {reason}")
    log.info("generation backend auto -> transformers (%s)", reason)
    return "transformers"


def unsupported_reason(device: str, config: Any) -> str | None:
    if device != "cpu":
        return f"it is the CPU path and the device is {device}"
    if getattr(config, "is_encoder_decoder", False) or getattr(config, "model_type", None) not in LLAMA_FAMILY:
        return f"model_type {getattr(config, 'model_type', None)!r} is not a Llama-family causal model"
    rope = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    if rope.get("rope_type", rope.get("type", "default")) != "default":
        return f"rope scaling {rope.get('rope_type', rope.get('type'))!r} is not converted"
    if not llama_cpp_available():
        return "the llama_cpp package (llama-cpp-python) is not installed"
    return None


# -- GGUF conversion ------------------------------------------------------------------------------


def ensure_gguf(model_dir: Path) -> Path:
    """`<model_dir>/springboard-f32.gguf`, converted once (file lock; atomic rename). A stale
    file (older than the weights) is converted again."""
    from filelock import FileLock

    model_dir = Path(model_dir)
    target = model_dir / GGUF_NAME
    weights = sorted(model_dir.glob("*.safetensors"))
    if not weights:
        raise ValidationError(f"no weights (*.safetensors) in {model_dir} to convert to GGUF")
    newest = max(w.stat().st_mtime for w in weights)

    def current() -> bool:
        return target.is_file() and target.stat().st_mtime >= newest

    if current():
        return target
    lock = FileLock(str(model_dir / f".{GGUF_NAME}.lock"), timeout=1800)
    tmp = model_dir / f".{GGUF_NAME}.tmp-{os.getpid()}"
    try:
        with lock:
            if not current():
                log.info("converting %s to GGUF (f32, once) at %s", model_dir, target)
                write_gguf(model_dir, tmp)
                os.replace(tmp, target)
    except OSError as exc:
        raise ValidationError(f"cannot write the GGUF copy for the llamacpp backend at {target}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _permute(w: Any, n_head: int) -> Any:
    """HF's rotate-half q/k rows → llama.cpp's interleaved rope order (as convert_hf_to_gguf)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_gguf(model_dir: Path, out: Path) -> None:
    """A Llama-architecture HF directory (safetensors, byte-level BPE tokenizer.json) → f32 GGUF."""
    import gguf
    import numpy as np
    from safetensors import safe_open
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_dir)
    n_layers = config.num_hidden_layers
    n_head = config.num_attention_heads
    n_kv = getattr(config, "num_key_value_heads", None) or n_head
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // n_head
    rope = getattr(config, "rope_parameters", None) or {}
    theta = rope.get("rope_theta", getattr(config, "rope_theta", 10000.0))

    writer = gguf.GGUFWriter(str(out), "llama")
    writer.add_name(model_dir.name)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(n_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_kv)
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(float(theta))
    writer.add_layer_norm_rms_eps(float(config.rms_norm_eps))
    writer.add_vocab_size(config.vocab_size)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    _write_vocab(writer, model_dir, config.vocab_size)

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, n_layers)
    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise ValidationError(f"no *.safetensors weights in {model_dir}")
    seen = set()
    for file in files:
        with safe_open(str(file), framework="numpy") as fh:
            for name in fh.keys():
                if name.endswith("rotary_emb.inv_freq"):
                    continue
                data = fh.get_tensor(name).astype(np.float32)
                if name.endswith("q_proj.weight"):
                    data = _permute(data, n_head)
                elif name.endswith("k_proj.weight"):
                    data = _permute(data, n_kv)
                mapped = names.get_name(name, try_suffixes=(".weight", ".bias"))
                if mapped is None:
                    raise ValidationError(f"{file.name}: tensor {name!r} has no llama.cpp name (model not converted)")
                seen.add(mapped)
                writer.add_tensor(mapped, np.ascontiguousarray(data))
    if "output.weight" not in seen and not getattr(config, "tie_word_embeddings", False):
        raise ValidationError(f"{model_dir}: no lm_head weight and embeddings are not tied")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _write_vocab(writer: Any, model_dir: Path, n_vocab: int) -> None:
    """The tokenizer as gpt2 BPE (tokens, types, merges, special ids). Springboard tokenizes with
    the HF tokenizer and hands llama.cpp ids, so this only has to be a loadable, id-faithful vocab."""
    import gguf

    path = model_dir / "tokenizer.json"
    if not path.is_file():
        raise ValidationError(f"{model_dir}: no tokenizer.json (a byte-level BPE tokenizer is needed for GGUF)")
    data = json.loads(path.read_text(encoding="utf-8"))
    model = data.get("model", {})
    if model.get("type") != "BPE":
        raise ValidationError(f"{path}: model.type is {model.get('type')!r}; the GGUF export needs BPE")
    by_id: dict[int, str] = {i: t for t, i in model["vocab"].items()}
    control: set[int] = set()
    for added in data.get("added_tokens") or []:
        by_id[added["id"]] = added["content"]
        if added.get("special"):
            control.add(added["id"])
    tokens, types = [], []
    for i in range(n_vocab):
        if i in by_id:
            tokens.append(by_id[i])
            types.append(gguf.TokenType.CONTROL if i in control else gguf.TokenType.NORMAL)
        else:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    special = gguf.SpecialVocab(model_dir, load_merges=True, n_vocab=n_vocab)
    special.add_to_gguf(writer, quiet=True)


# -- the backend ----------------------------------------------------------------------------------


# What llama.cpp runs here as the reference does; any other field away from its default
# (the prompt's log-probabilities, grammars, beams, several greedy sequences, penalties,
# typical_p, watermark, an adapter, or a field added later) keeps the row on transformers.
