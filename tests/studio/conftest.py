"""Studio tests: the whole server (springboard.app) on loopback in a thread and Debian's
Chromium driven by Playwright (python). Screenshots go to docs/studio/."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import liveserver
import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs" / "studio"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def chromium_path() -> str:
    found = os.environ.get("SPRINGBOARD_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("the Studio browser tests need Debian's Chromium: `sudo apt-get install -y chromium` "
                    "(scripts/setup-env.sh installs it when run as root), or set SPRINGBOARD_CHROMIUM "
                    "to a Chromium executable")
    return found


@pytest.fixture
def live(sb_home) -> Iterator[liveserver.LiveServer]:
    server = liveserver.start()
    yield server
    server.stop()


@pytest.fixture
def live_with_key(sb_home) -> Iterator[liveserver.LiveServer]:
    server = liveserver.start(api_key="studio-test-key")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import expect, sync_playwright

    # First calls import torch and friends in the server thread: slow on a busy 2-core machine.
    expect.set_options(timeout=60_000)
    executable = chromium_path()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    context.close()


# The README's screenshots, taken with the real default model (test_real_model_flow.py): a
# tiny-model test asking for one of these names writes to its own temporary folder instead.
REAL_MODEL_SHOTS = {"finetune", "jobs", "job", "playground", "endpoints"}


def _shot(page, name: str, real: bool = False, elsewhere: Path | None = None) -> Path:
    folder = elsewhere if (name in REAL_MODEL_SHOTS and not real and elsewhere) else DOCS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def shot(tmp_path):
    """shot(page, name): a full-page screenshot written to docs/studio/<name>.png (the names in
    REAL_MODEL_SHOTS only with real=True; else to the test's tmp_path)."""
    return lambda page, name, real=False: _shot(page, name, real, tmp_path / "shots")


def write_numbers(root: Path, n: int = 24) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rows = [{"question": f"Say the number {i}:", "answer": f"{i} is the number"} for i in range(n)]
    (root / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root / "train.jsonl"
