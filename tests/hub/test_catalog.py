"""Specs, aliases, versions, default hyperparameters and resources, registration."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from springboard.errors import NotFoundError, ValidationError
from springboard.hub import (
    get_model_spec,
    list_models,
    register_model,
    resolve_model,
    retrieve_default_hyperparameters,
    retrieve_default_resources,
)
from springboard.hub.catalog import count_parameters


def test_aliases_and_repo_ids_resolve_to_the_same_spec():
    assert get_model_spec("mistral-7b").model_id == "huggingface-llm-mistral-7b"
    assert get_model_spec("mistral-7b-instruct").model_id == "huggingface-llm-mistral-7b-instruct"
    assert get_model_spec("llama-2-7b").model_id == "meta-textgeneration-llama-2-7b"
    assert get_model_spec("falcon-7b-instruct").model_id == "huggingface-llm-falcon-7b-instruct-bf16"
    assert get_model_spec("google/flan-t5-base").model_id == "huggingface-text2text-flan-t5-base"
    assert get_model_spec("SMOLLM2").model_id == "smollm2-135m-instruct"


def test_llama_spec_facts():
    spec = get_model_spec("llama-2-7b")
    assert spec.requires_eula and spec.payload_format == "llama" and spec.framework == "meta"
    assert spec.source.repo_id == "meta-llama/Llama-2-7b-hf"
    assert get_model_spec("huggingface-text2text-flan-t5-xl").payload_format == "text2text"
    assert get_model_spec("mistral-7b").payload_format == "tgi"


def test_version_wildcards():
    assert get_model_spec("mistral-7b", version="*").version == "1.0.0"
    assert get_model_spec("mistral-7b", version="1.*").version == "1.0.0"
    with pytest.raises(NotFoundError, match="version"):
        get_model_spec("mistral-7b", version="2.*")


def test_unknown_id_suggests_close_matches():
    with pytest.raises(NotFoundError, match="did you mean: .*flan-t5-small"):
        get_model_spec("flan-t5-smal")


def test_default_hyperparameters_per_family():
    causal_keys = {
        "epoch", "learning_rate", "per_device_train_batch_size", "per_device_eval_batch_size",
        "gradient_accumulation_steps", "max_input_length", "warmup_ratio", "seed", "peft_type",
        "lora_r", "lora_alpha", "lora_dropout", "validation_split_ratio", "train_data_split_seed",
        "max_train_samples", "max_val_samples", "instruction_tuned", "chat_dataset",
        "int8_quantization", "enable_fsdp",
    }
    t5_keys = {
        "epochs", "learning_rate", "batch_size", "gradient_accumulation_steps", "max_input_length",
        "max_output_length", "warmup_ratio", "seed", "validation_split_ratio",
        "train_data_split_seed", "max_train_samples", "peft_type",
    }
    for model_id in list_models():
        hp = retrieve_default_hyperparameters(model_id)
        assert all(isinstance(v, str) for v in hp.values())
        family = get_model_spec(model_id).hyperparameter_family
        assert set(hp) == (causal_keys if family == "causal-lm" else t5_keys), model_id
    small = retrieve_default_hyperparameters("smollm2-135m-instruct")
    assert (small["epoch"], small["learning_rate"], small["max_input_length"]) == ("2", "0.0002", "512")
    big = retrieve_default_hyperparameters("llama-2-7b", version="*")
    assert (big["epoch"], big["learning_rate"], big["per_device_train_batch_size"]) == ("5", "0.0001", "4")
    assert (big["lora_r"], big["lora_alpha"], big["peft_type"], big["seed"]) == ("8", "32", "lora", "10")
    t5 = retrieve_default_hyperparameters("huggingface-text2text-flan-t5-base")
    assert (t5["epochs"], t5["batch_size"], t5["seed"], t5["peft_type"]) == ("1", "64", "42", "none")


def test_default_hyperparameters_are_a_fresh_copy():
    hp = retrieve_default_hyperparameters("mistral-7b")
    hp["epoch"] = "99"
    assert retrieve_default_hyperparameters("mistral-7b")["epoch"] == "5"


def test_family_defaults_file_matches_builtin_keys():
    families = json.loads(resources.files("springboard.hub").joinpath("families.json").read_text())
    assert set(families["causal-lm"]["default_hyperparameters"]) == set(
        retrieve_default_hyperparameters("mistral-7b")
    )
    assert families["flan-t5"]["default_hyperparameters"] == retrieve_default_hyperparameters(
        "flan-t5-small"
    )


def test_default_resources_cpu_and_gpu():
    cpu = retrieve_default_resources("mistral-7b", "inference", device="cpu")
    assert (cpu.device, cpu.dtype, cpu.method) == ("cpu", "float32", "inference")
    # 7.24e9 params x 4 bytes x 1.2 = 32.4 GiB
    assert cpu.estimated_memory_gb == pytest.approx(7241732096 * 4 * 1.2 / 1024**3, rel=0.01)
    gpu = retrieve_default_resources("mistral-7b", "inference", device="cuda")
    assert gpu.dtype == "bfloat16" and gpu.estimated_memory_gb == pytest.approx(cpu.estimated_memory_gb / 2, rel=0.01)
    lora = retrieve_default_resources("mistral-7b", "training", device="cuda")
    assert lora.method == "lora" and 3 * 7.24 / 1.074 < lora.estimated_memory_gb < 16 * 7.24
    full = retrieve_default_resources("flan-t5-small", "training", device="cpu")
    assert full.method == "full"  # flan-t5 defaults to peft_type none
    assert full.estimated_memory_gb > 16 * 76961152 / 1024**3
    auto = retrieve_default_resources("smollm2", "training")
    assert auto.device in ("cpu", "cuda")
    with pytest.raises(ValidationError):
        retrieve_default_resources("smollm2", "serving")


def test_register_existing_id_sets_its_weights(tiny_t5_dir, sb_home):
    model_id = "huggingface-text2text-flan-t5-small"
    spec = register_model(model_id, tiny_t5_dir)
    assert spec.source.path == str(tiny_t5_dir.resolve())
    assert spec.source.repo_id == "google/flan-t5-small" and spec.task == "text2text"
    assert resolve_model(model_id) == tiny_t5_dir.resolve()
    assert resolve_model("flan-t5-small") == tiny_t5_dir.resolve()  # aliases too
    # Persisted: only an overlay for built-ins, and a fresh read sees it.
    stored = json.loads((sb_home / "hub" / f"{model_id}.json").read_text())
    assert set(stored) == {"model_id", "source"}
    assert get_model_spec(model_id).source.path == str(tiny_t5_dir.resolve())


def test_register_new_models_infers_architecture(tiny_causal_dir, tiny_t5_dir, sb_home):
    causal = register_model("my-tiny-llama", tiny_causal_dir)
    assert (causal.architecture, causal.task, causal.payload_format) == ("causal", "text-generation", "tgi")
    assert causal.training_supported and causal.hyperparameter_family == "causal-lm"
    assert causal.parameters == count_parameters(tiny_causal_dir) > 0
    t5 = register_model("my-tiny-t5", tiny_t5_dir, license="mit")
    assert (t5.architecture, t5.task, t5.license) == ("seq2seq", "text2text", "mit")
    assert retrieve_default_hyperparameters("my-tiny-t5")["batch_size"] == "64"
    assert "my-tiny-llama" in list_models("architecture == causal")
    assert list_models("source.type == local") == ["my-tiny-llama", "my-tiny-t5"]
    assert (sb_home / "hub" / "my-tiny-llama.json").is_file()
    assert resolve_model("my-tiny-llama") == tiny_causal_dir.resolve()


def test_register_rejects_non_model_dirs_and_bad_ids(tmp_path, tiny_causal_dir):
    with pytest.raises(NotFoundError):
        register_model("x", tmp_path / "missing")
    with pytest.raises(ValidationError, match="config.json"):
        register_model("x", tmp_path)
    with pytest.raises(ValidationError, match="invalid model id"):
        register_model("bad id/with slash", tiny_causal_dir)


def test_broken_user_spec_names_file_and_field(sb_home):
    (sb_home / "hub").mkdir(parents=True)
    (sb_home / "hub" / "broken.json").write_text(json.dumps({"model_id": "broken", "task": "x"}))
    with pytest.raises(ValidationError, match=r"broken\.json: field"):
        list_models()
