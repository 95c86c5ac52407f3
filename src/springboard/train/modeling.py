"""The model a run trains: loaded in the run's precision with LoRA adapters attached
(`load_model`), the LoRA configuration and its check against the model before any job starts,
the base an int8 or CPU-bf16 run's artifact is merged onto (`merge_base`), and the seeding and device choice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from springboard.errors import HyperparameterError
from springboard.hardware import Precision, choose_precision
from springboard.train.hyperparameters import Hyperparameters


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def precision_for(hp: Hyperparameters, device: torch.device) -> Precision:
    """The run's precision (`hp.precision` on this device; the CPU probe runs once per process)."""
    return choose_precision(hp.precision, device.type)


def load_model(model_dir: Path, hp: Hyperparameters, device: torch.device, precision: Precision | None = None,
               dtype: torch.dtype | None = None):
    """The model ready to train; LoRA adapters attached (peft keeps them in float32) when
    peft_type is lora. bf16 compute is autocast around each step. Its weights are float32,
    except a frozen LoRA base in bf16 precision: on a GPU the whole base is stored in bf16; on a
    CPU its linear layers (`bf16_linear_base`), which autocast would round to bf16 for every
    product anyway, so the products, losses and gradients are the float32-stored base's, in half
    the memory and without the per-step casts (a 7B's LoRA base: 13.5 GB instead of 27).
    `dtype`: every weight in it instead (the base an artifact is merged onto)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    config = AutoConfig.from_pretrained(model_dir)
    seq2seq = bool(getattr(config, "is_encoder_decoder", False))
    int8 = bool(getattr(hp, "int8_quantization", False))
    bf16_linear = False
    if dtype is None:
        bf16_lora = hp.peft_type == "lora" and not int8 and (precision or precision_for(hp, device)).bf16
        dtype = torch.bfloat16 if bf16_lora else torch.float32  # on a CPU, only the linear layers stay bf16
        bf16_linear = bf16_lora and device.type == "cpu"
    cls = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
    # Seeded before anything random: LoRA's initial weights come from the torch RNG, so the
    # same configuration and seed give the same run.
    set_seed(hp.seed)
    if int8:
        # bitsandbytes' LLM.int8() linear layers (outliers above 6.0 kept in 16 bits); the LM
        # head and the norms stay float32, and the weights go straight to `device`.
        from transformers import BitsAndBytesConfig

        model = cls.from_pretrained(model_dir, dtype=dtype, quantization_config=BitsAndBytesConfig(load_in_8bit=True),
                                    device_map={"": device})
    else:
        model = cls.from_pretrained(model_dir, dtype=dtype)
    if bf16_linear:
        bf16_linear_base(model, model_dir)
    model.config.use_cache = False
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if hp.peft_type == "lora":
        from peft import get_peft_model

        model = get_peft_model(model, lora_config(hp, seq2seq))
    if hp.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if hp.peft_type == "lora":
            model.enable_input_require_grads()  # the frozen embeddings' output must carry a gradient
    if not int8:
        model.to(device)
    return model, tokenizer, seq2seq


def bf16_linear_base(model, model_dir: Path) -> None:
    """A model loaded in bf16 → its linear layers (the output head excepted) stay bf16 and every
    other weight (embeddings, norms, the head, biases) is float32 again, read from the checkpoint
    itself so that a float32 checkpoint loses nothing there. Loading in bf16 first keeps the peak
    at the bf16 size (a 7B never exists in float32 here)."""
    from safetensors import safe_open

    head = model.get_output_embeddings()
    keep = {id(m.weight) for m in model.modules()
            if isinstance(m, torch.nn.Linear) and m is not head and m.weight.dtype == torch.bfloat16}
    restore = {name: p for name, p in model.named_parameters() if id(p) not in keep and p.dtype != torch.float32}
    for file in sorted(Path(model_dir).glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as fh:
            for name in set(fh.keys()) & restore.keys():
                restore.pop(name).data = fh.get_tensor(name).to(torch.float32)
    for p in restore.values():  # not under its own name in the checkpoint (e.g. renamed): upcast
        p.data = p.data.float()
    for buffer in model.buffers():
        if buffer.is_floating_point() and buffer.dtype == torch.bfloat16:
            buffer.data = buffer.data.float()


def stores_reduced_base(hp: Hyperparameters, device: torch.device, precision: Precision) -> bool:
    """Whether the trained model's frozen base differs from the checkpoint's weights (8-bit, or
    bf16 linear layers on a CPU: `load_model`'s bf16 LoRA base there), so the artifact is merged
    onto the base read again."""
    return bool(getattr(hp, "int8_quantization", False)) or (
        device.type == "cpu" and hp.peft_type == "lora" and precision.bf16)


def adapter_state(model) -> dict[str, torch.Tensor]:
    """The LoRA weights of a trained model, float32 on the CPU, detached from it."""
    from peft import get_peft_model_state_dict

    return {k: v.detach().float().cpu().clone() for k, v in get_peft_model_state_dict(model).items()}


def merge_base(adapter: dict[str, torch.Tensor], model_dir: Path, hp: Hyperparameters):
    """The trained adapter (`adapter_state`) on the base read again from disk, in the
    checkpoint's own precision (float32 for a float32 checkpoint, the default model's), so the
    merged artifact is the base plus the update, never 8-bit or bf16-rounded base weights. The
    caller drops the training model first: both at once would not fit beside a 7B."""
    import gc

    from peft import set_peft_model_state_dict
    from transformers import AutoConfig

    gc.collect()
    stored = str(getattr(AutoConfig.from_pretrained(model_dir), "dtype", None) or "float32").replace("torch.", "")
    dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(stored, torch.float32)
    fresh, _, _ = load_model(model_dir, hp.model_copy(update={"int8_quantization": False}), torch.device("cpu"),
                             dtype=dtype)
    set_peft_model_state_dict(fresh, adapter)
    return fresh


def set_seed(seed: int) -> None:
    """Seeds Python's, NumPy's and torch's generators (transformers.set_seed)."""
    from transformers import set_seed as hf_set_seed

    hf_set_seed(seed)


