"""Issue 19: an endpoint keeps the model it was created with (content-addressed, immutable
copies of model.tar.gz), endpoints of one artifact share its loaded weights, and a server hosts
a bounded number of endpoints; all through the real boto3 clients."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
from botocore.exceptions import ClientError

from springboard import storage

from .test_endpoints import make_config, make_model


def build_smaller_causal(path, like):
    """Another tiny Llama with the same tokenizer as `like` but fewer, smaller layers (a smaller
    weights file: rewriting a memory-mapped one with it used to SIGBUS the server)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    config = LlamaConfig.from_pretrained(like)
    config.hidden_size, config.intermediate_size, config.num_hidden_layers = 32, 64, 1
    config.num_attention_heads, config.num_key_value_heads = 2, 1
    torch.manual_seed(1)
    LlamaForCausalLM(config).save_pretrained(path)
    AutoTokenizer.from_pretrained(like).save_pretrained(path)
    return path


def generate(runtime, name):
    """The answer with its tokens' log-probabilities (TGI details), which tell two random models
    apart even where both greedily repeat the same token."""
    body = {"inputs": "Hello there", "parameters": {"max_new_tokens": 12, "details": True}}
    out = runtime.invoke_endpoint(EndpointName=name, ContentType="application/json", Body=json.dumps(body))
    answer = json.loads(out["Body"].read())[0]
    return answer["generated_text"], [round(t["logprob"], 4) for t in answer["details"]["tokens"]]


def test_an_endpoint_keeps_its_model_when_the_model_is_deleted_and_made_again(sm, runtime, wait, tiny_causal_dir,
                                                                              tmp_path):
    tar_a = storage.make_tarball(tiny_causal_dir, tmp_path / "a" / "model.tar.gz")
    tar_b = storage.make_tarball(build_smaller_causal(tmp_path / "b-dir", tiny_causal_dir),
                                 tmp_path / "b" / "model.tar.gz")
    make_model(sm, "m", tar_a)
    make_config(sm, "c-a", "m")
    sm.create_endpoint(EndpointName="e", EndpointConfigName="c-a")
    wait("endpoint_in_service", EndpointName="e")
    before = generate(runtime, "e")

    sm.delete_model(ModelName="m")
    make_model(sm, "m", tar_b)  # same name, other weights
    for _ in range(3):  # no update: e still answers from model A (and the server stays up)
        assert generate(runtime, "e") == before
    assert sm.describe_endpoint(EndpointName="e")["EndpointStatus"] == "InService"

    make_config(sm, "c-b", "m")
    sm.create_endpoint(EndpointName="e-b", EndpointConfigName="c-b")
    wait("endpoint_in_service", EndpointName="e-b")
    assert generate(runtime, "e-b") != before  # a new endpoint gets model B
    sm.update_endpoint(EndpointName="e", EndpointConfigName="c-b")
    wait("endpoint_in_service", EndpointName="e")
    assert generate(runtime, "e") == generate(runtime, "e-b")  # ... and so does e, once updated

    # the same tarball made into another model shares the one unpacked copy
    make_model(sm, "m-again", tar_a)
    from springboard.controlplane import resolve

    assert len([p for p in resolve.artifacts_dir().iterdir()]) == 2


def test_a_refused_tarball_leaves_nothing_in_the_cache(sm, tmp_path):
    evil = tmp_path / "evil" / "model.tar.gz"
    evil.parent.mkdir()
    with tarfile.open(evil, "w:gz") as tar:
        data = b"{}"
        info = tarfile.TarInfo("../outside.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(ClientError) as caught:
        make_model(sm, "evil", evil)
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    from springboard.controlplane import resolve

    assert list(resolve.artifacts_dir().iterdir()) == []
    assert not (tmp_path / "evil" / "outside.json").exists()


def test_endpoints_of_one_artifact_share_its_loaded_weights_and_their_number_is_bounded(
        sm, runtime, wait, server, tiny_causal_dir, monkeypatch):
    monkeypatch.setenv("SPRINGBOARD_MAX_ENDPOINTS", "3")
    make_model(sm, "m", tiny_causal_dir)
    make_config(sm, "c", "m")
    for name in ("s1", "s2", "s3"):
        sm.create_endpoint(EndpointName=name, EndpointConfigName="c")
    for name in ("s1", "s2", "s3"):
        wait("endpoint_in_service", EndpointName=name)
    manager = server.manager
    assert len(manager.engines) == 1  # one copy of the weights for the three endpoints
    assert manager.endpoints["s1"].engine is manager.endpoints["s3"].engine

    with pytest.raises(ClientError) as caught:
        sm.create_endpoint(EndpointName="s4", EndpointConfigName="c")
    error = caught.value.response["Error"]
    assert error["Code"] == "ResourceLimitExceeded" and "SPRINGBOARD_MAX_ENDPOINTS" in error["Message"]

    answer = generate(runtime, "s2")
    sm.delete_endpoint(EndpointName="s1")  # the others keep the shared engine (and its scheduler)
    assert generate(runtime, "s2") == answer and generate(runtime, "s3") == answer
    sm.create_endpoint(EndpointName="s4", EndpointConfigName="c")  # room again
    wait("endpoint_in_service", EndpointName="s4")
    assert generate(runtime, "s4") == answer and len(manager.engines) == 1
    for name in ("s2", "s3", "s4"):
        sm.delete_endpoint(EndpointName=name)
    assert len(manager.engines) == 0  # released with the last endpoint
