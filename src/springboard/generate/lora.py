"""Many LoRA adapters in one batch: every row of a forward pass gets its own adapter (the idea of
punica / S-LoRA's batched LoRA, in plain torch for the CPU).

peft loads the adapters into the model (their configs: ranks, alpha and rank patterns, rsLoRA;
their weights): that stays peft's job. Its own mixed-batch forward (`adapter_names=`) loops in
Python, in every LoRA layer and every step, over the adapters present, indexing the rows of each:
with all linear layers adapted (210 layers of SmolLM2) that cost 60-100 ms a decode step on two
cores, more than the base model's whole forward. Here each LoRA layer keeps its adapters' A
matrices side by side ([in, Σr]) and their B matrices stacked with the scaling folded in ([Σr, out]);
a pass sets one row mask [rows, 1, Σr] (ones over the columns of the row's adapter, none for a
base-model row) and each layer adds ((x @ A) * mask) @ B to its base output: two small matmuls
whatever the mix of adapters (~7 ms a step for 210 layers).

Only plain LoRA on linear layers is served this way; an adapter using DoRA, LoRA biases, LoRA on
embeddings or convolutions, or modules_to_save is refused when attached."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from springboard.errors import DataError


class MultiLoRA:
    """The batched LoRA path of one model whose adapters peft loaded (`peft_model`)."""

    def __init__(self, peft_model: Any) -> None:
        self.peft = peft_model
        self.names: list[str] = []  # attached adapters, in column order
        self._layers: list[Any] = []  # peft LoRA layers carrying a hook
        self._layouts: dict[tuple, dict[str, tuple[int, int]]] = {}  # layout -> adapter -> its columns
        self._masks: dict[tuple, Any] | None = None  # layout -> [rows, 1, Σr], set during a pass

    def add(self, name: str) -> None:
        """Takes in the adapter peft just loaded under `name`; refuses (and unloads) what the batched
        path cannot serve."""
        problem = self._unsupported(name)
        if problem:
            self.peft.delete_adapter(name)
            raise DataError(f"adapter {name!r} uses {problem}: only plain LoRA on linear layers can be served "
                            "with other adapters", field="artifact")
        self.names.append(name)
        self._rebuild()

    def _lora_layers(self) -> list[Any]:
        from peft.tuners.lora import LoraLayer

        return [m for m in self.peft.base_model.model.modules() if isinstance(m, LoraLayer)]

    def _unsupported(self, name: str) -> str | None:
        from peft.tuners.lora import Linear

        config = self.peft.peft_config[name]
        if getattr(config, "modules_to_save", None):
            return "modules_to_save (whole modules trained beside the LoRA)"
        for layer in self._lora_layers():
            if name in getattr(layer, "lora_embedding_A", {}):
                return "LoRA on embeddings"
            if name not in layer.lora_A:
                continue
            if not isinstance(layer, Linear):
                return f"LoRA on {type(layer.get_base_layer()).__name__} layers"
            if layer.use_dora.get(name):
                return "DoRA"
            if getattr(layer.lora_B[name], "bias", None) is not None:
                return "LoRA biases"
        return None

    def _rebuild(self) -> None:
        """Each LoRA layer's stacked A and B over the attached adapters, and its layout: which
        adapters it has and their ranks (an adapter may leave a layer out)."""
        import torch

        for layer in self._lora_layers():
            present = [n for n in self.names if n in layer.lora_A]
            if not present:
                continue
            weight = layer.get_base_layer().weight
            a = torch.cat([layer.lora_A[n].weight for n in present], dim=0)  # [Σr, in]
            b = torch.cat([layer.lora_B[n].weight.T * layer.scaling[n] for n in present], dim=0)  # [Σr, out]
            layer._sb_a = a.T.contiguous().to(weight.dtype)
            layer._sb_b = b.contiguous().to(weight.dtype)
            layer._sb_layout = tuple((n, layer.lora_A[n].weight.shape[0]) for n in present)
            if not getattr(layer, "_sb_hooked", False):
                layer.register_forward_hook(self._hook)
                layer._sb_hooked = True
                self._layers.append(layer)
        self._layouts = {}
        for layer in self._layers:
            columns, start = {}, 0
            for name, rank in layer._sb_layout:
                columns[name] = (start, start + rank)
                start += rank
            self._layouts[layer._sb_layout] = columns

    def _hook(self, layer: Any, args: tuple, output: Any) -> Any:
        masks = self._masks
        if masks is None:
            return None
        x = args[0]
        delta = ((x.to(layer._sb_a.dtype) @ layer._sb_a) * masks[layer._sb_layout]) @ layer._sb_b
        return output + delta.to(output.dtype)

    @contextlib.contextmanager
    def rows(self, adapters: Sequence[str | None]) -> Iterator[None]:
        """Within it, a forward pass of the model gives row i adapter `adapters[i]` (None: the
        base model). Callers hold the engine's lock: one pass at a time."""
        import torch

        if not any(adapters):
            yield
            return
        masks = {}
        for layout, columns in self._layouts.items():
            width = max((hi for _, hi in columns.values()), default=0)
            mask = torch.zeros((len(adapters), 1, width), dtype=self._layers[0]._sb_a.dtype)
            for i, name in enumerate(adapters):
                if name in columns:
                    lo, hi = columns[name]
                    mask[i, 0, lo:hi] = 1
            masks[layout] = mask
        self._masks = masks
        try:
            yield
        finally:
            self._masks = None
