"""What this machine's hardware does fast, measured once per process.

The machines differ between sessions (an AMD EPYC with avx512_bf16 runs bf16 matrix products
~2.3x faster than float32, a Xeon with AMX ~4x, a CPU without either emulates bf16 far slower),
so a speed path that depends on the CPU is chosen by a probe at run time, never by a constant.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from dataclasses import dataclass
from typing import Iterator, Literal

log = logging.getLogger("springboard.hardware")

PrecisionName = Literal["float32", "bfloat16"]
# The probe's GEMM: a LoRA step's typical shape on a small model (2048 tokens x 576 -> 1536).
_PROBE_SHAPE = (2048, 576, 1536)
# bf16 must win by this much to be chosen: autocast's casts and the float32 parts of the step
# (norms, softmax, the optimizer) eat part of a GEMM-only gain.
_MIN_GAIN = 1.25


@dataclass(frozen=True)
class CpuBf16:
    """The CPU's bf16 facts: native instructions and the measured GEMM speed-up over float32."""

    native: bool
    speedup: float


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_name() -> str:
    """The CPU's model name as /proc/cpuinfo gives it (benchmarks record it beside their numbers)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def cpu_has_native_bf16() -> bool:
    """avx512_bf16 / AMX on x86, the bf16 extension on Arm: bf16 GEMMs without emulation."""
    flags = _cpu_flags()
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


@functools.cache
def cpu_bf16() -> CpuBf16:
    """Times one float32 and one bf16 GEMM of a training-sized shape (best of 3 after a warm-up;
    ~0.3 s). Measured once per process."""
    import torch

    m, k, n = _PROBE_SHAPE
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(m, k, generator=gen), torch.randn(k, n, generator=gen)

    def best(x: torch.Tensor, y: torch.Tensor) -> float:
        torch.mm(x, y)
        times = []
        for _ in range(3):
            t = time.perf_counter()
            torch.mm(x, y)
            times.append(time.perf_counter() - t)
        return min(times)

    with torch.no_grad():
        fp32 = best(a, b)
        bf16 = best(a.bfloat16(), b.bfloat16())
    found = CpuBf16(native=cpu_has_native_bf16(), speedup=fp32 / max(bf16, 1e-9))
    log.info("bf16 probe: GEMM %.2fx float32's speed (native bf16 instructions: %s)", found.speedup, found.native)
    return found


@dataclass(frozen=True)
class Precision:
    """The precision a run computes in and why. `bfloat16` is mixed precision: matrix products
    under torch.autocast in bf16, trained weights and optimizer state in float32."""

    name: PrecisionName
    requested: str
    reason: str

    @property
    def bf16(self) -> bool:
        return self.name == "bfloat16"

    def describe(self) -> str:
        return f"precision {self.name} (requested {self.requested}: {self.reason})"

    @contextlib.contextmanager
    def autocast(self, device_type: str) -> Iterator[None]:
        import torch

        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=self.bf16):
            yield


def choose_precision(requested: str, device_type: str) -> Precision:
    """`auto`: bf16 on a GPU with bf16 and on a CPU whose measured bf16 GEMM is faster, float32
    otherwise. `bfloat16` asked on a GPU without bf16 is an error; on a CPU without native bf16
    instructions (emulated bf16 runs many times slower than float32) it falls back to float32,
    logged with the reason. `float32` is always honoured."""
    import torch

    from springboard.errors import HyperparameterError

    if requested not in ("auto", "float32", "bfloat16"):
        raise HyperparameterError(f"hyperparameter 'precision': must be one of 'auto', 'float32', 'bfloat16' (got {requested!r})")
    if requested == "float32":
        return Precision("float32", requested, "as requested")
    if device_type == "cuda":
        if torch.cuda.is_bf16_supported():
            return Precision("bfloat16", requested, f"{torch.cuda.get_device_name()} supports bf16")
        if requested == "bfloat16":
            raise HyperparameterError(
                f"hyperparameter 'precision': bfloat16 needs a GPU with bf16 (compute capability 8.0+); "
                f"{torch.cuda.get_device_name()} has none: use precision=float32 or auto"
            )
        return Precision("float32", requested, f"{torch.cuda.get_device_name()} has no bf16")
    if not cpu_has_native_bf16():
        return Precision("float32", requested, "this CPU has no native bf16 instructions (avx512_bf16, AMX); "
                         "emulated bf16 is slower than float32" + (", bfloat16 not used" if requested == "bfloat16" else ""))
    if requested == "bfloat16":
        return Precision("bfloat16", requested, "as requested; this CPU has native bf16 instructions")
    probe = cpu_bf16()
    if probe.speedup >= _MIN_GAIN:
        return Precision("bfloat16", requested, f"this CPU's bf16 GEMM measured {probe.speedup:.2f}x float32's speed")
    return Precision("float32", requested, f"this CPU's bf16 GEMM measured only {probe.speedup:.2f}x float32's speed "
                     f"(bf16 is used from {_MIN_GAIN}x)")


INT8_INSTALL = "pip install 'bitsandbytes>=0.49'"


def int8_backend() -> str | None:
    """The library that gives LoRA 8-bit base weights here: bitsandbytes (>= 0.49 has a CPU
    backend as well as CUDA), or None where it is not installed."""
    import importlib.metadata

    try:
        version = importlib.metadata.version("bitsandbytes")
    except importlib.metadata.PackageNotFoundError:
        return None
    major, minor = (int(x) for x in version.split(".")[:2])
    return "bitsandbytes" if (major, minor) >= (0, 49) else None
