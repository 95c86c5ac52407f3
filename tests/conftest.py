"""Shared fixtures: an isolated SPRINGBOARD_HOME per test, tiny models per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import tinymodels  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def shared_models_dir(request, tmp_path_factory) -> Path:
    """One cache of converted weights (the default model's GGUF conversion) for every test
    and run: $SPRINGBOARD_MODELS_DIR if set, else .pytest_cache/d/springboard-models (a
    session temp dir when pytest's cache is disabled)."""
    import os

    configured = os.environ.get("SPRINGBOARD_MODELS_DIR")
    if configured:
        return Path(configured)
    cache = getattr(request.config, "cache", None)
    return cache.mkdir("springboard-models") if cache else tmp_path_factory.mktemp("springboard-models")


@pytest.fixture(autouse=True)
def sb_home(tmp_path, monkeypatch, shared_models_dir) -> Path:
    home = tmp_path / "sbhome"
    monkeypatch.setenv("SPRINGBOARD_HOME", str(home))
    monkeypatch.setenv("SPRINGBOARD_MODELS_DIR", str(shared_models_dir))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    return home


@pytest.fixture(scope="session")
def tiny_causal_dir(tmp_path_factory) -> Path:
    return tinymodels.build_causal(tmp_path_factory.mktemp("tiny-causal"))


@pytest.fixture(scope="session")
def tiny_t5_dir(tmp_path_factory) -> Path:
    return tinymodels.build_t5(tmp_path_factory.mktemp("tiny-t5"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Real sample data (Common Crawl records); read-only. The project's checkout sits beside
    the shared folder (`../shared`), as in CI; SPRINGBOARD_SHARED_DIR points elsewhere."""
    import os

    root = Path(os.environ.get("SPRINGBOARD_SHARED_DIR", SHARED))
    if not (root / "data").is_dir():
        pytest.fail(f"{root / 'data'} not found: these tests read the real Common Crawl samples in "
                    "../shared/data beside the checkout (or set SPRINGBOARD_SHARED_DIR)")
    return root / "data"
