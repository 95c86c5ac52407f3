"""`springboard deploy/endpoints/invoke` and the SDK against a real background server."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from springboard.cli import main
from springboard.errors import SpringboardError


@pytest.fixture
def background_server(sb_home):
    yield
    from springboard.serve.server import server_file

    try:
        pid = json.loads(server_file().read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.1)


def test_cli_and_sdk_deploy_invoke_and_delete(background_server, tiny_causal_dir, tiny_t5_dir, capsys):
    assert main(["deploy", str(tiny_causal_dir), "--name", "tiny"]) == 0
    assert "InService" in capsys.readouterr().out

    assert main(["invoke", "tiny", "--json", json.dumps({"inputs": "Hi", "parameters": {"max_new_tokens": 3}})]) == 0
    assert "generated_text" in json.loads(capsys.readouterr().out)[0]

    assert main(["endpoints", "list"]) == 0
    assert "tiny" in capsys.readouterr().out
    assert main(["endpoints", "describe", "tiny"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert described["EndpointStatus"] == "InService" and described["ModelDir"] == str(tiny_causal_dir)

    # a model that cannot load ends Failed, with its reason
    assert main(["deploy", str(tiny_causal_dir / "missing"), "--name", "broken"]) == 1
    assert "Failed" in capsys.readouterr().err

    from springboard import Model, Predictor

    predictor = Model(model_data=tiny_t5_dir).deploy(endpoint_name="t5-sdk")
    assert isinstance(predictor, Predictor)
    out = predictor.predict({"text_inputs": ["a b", "c d"], "max_length": 4})
    assert len(out["generated_texts"]) == 2
    assert "generated_text" in predictor.predict("plain text")
    predictor.delete_endpoint()
    with pytest.raises(SpringboardError):
        predictor.predict({"text_inputs": "x"})

    assert main(["endpoints", "delete", "tiny"]) == 0
    assert main(["endpoints", "describe", "tiny"]) == 1


def test_endpoints_are_listed_from_the_registry_without_a_server(capsys):
    assert main(["endpoints", "list"]) == 0
    assert "no endpoints" in capsys.readouterr().out
    assert main(["invoke", "x", "--json", "{}"]) == 1
    assert "springboard serve" in capsys.readouterr().err


def test_sdk_refuses_misspelled_keywords(tiny_t5_dir):
    from springboard.errors import ValidationError
    from springboard.sdk.model import Model, Predictor

    with pytest.raises(ValidationError, match="'endpoint_nmae' \\(did you mean 'endpoint_name'\\?\\)"):
        Model(model_data=tiny_t5_dir).deploy(endpoint_nmae="x")
    with pytest.raises(ValidationError, match="'model_dta'"):
        Model(model_id="tiny", model_dta=tiny_t5_dir)
    with pytest.raises(ValidationError, match="'serializer'"):
        Predictor("x", serializer=object())
    Model(model_data=tiny_t5_dir, sagemaker_session=None, vpc_config=None)  # AWS infrastructure: accepted
