from __future__ import annotations

from pathlib import Path

import pytest


def _use_hf_cache(monkeypatch, cache: Path) -> None:
    """huggingface_hub reads HF_HUB_CACHE at import time, so patch its constant as well."""
    import huggingface_hub.constants as constants

    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))


@pytest.fixture
def use_hf_cache(monkeypatch):
    """Points huggingface_hub at a given cache directory for one test."""
    return lambda cache: _use_hf_cache(monkeypatch, cache)


@pytest.fixture
def empty_hf_cache(tmp_path, monkeypatch) -> Path:
    """An empty HF cache, so "not cached" holds whatever this machine's real cache has."""
    cache = tmp_path / "empty-hf-cache"
    cache.mkdir()
    _use_hf_cache(monkeypatch, cache)
    return cache
