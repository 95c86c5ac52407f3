"""Precision as a setting: which weights an engine computes with, chosen explicitly or by `auto`.

Two settings, where SageMaker and TGI users give them (the model container's environment):
`DTYPE` (`float32` | `bfloat16` | `auto`) and `QUANTIZE` (a GGUF type: `q8_0`, `q4_1`, `q4_k_m`,
... | `auto`). They are alternatives: DTYPE picks float weights, QUANTIZE quantized ones; giving
both is an error. Quantized types run on the llama.cpp backend only.

`auto` (the default; quality measured by benchmarks/precision_quality.py, README "Precision"):
- llama.cpp (CPU, Llama-family causal model): the model's own GGUF served as shipped when it came
  as one (the default model's Q4_1 file: the very weights the float32 copy is dequantized from),
  else Q8_0 converted at deploy.
- transformers: float32 on the CPU (the reference), bfloat16 on CUDA.
- batch work (`Engine.load(workload="batch")`: transform jobs, evaluation's generate-then-score)
  on a CPU whose bf16 GEMM measures faster than float32's (`hardware.choose_precision`, the
  training probe): the transformers backend in bfloat16, when nothing was asked for (backend,
  DTYPE, QUANTIZE all auto). Many rows at once make the work compute-bound (prefill above all),
  where bf16 GEMM wins; one stream's decode is memory-bound, where llama.cpp's 4-bit weights win.
  Measured (benchmarks/transform_vs_pipeline.py, SmolLM2, 256 records, 2-core EPYC): 3.09x a
  float32 `pipeline(batch_size=32)` with ROUGE-L +0.0007, where llama.cpp's Q4_1 made 0.96x.

The probe (`cpu_features`, once per process, logged) reads what llama.cpp's CPU backend was built
for and runs on; the chosen precision's reason names it, so Describe shows why.

Converted GGUF files are cached beside the artifact under `gguf/`, named by the weights' content
hash and the type, and written to a temporary name then renamed: a failed or interrupted
conversion leaves nothing under the final name."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from springboard.errors import DataError, ValidationError

log = logging.getLogger("springboard.generate")

DTYPES = ("auto", "float32", "bfloat16")
# QUANTIZE values: llama.cpp's file types (llama_ftype) and the row block each needs
QUANT_TYPES: dict[str, tuple[int, int]] = {
    "q8_0": (7, 32), "q4_0": (2, 32), "q4_1": (3, 32), "q5_0": (8, 32), "q5_1": (9, 32),
    "q2_k": (10, 256), "q3_k_s": (11, 256), "q3_k_m": (12, 256), "q3_k_l": (13, 256),
    "q4_k_s": (14, 256), "q4_k_m": (15, 256), "q5_k_s": (16, 256), "q5_k_m": (17, 256), "q6_k": (18, 256),
}
BF16_FTYPE = 32
AUTO_QUANT = "q8_0"  # a converted artifact's auto type (the choice; its quality: README "Precision")
CACHE_DIR = "gguf"
# the GGUF general.file_type of shipped files, by llama_ftype number
_FTYPE_NAMES = {0: "f32", 1: "f16", 32: "bf16", **{v[0]: k for k, v in QUANT_TYPES.items()}}


@dataclass(frozen=True)
class Precision:
    """What an engine serves with, and why (DescribeEndpoint / `endpoints describe` show it)."""

    backend: str  # "llamacpp" | "transformers"
    weights: str  # "float32" | "bfloat16" | a GGUF type ("q4_1")
    source: str  # "shipped" (the model's own GGUF) | "converted" | "reference" (the HF weights)
    reason: str
    gguf: Path | None = None  # the file llama.cpp loads

    @property
    def label(self) -> str:
        return f"{self.backend}:{self.weights}" + ("-shipped" if self.source == "shipped" else "")

    @property
    def exact(self) -> bool:
        """Whether it computes the reference's float32 weights (llama.cpp then takes single
        rows only; everything else stays on transformers, whose outputs it equals)."""
        return self.weights == "float32"


def parse(dtype: str | None, quantize: str | None) -> tuple[str, str]:
    """Validated (dtype, quantize), each `auto` when unset. Bad values name the setting."""
    d = (dtype or "auto").strip().lower()
    q = (quantize or "auto").strip().lower()
    d = {"fp32": "float32", "bf16": "bfloat16"}.get(d, d)
    if d not in DTYPES:
        raise DataError(f"unknown DTYPE {dtype!r}; one of {', '.join(DTYPES)} (float16 runs on CUDA only: "
                        "give it to the transformers backend as dtype)", field="DTYPE")
    if q not in QUANT_TYPES and q != "auto":
        raise DataError(f"unknown QUANTIZE {quantize!r}; one of auto, {', '.join(QUANT_TYPES)}", field="QUANTIZE")
    if d != "auto" and q != "auto":
        raise DataError(f"give DTYPE ({d}) or QUANTIZE ({q}), not both: they choose the same weights",
                        field="QUANTIZE")
    return d, q


def from_environment(env: dict[str, str] | None) -> tuple[str | None, str | None]:
    """(DTYPE, QUANTIZE) from a model container's environment, validated."""
    env = env or {}
    dtype, quantize = env.get("DTYPE"), env.get("QUANTIZE")
    parse(dtype, quantize)
    return dtype, quantize


