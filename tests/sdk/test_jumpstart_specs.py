"""The catalog as JumpStart metadata, read by the real `sagemaker` SDK (no server needed:
these SDK calls only read the local specs)."""

from __future__ import annotations

import json

import pytest

from springboard.errors import ValidationError
from springboard.hub import list_models, register_model, retrieve_default_hyperparameters
from springboard.hub.jumpstart import (
    MANIFEST_FILE,
    ArtifactRef,
    export_specs,
    parse_artifact_uri,
    sdk_config,
)

DEFAULT = "smollm2-135m-instruct"
ROLE = "arn:aws:iam::111122223333:role/springboard"


def test_manifest_lists_every_catalog_model_and_specs_parse_in_the_sdk(tmp_path):
    from sagemaker.jumpstart.types import JumpStartModelHeader, JumpStartModelSpecs

    root = export_specs(tmp_path / "js")
    manifest = json.loads((root / MANIFEST_FILE).read_text())
    assert sorted(h["model_id"] for h in manifest) == list_models()
    for header in manifest:
        parsed = JumpStartModelHeader(header)
        specs = JumpStartModelSpecs(json.loads((root / parsed.spec_key).read_text()))
        assert specs.model_id == header["model_id"]
        assert specs.version == header["version"]


def test_sdk_default_hyperparameters_are_the_catalog_defaults(sdk_env):
    from sagemaker import hyperparameters

    for model_id in (DEFAULT, "huggingface-text2text-flan-t5-small"):
        got = hyperparameters.retrieve_default(model_id=model_id, model_version="*")
        assert got == retrieve_default_hyperparameters(model_id)


def test_jumpstart_model_resolves_image_and_weights_uri_that_map_back(sdk_env):
    from sagemaker.jumpstart.model import JumpStartModel

    model = JumpStartModel(model_id=DEFAULT, role=ROLE)
    assert model.image_uri == "springboard.local/springboard-inference:cpu"
    source = model.model_data["S3DataSource"]
    assert source["S3DataType"] == "S3Prefix" and source["CompressionType"] == "None"
    assert parse_artifact_uri(source["S3Uri"]) == ArtifactRef(DEFAULT, "1.0.0", "inference")
    gpu = JumpStartModel(model_id=DEFAULT, role=ROLE, instance_type="ml.g5.2xlarge")
    assert gpu.image_uri == "springboard.local/springboard-inference:gpu"


def test_default_payloads_match_each_models_wire_format(sdk_env):
    from sagemaker.jumpstart.model import JumpStartModel

    causal = JumpStartModel(model_id=DEFAULT, role=ROLE).retrieve_all_examples()
    assert causal and all(set(p.body) == {"inputs", "parameters"} for p in causal)
    t5 = JumpStartModel(model_id="huggingface-text2text-flan-t5-small", role=ROLE).retrieve_example_payload()
    assert "text_inputs" in t5.body and t5.content_type == "application/json"


def test_estimator_takes_the_model_channel_and_metric_definitions_from_the_spec(sdk_env):
    from sagemaker.jumpstart.estimator import JumpStartEstimator

    est = JumpStartEstimator(model_id=DEFAULT, role=ROLE, hyperparameters={"epoch": "1"})
    assert parse_artifact_uri(est.model_uri) == ArtifactRef(DEFAULT, "1.0.0", "training")
    assert est.image_uri == "springboard.local/springboard-training:cpu"
    assert est.disable_output_compression is True
    names = {m["Name"] for m in est.metric_definitions}
    assert names == {"springboard:train-loss", "springboard:eval-loss", "springboard:perplexity",
                     # JumpStart's own names, over the transformers-Trainer lines the job also logs
                     "huggingface-textgeneration:train-loss", "huggingface-textgeneration:eval-loss"}
    hps = {k: json.loads(v) for k, v in est.hyperparameters().items()}  # the SDK JSON-encodes each value
    assert hps["epoch"] == "1" and hps["peft_type"] == "lora"


def test_a_registered_model_becomes_a_jumpstart_id_after_export(sdk_env, reexport, tiny_causal_dir):
    from sagemaker.jumpstart.model import JumpStartModel

    register_model("tiny-causal", tiny_causal_dir)
    reexport()
    model = JumpStartModel(model_id="tiny-causal", role=ROLE)
    assert parse_artifact_uri(model.model_data["S3DataSource"]["S3Uri"]).model_id == "tiny-causal"


@pytest.mark.parametrize(
    "uri, expected",
    [
        ("s3://any-bucket/springboard-jumpstart/m-1/2.0.1/training/", ArtifactRef("m-1", "2.0.1", "training")),
        ("s3://b/springboard-jumpstart/m/1.0.0/training-script/sourcedir.tar.gz", ArtifactRef("m", "1.0.0", "training-script")),
        ("s3://b/springboard-jumpstart/m/1.0.0/inference", ArtifactRef("m", "1.0.0", "inference")),
        ("s3://b/output/job/model/", None),
        ("s3://b/springboard-jumpstart/m/1.0.0/weights/", None),
        ("file:///springboard-jumpstart/m/1.0.0/inference/", None),
    ],
)
def test_parse_artifact_uri(uri, expected):
    assert parse_artifact_uri(uri) == expected


