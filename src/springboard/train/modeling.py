"""The model a run trains: loaded in the run's precision with LoRA adapters attached
(`load_model`), the LoRA configuration and its check against the model before any job starts,
the float32 copy an int8 run saves (`dequantized`), and the seeding and device choice.
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


def load_model(model_dir: Path, hp: Hyperparameters, device: torch.device, precision: Precision | None = None):
    """The model ready to train, its weights in float32, except a LoRA base on a GPU in bf16
    precision, stored in bf16 (frozen, half the memory); LoRA adapters attached (peft keeps
    them in float32) when peft_type is lora. bf16 compute is autocast around each step."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    config = AutoConfig.from_pretrained(model_dir)
    seq2seq = bool(getattr(config, "is_encoder_decoder", False))
    # On a CPU the frozen base stays float32 too: autocast casts it per product, and the merged
    # artifact is then the float32 base plus the float32 update, never a bf16-rounded base.
    bf16_base = device.type == "cuda" and hp.peft_type == "lora" and (precision or precision_for(hp, device)).bf16
    dtype = torch.bfloat16 if bf16_base else torch.float32
    cls = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
    # Seeded before anything random: LoRA's initial weights come from the torch RNG, so the
    # same configuration and seed give the same run.
    set_seed(hp.seed)
    int8 = bool(getattr(hp, "int8_quantization", False))
    if int8:
        # bitsandbytes' LLM.int8() linear layers (outliers above 6.0 kept in 16 bits); the LM
        # head and the norms stay float32, and the weights go straight to `device`.
        from transformers import BitsAndBytesConfig

        model = cls.from_pretrained(model_dir, dtype=dtype, quantization_config=BitsAndBytesConfig(load_in_8bit=True),
                                    device_map={"": device})
    else:
        model = cls.from_pretrained(model_dir, dtype=dtype)
    model.config.use_cache = False
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if hp.peft_type == "lora":
        from peft import get_peft_model

        model = get_peft_model(model, lora_config(hp, seq2seq))
    if not int8:
        model.to(device)
    return model, tokenizer, seq2seq


def dequantized(model, model_dir: Path, hp: Hyperparameters):
    """The trained adapter on the float32 base read again from disk: what an int8 run saves,
    so the merged artifact is the float32 base plus the update, not 8-bit weights."""
    if not getattr(hp, "int8_quantization", False):
        return model
    from peft import get_peft_model_state_dict, set_peft_model_state_dict

    fresh, _, _ = load_model(model_dir, hp.model_copy(update={"int8_quantization": False}), torch.device("cpu"))
    set_peft_model_state_dict(fresh, {k: v.float().cpu() for k, v in get_peft_model_state_dict(model).items()})
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