def lora_config(hp: Hyperparameters, seq2seq: bool):
    from peft import LoraConfig, TaskType

    targets: Any = None
    if hp.lora_target_modules not in ("auto", ""):
        targets = (
            "all-linear"
            if hp.lora_target_modules == "all-linear"
            else [t.strip() for t in hp.lora_target_modules.split(",") if t.strip()]
        )
    return LoraConfig(
        task_type=TaskType.SEQ_2_SEQ_LM if seq2seq else TaskType.CAUSAL_LM,
        r=hp.lora_r,
        lora_alpha=hp.lora_alpha,
        lora_dropout=hp.lora_dropout,
        target_modules=targets,
    )


def check_lora_targets(model_dir: Path, hp: Hyperparameters) -> None:
    """Attaches the LoRA configuration to the model built on the meta device (no weights are
    read): peft's own check of `lora_target_modules`, before any job starts."""
    if hp.peft_type != "lora":
        return
    from peft import get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM

    config = AutoConfig.from_pretrained(model_dir)
    seq2seq = bool(getattr(config, "is_encoder_decoder", False))
    cls = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
    with torch.device("meta"):
        model = cls.from_config(config)
    leaves = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)})
    lora = lora_config(hp, seq2seq)
    # peft only fails when no name matches; every name the user lists must match a module.
    listed = sorted(lora.target_modules) if isinstance(lora.target_modules, (set, list)) else []
    names = [n for n, _ in model.named_modules()]
    missing = [t for t in listed if not any(n == t or n.endswith("." + t) for n in names)]
    if missing:
        raise HyperparameterError(
            f"hyperparameter 'lora_target_modules': no module named {', '.join(map(repr, missing))} in this "
            f"model; its linear layers are: {', '.join(leaves)} (or use 'auto' / 'all-linear')"
        )
    try:
        get_peft_model(model, lora)
    except ValueError as exc:
        raise HyperparameterError(
            f"hyperparameter 'lora_target_modules': {hp.lora_target_modules!r} does not fit this model "
            f"({str(exc).splitlines()[0]}); its linear layers are: {', '.join(leaves)}"
        ) from None