@functools.cache
def cpu_features() -> tuple[str, ...]:
    """The probe: the SIMD features llama.cpp's CPU backend reports here (once per process)."""
    try:
        import llama_cpp

        info = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
    except Exception:  # noqa: BLE001 - no llama.cpp: no features to report
        return ()
    found = tuple(sorted(_flags(info)))
    log.info("precision probe: llama.cpp CPU features %s", ", ".join(found) or "none")
    return found


def _flags(info: str) -> set[str]:
    """`AVX2 = 1`-style entries of llama.cpp's system info that are on."""
    out = set()
    for part in info.split("|"):
        name, _, value = part.partition("=")
        if value.strip() == "1":
            out.add(name.split(":")[-1].strip())
    return out


def choose(dtype: str | None, quantize: str | None, backend: str, device: str, config: Any,
           model_dir: Path, spec: Any = None) -> Precision:
    """The precision an engine on `backend` serves `model_dir` with (nothing converted yet)."""
    if backend != "llamacpp":  # DTYPE is the torch dtype (float16 too, on CUDA), checked by the loader
        q = parse(None, quantize)[1]
        d = (dtype or "auto").strip().lower()
        d = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}.get(d, d)
        if q != "auto":
            raise DataError(f"QUANTIZE={q} runs on the llamacpp backend (GGUF), and this engine is on "
                            f"{backend} ({'a ' + device + ' device' if device != 'cpu' else 'by request or model type'})",
                            field="QUANTIZE")
        weights = d if d != "auto" else ("float32" if device == "cpu" else "bfloat16")
        why = f"DTYPE={d}" if d != "auto" else (
            "auto: float32 on the CPU (the reference; bfloat16 quality is measured for the llamacpp backend only)"
            if device == "cpu" else "auto: bfloat16 on CUDA")
        return Precision(backend, weights, "reference", f"transformers, {why}")
    d, q = parse(dtype, quantize)
    features = ", ".join(f for f in cpu_features() if f.startswith(("AVX", "AMX", "F16C", "FMA", "NEON"))) or "?"
    shipped = shipped_gguf(model_dir, spec)
    if d == "float32":
        return Precision(backend, "float32", "converted", f"llama.cpp, DTYPE=float32 (CPU: {features})")
    if d == "bfloat16":
        native = any("BF16" in f for f in cpu_features())
        return Precision(backend, "bfloat16", "converted",
                         f"llama.cpp, DTYPE=bfloat16 ({'native' if native else 'no native'} bf16 on this CPU: {features})")
    if shipped is not None and q in ("auto", shipped[1]):
        how = "QUANTIZE=" + q if q != "auto" else "auto"
        return Precision(backend, shipped[1], "shipped",
                         f"llama.cpp, {how}: the model's own {shipped[1].upper()} GGUF as shipped, the weights its "
                         f"float32 copy was dequantized from (CPU: {features})", gguf=shipped[0])
    target = q if q != "auto" else AUTO_QUANT
    check_blocks(target, config, explicit=q != "auto")
    how = f"QUANTIZE={q}" if q != "auto" else f"auto: {AUTO_QUANT} for weights that do not ship as a GGUF"
    return Precision(backend, target, "converted", f"llama.cpp, {how}, converted at deploy (CPU: {features})")


