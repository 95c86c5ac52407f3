"""`springboard deploy --quantize` and `Model.deploy(quantize=)` against a real background server:
the endpoint serves the chosen GGUF and says so; a type the model cannot take fails it, naming
QUANTIZE."""

from __future__ import annotations

import json

import pytest

from springboard.cli import main
from springboard.errors import SpringboardError
from springboard.generate.llamacpp import llama_cpp_available

from .test_deploy import background_server  # noqa: F401 - the fixture


@pytest.mark.skipif(not llama_cpp_available(), reason="llama_cpp (llama-cpp-python) is not installed")
def test_deploy_with_quantize(monkeypatch, background_server, tiny_causal_dir, capsys):  # noqa: F811
    monkeypatch.setenv("SPRINGBOARD_GENERATE_BACKEND", "auto")  # the server process inherits it
    assert main(["deploy", str(tiny_causal_dir), "--name", "q8", "--quantize", "q8_0"]) == 0
    capsys.readouterr()
    assert main(["endpoints", "describe", "q8"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert described["Config"]["quantize"] == "q8_0"
    assert described["Precision"].startswith("llamacpp:q8_0 - llama.cpp, QUANTIZE=q8_0")
    assert main(["invoke", "q8", "--json", json.dumps({"inputs": "Hi", "parameters": {"max_new_tokens": 3}})]) == 0
    assert "generated_text" in json.loads(capsys.readouterr().out)[0]

    from springboard import Model

    with pytest.raises(SpringboardError, match="QUANTIZE=q4_k_m packs rows in blocks of 256"):
        Model(model_data=tiny_causal_dir).deploy(endpoint_name="kq", quantize="q4_k_m")