def test_sdk_config_refuses_a_role_the_sdk_would_reject():
    with pytest.raises(ValidationError, match="role ARN 'admin'"):
        sdk_config(role_arn="admin")


def test_sdk_config_file_is_valid_for_the_sdk(sdk_env):
    from sagemaker.config import load_sagemaker_config

    config = load_sagemaker_config()  # validates against the SDK's JSON schema
    assert config["SageMaker"]["PythonSDK"]["Modules"]["TelemetryOptOut"] is True
    assert config["SageMaker"]["TrainingJob"]["RoleArn"] == ROLE


def test_cli_specs_and_env(tmp_path, capsys, moto_s3_server, monkeypatch):
    import boto3

    from springboard.cli import main

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_s3_server)  # restored after the CLI sets it for itself
    assert main(["jumpstart", "specs", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / MANIFEST_FILE).is_file()
    assert main(["jumpstart", "env", "--endpoint-url", "http://127.0.0.1:8123", "--dir", str(tmp_path / "e"),
                 "--s3-endpoint-url", moto_s3_server, "--bucket", "cli-env-bucket"]) == 0
    out = capsys.readouterr().out
    assert "export AWS_ENDPOINT_URL_SAGEMAKER=http://127.0.0.1:8123" in out
    assert f"export AWS_ENDPOINT_URL_S3={moto_s3_server}" in out
    assert "export AWS_ENDPOINT_URL_CLOUDWATCH_LOGS=http://127.0.0.1:8123" in out  # boto3's name for "logs"
    assert "export AWS_ENDPOINT_URL_CLOUDWATCH=http://127.0.0.1:8123" in out  # metrics (TrainingJobAnalytics)
    assert f"export AWS_JUMPSTART_SPECS_LOCAL_ROOT_DIR_OVERRIDE={tmp_path / 'e'}" in out
    assert "export AWS_JUMPSTART_CONTENT_BUCKET_OVERRIDE=cli-env-bucket" in out
    assert (tmp_path / "e" / "sagemaker-config.yaml").is_file()
    # what the SDK reads from its content bucket on S3 even in local-override mode, written there
    s3 = boto3.client("s3", endpoint_url=moto_s3_server, region_name="us-east-1")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="cli-env-bucket")["Contents"]}
    assert {"proprietary-sdk-manifest.json", MANIFEST_FILE} <= keys
    assert "community_models/smollm2-135m-instruct/specs_v1.0.0.json" in keys


def test_cli_env_without_s3_fails_saying_what_to_start(tmp_path, capsys, monkeypatch):
    from liveserver import free_port

    from springboard.cli import main

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    dead = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", dead)  # restored after the CLI sets it for itself
    assert main(["jumpstart", "env", "--dir", str(tmp_path / "e"), "--s3-endpoint-url", dead]) != 0
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing for `eval` to apply half-way
    assert "could not write the JumpStart metadata into s3://springboard" in captured.err
    assert f"nothing answers at the S3 endpoint {dead}" in captured.err


def test_cli_specs_into_a_file_is_an_error(tmp_path, capsys):
    from springboard.cli import main

    target = tmp_path / "file"
    target.write_text("x")
    assert main(["jumpstart", "specs", str(target)]) != 0
    assert "not a directory" in capsys.readouterr().err


def test_server_start_exports_the_catalog_into_springboard_home(sb_home):
    from fastapi.testclient import TestClient

    from springboard.app import create_app

    with TestClient(create_app(restore=False)):
        manifest = json.loads((sb_home / "jumpstart" / MANIFEST_FILE).read_text())
    assert "smollm2-135m-instruct" in {h["model_id"] for h in manifest}


def test_server_start_under_jumpstart_env_also_refreshes_the_s3_copy(s3_bucket, monkeypatch, tiny_causal_dir):
    import boto3
    from fastapi.testclient import TestClient

    from springboard.app import create_app

    bucket = s3_bucket.removeprefix("s3://")
    monkeypatch.setenv("AWS_JUMPSTART_CONTENT_BUCKET_OVERRIDE", bucket)  # as `jumpstart env` exports it
    register_model("tiny-causal", tiny_causal_dir)  # registered after `jumpstart env` ran
    with TestClient(create_app(restore=False)):
        pass
    body = boto3.client("s3").get_object(Bucket=bucket, Key="community_models/tiny-causal/specs_v1.0.0.json")["Body"]
    assert json.loads(body.read())["model_id"] == "tiny-causal"
