"""A cheaper CPU decode step: two costs of HF's eager forward that batching on the CPU makes large,
measured on SmolLM2-135M (float32, 2 cores, ~100 cached positions): 16 rows ~74 ms a step before,
~56 after, logits equal bit for bit.

- **Packed weights** (`pack_linears`). MKL's `sgemm` repacks the weight matrix into its kernel's
  layout on every call; with 2-256 rows a step that repacking is a sixth to a quarter of each
  matmul. MKL's packed GEMM (`cblas_sgemm_pack` once, `sgemm_compute` per call; torch exposes it
  as `torch.ops.mkl._mkl_linear`, what Inductor's CPU freezing uses) skips it. From 16 rows on it
  equals, bit for bit, what `F.linear` gives. Below 16 rows sgemm's results differ in the last
  bits between batch sizes; which of those row counts the packed GEMM gives each row its 16-row
  result for depends on the CPU (every count tried on the Intel Xeon this was measured on; only 4,
  8 and 12-15 on an AMD EPYC, where F.linear agrees at those too), so `_batch_invariant_rows` measures it once per
  process and only those passes of a batch are packed; the others, a single stream's passes of
  under 16 rows (its decode steps, a short prompt) and large prefill chunks (no gain there) keep
  `F.linear`, so a single stream stays bit-equal to HF `generate()`. It costs a second copy of
  the linear weights (the originals serve the other passes), so it is used only where memory
  allows, and only while one engine is loaded in the process (`pack_if_alone`);
  `SPRINGBOARD_PACKED_WEIGHTS=0` turns it off.
- **A KV cache that grows in place** (`growing_cache`). transformers' DynamicLayer appends each
  step's keys and values with `torch.cat`, copying the whole cache of every layer every step
  (16 rows x 100 positions: ~70 MB a step, a fifth of the step); `GrowingLayer` keeps spare
  columns and writes the new ones in place."""

from __future__ import annotations

import functools
import logging
import os
import weakref
from typing import Any

log = logging.getLogger("springboard.generate")

_EXACT_ROWS = 16  # from here on F.linear (sgemm) uses the kernel the packed GEMM does: equal bit for bit
_MAX_ROWS = 512  # above, no gain (prefill chunks)
_PACK_FOR = 16  # the row count MKL packs for (its results do not depend on it)


def packing_available() -> bool:
    import torch

    return (os.environ.get("SPRINGBOARD_PACKED_WEIGHTS", "1") != "0" and torch.backends.mkl.is_available()
            and hasattr(torch.ops.mkl, "_mkl_linear") and hasattr(torch.ops.mkl, "_mkl_reorder_linear_weight")
            and _batch_invariant_rows() is not None)


@functools.cache
def _batch_invariant_rows() -> frozenset[int] | None:
    """The row counts of 2-15 for which this CPU's packed GEMM gives each row what a 16-row pass
    gives; None where packed passes of 16 rows or more are not bit-equal to F.linear (then nothing
    is packed). Measured once per process on a small random layer."""
    import torch
    import torch.nn.functional as F

    gen = torch.Generator().manual_seed(0)
    weight, x = torch.randn(96, 160, generator=gen), torch.randn(64, 160, generator=gen)
    with torch.inference_mode():
        packed = torch.ops.mkl._mkl_reorder_linear_weight(weight, _PACK_FOR)

        def run(rows: int) -> Any:
            return torch.ops.mkl._mkl_linear(x[:rows], packed, weight, None, rows)

        if not all(torch.equal(run(rows), F.linear(x[:rows], weight)) for rows in (16, 17, 33, 64)):
            log.info("packed weights: not used (this CPU's packed GEMM is not bit-equal to F.linear)")
            return None
        full = run(_EXACT_ROWS)
        return frozenset(rows for rows in range(2, _EXACT_ROWS) if torch.equal(run(rows), full[:rows]))


def pack_linears(model: Any) -> int:
    """Gives the model's float32 CPU linear layers MKL-packed weights for passes of 2-512 rows,
    when the packed copy fits in available memory with room to spare. Returns how many layers
    were packed. A weight changed in place afterwards (merged adapter) is packed again."""
    import torch

    if not packing_available():
        return 0
    layers = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.weight.dtype == torch.float32
              and m.weight.device.type == "cpu"]
    need = sum(m.weight.numel() * 4 for m in layers)
    free = _available_memory()
    if not layers or need * 4 > free:
        log.info("packed weights: not used (%d MB needed, %d MB available)", need >> 20, free >> 20)
        return 0
    small = _batch_invariant_rows()
    for layer in layers:
        layer.forward = _PackedForward(layer, small)
    log.info("packed weights: %d linear layers (%d MB)", len(layers), need >> 20)
    return len(layers)


_LIVE: weakref.WeakSet = weakref.WeakSet()  # models loaded by engines in this process


def pack_if_alone(model: Any) -> int:
    """The engine's policy: packed weights while this is the only engine's model in the process.
    Three engines in one process (three endpoints on one server) stepped ~25% slower packed than
    plain on 2 cores (benchmarks/multi_adapter.py, separate mode: 44 vs 58 tokens/s), while one
    engine steps ~20% faster: a second engine unpacks the first and is not packed."""
    others = [m for m in list(_LIVE) if m is not model]
    if others:  # engines dropped but not yet collected (models hold reference cycles) do not count
        import gc

        gc.collect()
        others = [m for m in list(_LIVE) if m is not model]
    _LIVE.add(model)
    if others:
        for other in others:
            unpack_linears(other)
        return 0
    return pack_linears(model)


