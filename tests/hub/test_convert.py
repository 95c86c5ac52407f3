"""The convert-once cache: locking, staleness, atomic replacement (the real GGUF conversion
is exercised by test_convert_slow.py; here a quick writer stands in for it)."""

from __future__ import annotations

import json
import threading
import time

from springboard.hub import get_model_spec
from springboard.hub import convert


def _quick_writer(calls: list[int]):
    def write(gguf, out):
        calls.append(1)
        time.sleep(0.3)  # long enough for the other thread to reach the lock
        out.mkdir(parents=True)
        (out / "config.json").write_text(json.dumps({"n": len(calls)}))

    return write


def test_two_concurrent_resolves_convert_once(tmp_path, monkeypatch):
    monkeypatch.setenv("SPRINGBOARD_MODELS_DIR", str(tmp_path))
    calls: list[int] = []
    monkeypatch.setattr(convert, "convert_gguf", _quick_writer(calls))
    monkeypatch.setattr(convert, "_sha256", lambda path: "0" * 64)
    spec = get_model_spec("smollm2-135m-instruct")
    results = []
    threads = [threading.Thread(target=lambda: results.append(convert.ensure_converted(spec))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [1]
    assert results[0] == results[1] == tmp_path / spec.model_id
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


def test_stale_conversion_is_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv("SPRINGBOARD_MODELS_DIR", str(tmp_path))
    spec = get_model_spec("smollm2-135m-instruct")
    target = tmp_path / spec.model_id
    target.mkdir()
    (target / "config.json").write_text("{}")
    (target / "leftover.bin").write_text("old")
    fingerprint = convert.source_fingerprint(spec, convert.gguf_path(spec))
    (target / convert.MARKER).write_text(json.dumps(fingerprint | {"package_version": "0.0.0"}))
    calls: list[int] = []
    monkeypatch.setattr(convert, "convert_gguf", _quick_writer(calls))
    monkeypatch.setattr(convert, "_sha256", lambda path: "0" * 64)
    assert convert.ensure_converted(spec) == target
    assert calls == [1] and not (target / "leftover.bin").exists()
    assert json.loads((target / convert.MARKER).read_text())["package_version"] == fingerprint["package_version"]
    assert convert.ensure_converted(spec) == target and calls == [1]  # now current: no reconversion