def batch_choice(backend: str | None, dtype: str | None, quantize: str | None, device: str,
                 config: Any) -> tuple[str | None, str | None, str | None]:
    """(backend, dtype, reason) for batch work: transformers in bfloat16 on a CPU whose bf16
    GEMM measures faster, when backend, DTYPE and QUANTIZE are all auto; else as given (reason
    None). Causal models only (seq2seq quality in bf16 is not measured)."""
    from springboard.generate.llamacpp import requested_backend

    asked = [requested_backend(backend), dtype or "auto", quantize or "auto"]
    if device != "cpu" or any(str(a).strip().lower() != "auto" for a in asked) \
            or getattr(config, "is_encoder_decoder", False):
        return backend, dtype, None
    from springboard.hardware import choose_precision

    probe = choose_precision("auto", "cpu")
    if not probe.bf16:
        return backend, dtype, None
    return "transformers", "bfloat16", (
        f"transformers, auto for batch work: bfloat16 ({probe.reason}); batched rows are compute-bound, where "
        "bf16 GEMM wins (endpoints, one stream at a time, stay on llama.cpp)")


def check_blocks(quant: str, config: Any, explicit: bool = True) -> None:
    """Refuses a type whose blocks do not tile this model's weight rows (llama.cpp would quietly
    put other types in their place)."""
    block = QUANT_TYPES[quant][1]
    n_head = getattr(config, "num_attention_heads", 1)
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // n_head
    rows = {"hidden_size": config.hidden_size, "intermediate_size": getattr(config, "intermediate_size", block),
            "num_attention_heads x head_dim": n_head * head_dim}
    bad = {k: v for k, v in rows.items() if v % block}
    if bad:
        k, v = next(iter(bad.items()))
        raise DataError(f"QUANTIZE={quant} packs rows in blocks of {block} weights and this model's {k} is {v} "
                        f"(not a multiple): {'choose another type' if explicit else 'it cannot run here'}",
                        field="QUANTIZE")


def shipped_gguf(model_dir: Path, spec: Any) -> tuple[Path, str] | None:
    """(the GGUF file, its type) when `model_dir` is the dequantized copy of a model that ships as
    a GGUF (its conversion marker matches the installed file), else None. A fine-tuned artifact
    of that model is not: its weights differ."""
    from springboard.hub.convert import MARKER, gguf_path, is_current, source_fingerprint

    source = getattr(spec, "source", None)
    if getattr(source, "type", None) != "gguf_package" or not (Path(model_dir) / MARKER).is_file():
        return None
    try:
        path = gguf_path(spec)
    except Exception:  # noqa: BLE001 - the package is gone: convert as any artifact
        return None
    if not is_current(Path(model_dir), source_fingerprint(spec, path)):
        return None
    return path, gguf_file_type(path)


def gguf_file_type(path: Path) -> str:
    import gguf

    reader = gguf.GGUFReader(str(path))
    field = reader.get_field("general.file_type")
    if field is None:
        return "unknown"
    number = int(field.parts[field.data[0]][0])
    return _FTYPE_NAMES.get(number, f"ftype{number}")


def resolve(dtype: str | None, quantize: str | None, backend: str, device: str, config: Any,
            model_dir: Path, spec: Any = None) -> Precision:
    """`choose`, then `materialize`: the precision with its GGUF file ready (llama.cpp)."""
    return materialize(choose(dtype, quantize, backend, device, config, model_dir, spec), model_dir)


# -- files ----------------------------------------------------------------------------------------


def materialize(precision: Precision, model_dir: Path) -> Precision:
    """The precision with its GGUF file on disk: shipped as is, else converted (once, cached by
    content hash, atomically). A failed conversion raises naming the setting and leaves no file."""
    from dataclasses import replace

    from springboard.generate.llamacpp import ensure_gguf

    if precision.backend != "llamacpp" or precision.gguf is not None:
        return precision
    setting = "DTYPE" if precision.weights in ("float32", "bfloat16") else "QUANTIZE"
    try:
        f32 = ensure_gguf(model_dir)
    except ValidationError as exc:
        raise DataError(f"{setting}={precision.weights}: cannot convert the model to GGUF: {exc}", field=setting) from exc
    if precision.weights == "float32":
        return replace(precision, gguf=f32)
    ftype = BF16_FTYPE if precision.weights == "bfloat16" else QUANT_TYPES[precision.weights][0]
    cache = _cache_dir(model_dir)
    target = cache / f"{content_hash(model_dir)[:16]}-{precision.weights}.gguf"
    if not target.is_file():
        _quantize(f32, target, ftype, setting, precision.weights)
    return replace(precision, gguf=target)


