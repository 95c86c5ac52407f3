"""Where Springboard keeps its state. Read from the environment at call time, so tests and
jobs can point SPRINGBOARD_HOME elsewhere."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    path = Path(os.environ.get("SPRINGBOARD_HOME", "~/.springboard")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def jobs_db() -> Path:
    return home() / "jobs.db"


def jobs_dir() -> Path:
    return _sub("jobs")


def models_dir() -> Path:
    """Converted/cached model weights. SPRINGBOARD_MODELS_DIR overrides the default
    `SPRINGBOARD_HOME/models`, so several homes (e.g. every test's fresh home) can share one
    cache of converted weights instead of converting again."""
    override = os.environ.get("SPRINGBOARD_MODELS_DIR")
    if override:
        path = Path(override).expanduser()
        path.mkdir(parents=True, exist_ok=True)
        return path
    return _sub("models")


def endpoints_dir() -> Path:
    return _sub("endpoints")


def _sub(name: str) -> Path:
    path = home() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


DEFAULT_PORT = 8080  # the server's port: the SageMaker container convention


def api_key() -> str | None:
    """The key the server requires on every request (SPRINGBOARD_API_KEY); clients send it too."""
    return os.environ.get("SPRINGBOARD_API_KEY") or None


def api_secret() -> str | None:
    """The secret SigV4 signatures are checked with (SPRINGBOARD_API_SECRET; default: the key)."""
    return os.environ.get("SPRINGBOARD_API_SECRET") or None
