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


# -- what a server request may touch (confinement.confine) and who may call (app.py's Host check) ----

DATA_ROOTS = "SPRINGBOARD_DATA_ROOTS"
ALLOW_HTTP = "SPRINGBOARD_ALLOW_HTTP"
ALLOWED_HOSTS = "SPRINGBOARD_ALLOWED_HOSTS"


def data_roots() -> list[Path]:
    """Folders besides the home that a server request may read and write
    (SPRINGBOARD_DATA_ROOTS, os.pathsep-separated like PATH), symlinks resolved."""
    raw = os.environ.get(DATA_ROOTS, "")
    return [Path(part).expanduser().resolve() for part in raw.split(os.pathsep) if part.strip()]


def allowed_http() -> list[str]:
    """The http(s) URL prefixes a server request may read (SPRINGBOARD_ALLOW_HTTP: comma- or
    space-separated prefixes, or `*` / `1` for any URL); none by default."""
    raw = os.environ.get(ALLOW_HTTP, "").strip()
    if raw.lower() in ("1", "*", "true", "yes"):
        return ["*"]
    return [part for part in raw.replace(",", " ").split() if part]


def allowed_hosts() -> list[str]:
    """Host names the server answers besides loopback and its bind address
    (SPRINGBOARD_ALLOWED_HOSTS, comma-separated; `*` for any)."""
    return [h.strip().lower() for h in os.environ.get(ALLOWED_HOSTS, "").split(",") if h.strip()]


# -- what one server request may ask of the engine, and how many endpoints a server loads --------
# (TGI's max_input_tokens / max_batch_total_tokens idea; `springboard serve` options set these)

REQUEST_LIMITS = {
    # name: (environment variable, `springboard serve` option, default)
    "max_inputs": ("SPRINGBOARD_MAX_INPUTS", "--max-inputs", 256),
    "max_sequences": ("SPRINGBOARD_MAX_SEQUENCES", "--max-sequences", 1024),
    "max_total_new_tokens": ("SPRINGBOARD_MAX_TOTAL_NEW_TOKENS", "--max-total-new-tokens", 262_144),
    "max_input_tokens": ("SPRINGBOARD_MAX_INPUT_TOKENS", "--max-input-tokens", 65_536),
}
MAX_ENDPOINTS = ("SPRINGBOARD_MAX_ENDPOINTS", "--max-endpoints", 16)


def _positive_int(variable: str, default: int) -> int:
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        from springboard.errors import ValidationError

        raise ValidationError(f"{variable}={raw!r}: give a whole number of at least 1")
    return value


def request_limit(name: str) -> int:
    """One of REQUEST_LIMITS, from its environment variable or its default."""
    variable, _option, default = REQUEST_LIMITS[name]
    return _positive_int(variable, default)


def max_endpoints() -> int:
    """How many endpoints one server hosts at most (SPRINGBOARD_MAX_ENDPOINTS)."""
    return _positive_int(MAX_ENDPOINTS[0], MAX_ENDPOINTS[2])

SHUTDOWN_GRACE = ("SPRINGBOARD_SHUTDOWN_GRACE", "--shutdown-grace", 5)


def shutdown_grace() -> int:
    """Seconds a stopping server (SIGTERM) lets in-flight requests finish before it cancels them
    (SPRINGBOARD_SHUTDOWN_GRACE)."""
    return _positive_int(SHUTDOWN_GRACE[0], SHUTDOWN_GRACE[2])