def _cache_dir(model_dir: Path) -> Path:
    """`<model_dir>/gguf`, or under the models directory when the artifact is read-only."""
    from springboard import settings

    for candidate in (Path(model_dir) / CACHE_DIR,
                      settings.models_dir() / CACHE_DIR / hashlib.sha256(str(Path(model_dir).resolve()).encode()).hexdigest()[:16]):
        try:
            candidate.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(candidate, os.W_OK):
            return candidate
    raise DataError(f"no writable place for the GGUF copy of {model_dir}", field="QUANTIZE")


def _quantize(f32: Path, target: Path, ftype: int, setting: str, name: str) -> None:
    import llama_cpp
    from filelock import FileLock

    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    with FileLock(str(target.with_name(f".{target.name}.lock")), timeout=1800):
        if target.is_file():
            return
        log.info("converting %s to %s at %s (once)", f32, name, target)
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = ftype
        params.nthread = os.cpu_count() or 1
        try:
            status = llama_cpp.llama_model_quantize(str(f32).encode(), str(tmp).encode(), params)
            if status != 0 or not tmp.is_file():
                raise DataError(f"{setting}={name}: llama.cpp's quantizer failed on {f32} (status {status})",
                                field=setting)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)


def content_hash(model_dir: Path) -> str:
    """sha256 over the weights, config and tokenizer files (names and bytes); remembered in
    `gguf/.digest.json` by size and mtime so a reload does not read the weights again."""
    model_dir = Path(model_dir)
    files = sorted(p for p in model_dir.iterdir() if p.is_file() and (
        p.suffix == ".safetensors" or p.name in ("config.json", "tokenizer.json", "tokenizer_config.json")))
    stamp = [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files]
    memo = model_dir / CACHE_DIR / ".digest.json"
    try:
        saved = json.loads(memo.read_text())
        if saved.get("files") == stamp:
            return str(saved["sha256"])
    except (OSError, ValueError, KeyError):
        pass
    digest = hashlib.sha256()
    for p in files:
        digest.update(p.name.encode() + b"\0")
        with open(p, "rb") as fh:
            for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                digest.update(block)
    value = digest.hexdigest()
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_name(f".digest.tmp-{os.getpid()}")
        tmp.write_text(json.dumps({"files": stamp, "sha256": value}))
        os.replace(tmp, memo)
    except OSError:
        pass  # read-only artifact: hashed again next time
    return value


# -- quality --------------------------------------------------------------------------------------


def perplexity(gguf: Path, windows: list[list[int]], threads: int = 0) -> float:
    """exp(mean next-token negative log-likelihood) of the token windows under llama.cpp running
    `gguf` (each window read from its start; its first token is not scored)."""
    import math

    import numpy as np
    from llama_cpp import Llama

    llm = Llama(model_path=str(gguf), n_ctx=max(len(w) for w in windows), n_batch=512, logits_all=True,
                n_threads=threads or os.cpu_count(), n_threads_batch=threads or os.cpu_count(), verbose=False)
    try:
        nll, count = 0.0, 0
        for window in windows:
            llm.reset()
            llm.eval(window)
            logits = np.asarray(llm.scores[: len(window) - 1], dtype=np.float64)
            top = logits.max(axis=1, keepdims=True)
            logz = np.log(np.exp(logits - top).sum(axis=1)) + top[:, 0]
            nll += float((logz - logits[np.arange(len(window) - 1), window[1:]]).sum())
            count += len(window) - 1
    finally:
        llm.close()
    return math.exp(nll / count)


def greedy(gguf: Path, prompts: list[list[int]], tokens: int, eos: set[int], threads: int = 0) -> list[list[int]]:
    """Each prompt's greedy continuation: `tokens` ids, or fewer up to one of `eos`."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(gguf), n_ctx=max(map(len, prompts)) + tokens, n_batch=512,
                n_threads=threads or os.cpu_count(), n_threads_batch=threads or os.cpu_count(), verbose=False)
    out = []
    try:
        for prompt in prompts:
            ids: list[int] = []
            for token in llm.generate(prompt, temp=0.0, top_k=1, repeat_penalty=1.0, reset=True):
                if token in eos or len(ids) >= tokens:
                    break
                ids.append(int(token))
            out.append(ids)
    finally:
        llm.close()
    return out