def unpack_linears(model: Any) -> None:
    """Back to plain F.linear (the packed copies are freed)."""
    for module in model.modules():
        if isinstance(module.__dict__.get("forward"), _PackedForward):
            del module.forward


def _available_memory() -> int:
    """Bytes of memory available (Linux's MemAvailable; else free pages)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


class _PackedForward:
    """A Linear's forward that uses its MKL-packed weight for passes of 2-512 rows."""

    def __init__(self, layer: Any, small: frozenset[int]) -> None:
        self.layer = weakref.ref(layer)  # the layer holds this forward: no reference cycle
        self.small = small  # the row counts under 16 packed for a batch (_batch_invariant_rows)
        self.packed: Any = None
        self.version = -1

    def __call__(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        import torch
        import torch.nn.functional as F

        layer = self.layer()
        weight = layer.weight
        rows = x.numel() // max(x.shape[-1], 1)
        batch = x.shape[0] if x.dim() > 2 else rows
        # 16-512 rows: equal to F.linear; some of 2-15 rows of a batch: what a 16-row F.linear gives
        packs = _EXACT_ROWS <= rows <= _MAX_ROWS or (batch > 1 and rows in self.small)
        if (args or kwargs or not packs or x.dtype != torch.float32
                or (torch.is_grad_enabled() and (weight.requires_grad or x.requires_grad))):
            return F.linear(x, weight, layer.bias, *args, **kwargs)
        if self.version != weight._version or self.packed is None:
            self.packed = torch.ops.mkl._mkl_reorder_linear_weight(weight.detach(), _PACK_FOR)
            self.version = weight._version
        return torch.ops.mkl._mkl_linear(x, self.packed, weight, layer.bias, rows)


def growing_cache(config: Any) -> Any:
    """A DynamicCache for `config` whose full-attention layers grow in place (GrowingLayer)."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    cache = DynamicCache(config=config)
    grow = growing_layer_class()
    cache.layers = [grow() if type(layer) is DynamicLayer else layer for layer in cache.layers]
    return cache


@functools.cache
def growing_layer_class() -> type:
    from transformers.cache_utils import DynamicLayer

    class GrowingLayer(DynamicLayer):
        """A DynamicLayer whose keys and values are views of buffers with spare positions: a step
        writes its new positions in place instead of copying the cache. Assigning `keys` /
        `values` (batch_select_indices, the scheduler's joins and trims) stores that tensor as
        the buffer (no spare room until the next append grows it)."""

        _spare = 64  # positions added when a buffer is full (at least; half its length when larger)

        # keys and values each have their own buffer and length: DynamicLayer's methods assign one
        # after the other (crop, batch_select_indices), each from its own current view
        @property  # type: ignore[override]
        def keys(self) -> Any:
            return self._view("_keys")

        @keys.setter
        def keys(self, tensor: Any) -> None:
            self._store("_keys", tensor)

        @property  # type: ignore[override]
        def values(self) -> Any:
            return self._view("_values")

        @values.setter
        def values(self, tensor: Any) -> None:
            self._store("_values", tensor)

        def _view(self, name: str) -> Any:
            buffer, length = self.__dict__.get(name), self.__dict__.get(name + "_length", 0)
            return None if buffer is None or buffer.dim() < 4 else buffer[:, :, :length]

        def _store(self, name: str, tensor: Any) -> None:
            self.__dict__[name] = tensor
            self.__dict__[name + "_length"] = tensor.shape[-2] if tensor is not None and tensor.dim() >= 4 else 0

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            keys, values = self.__dict__.get("_keys"), self.__dict__.get("_values")
            n, new = self.__dict__.get("_keys_length", 0), key_states.shape[-2]
            if keys is None or keys.dim() < 4 or n == 0:  # empty: the first states are the buffer
                self.keys, self.values = key_states, value_states
                return self.keys, self.values
            if n + new > keys.shape[-2] or n + new > values.shape[-2]:
                shape = (*keys.shape[:2], n + new + max(self._spare, n // 2), keys.shape[-1])
                grown_keys, grown_values = keys.new_empty(shape), values.new_empty(shape)
                grown_keys[:, :, :n] = keys[:, :, :n]
                grown_values[:, :, :n] = values[:, :, :n]
                keys, values = grown_keys, grown_values
                self.__dict__["_keys"], self.__dict__["_values"] = keys, values
            keys[:, :, n : n + new] = key_states
            values[:, :, n : n + new] = value_states
            self.__dict__["_keys_length"] = self.__dict__["_values_length"] = n + new
            return self.keys, self.values

    return GrowingLayer


def apart(fn: Any, inference: bool = True) -> Any:
    """Runs `fn()` (torch compute) on a thread of its own that ends with it, and returns or raises
    what it did. A thread's OpenMP pool lives as long as the thread, and libgomp cuts every team's
    spin-wait to almost nothing once the process holds more OpenMP threads than cores: a pool left
    on a long-lived thread (a request's worker, the loader, the main thread after a load) slowed the
    scheduler's decode steps ~1.4x (8 rows of SmolLM2 on 2 cores: 92 ms instead of 64). So the
    scheduler's is the one long-lived thread that computes; the rest computes here."""
    import threading

    import torch

    box: dict[str, Any] = {}

    def run() -> None:
        try:
            if inference:
                with torch.inference_mode():
                    box["value"] = fn()
            else:
                box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised on the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run, name="springboard-compute", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")
