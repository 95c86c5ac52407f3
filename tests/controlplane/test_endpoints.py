"""Models, EndpointConfigs, Endpoints through the real boto3 `sagemaker` client and its waiters,
invoked through `sagemaker-runtime`, and seen from the CLI and SDK (one registry)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from botocore.exceptions import ClientError, WaiterError

from springboard.cli import main

ROLE = "arn:aws:iam::111111111111:role/SageMakerRole"


def make_model(sm, name, location, **extra):
    container = {"Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:2.1",
                 "ModelDataUrl": str(location)}
    return sm.create_model(ModelName=name, PrimaryContainer=container, ExecutionRoleArn=ROLE, **extra)


def make_config(sm, name, model, **variant):
    production = {"VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": 1,
                  "InstanceType": "ml.m5.xlarge", **variant}
    return sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[production])


def error_of(call, *args, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    err = info.value.response["Error"]
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return err["Code"], err["Message"]


def invoke(runtime, name, text="Hello"):
    out = runtime.invoke_endpoint(EndpointName=name, ContentType="application/json",
                                  Body=json.dumps({"inputs": text, "parameters": {"max_new_tokens": 3}}))
    return json.loads(out["Body"].read())


def test_model_config_endpoint_lifecycle_with_waiters(sm, runtime, wait, tiny_causal_dir, tiny_t5_dir):
    arn = make_model(sm, "causal-model", tiny_causal_dir, Tags=[{"Key": "team", "Value": "nlp"}])["ModelArn"]
    assert arn == "arn:aws:sagemaker:local:000000000000:model/causal-model"
    described = sm.describe_model(ModelName="causal-model")
    assert described["PrimaryContainer"]["ModelDataUrl"] == str(tiny_causal_dir)
    assert described["ExecutionRoleArn"] == ROLE and described["CreationTime"].year >= 2024
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "nlp"}]

    make_config(sm, "causal-config", "causal-model")
    config = sm.describe_endpoint_config(EndpointConfigName="causal-config")
    assert config["ProductionVariants"][0]["ModelName"] == "causal-model"

    sm.create_endpoint(EndpointName="chat", EndpointConfigName="causal-config")
    assert sm.describe_endpoint(EndpointName="chat")["EndpointStatus"] in ("Creating", "InService")
    wait("endpoint_in_service", EndpointName="chat")
    endpoint = sm.describe_endpoint(EndpointName="chat")
    assert endpoint["EndpointConfigName"] == "causal-config"
    assert endpoint["ProductionVariants"][0]["CurrentInstanceCount"] == 1
    assert "generated_text" in invoke(runtime, "chat")[0]
    assert [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]] == ["chat"]
    assert sm.list_endpoints(StatusEquals="Failed")["Endpoints"] == []

    # UpdateEndpoint: a new model takes over; the endpoint serves throughout
    make_model(sm, "t5-model", tiny_t5_dir)
    make_config(sm, "t5-config", "t5-model")
    sm.update_endpoint(EndpointName="chat", EndpointConfigName="t5-config")
    assert sm.describe_endpoint(EndpointName="chat")["EndpointStatus"] in ("Updating", "InService")
    wait("endpoint_in_service", EndpointName="chat")
    assert sm.describe_endpoint(EndpointName="chat")["EndpointConfigName"] == "t5-config"
    out = runtime.invoke_endpoint(EndpointName="chat", ContentType="application/json",
                                  Body=json.dumps({"text_inputs": "a b", "max_length": 4}))
    assert "generated_texts" in json.loads(out["Body"].read())  # now the text2text model answers

    sm.delete_endpoint(EndpointName="chat")
    wait("endpoint_deleted", EndpointName="chat")
    code, message = error_of(sm.describe_endpoint, EndpointName="chat")
    assert code == "ValidationException" and "Could not find endpoint" in message
    sm.delete_endpoint_config(EndpointConfigName="causal-config")
    sm.delete_model(ModelName="causal-model")
    assert [m["ModelName"] for m in sm.list_models()["Models"]] == ["t5-model"]
    assert [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]] == ["t5-config"]


def test_a_model_that_cannot_load_fails_the_endpoint_and_the_waiter(sm, wait, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    make_model(sm, "broken", broken)
    make_config(sm, "broken", "broken")
    sm.create_endpoint(EndpointName="broken", EndpointConfigName="broken")
    with pytest.raises(WaiterError, match="Failed"):
        wait("endpoint_in_service", EndpointName="broken")
    described = sm.describe_endpoint(EndpointName="broken")
    assert described["EndpointStatus"] == "Failed" and described["FailureReason"]


def test_validation_errors_name_the_rule(sm, tiny_causal_dir):
    # name rules from botocore's model, worded as AWS words them
    code, message = error_of(make_model, sm, "bad_name", tiny_causal_dir)
    assert code == "ValidationException"
    assert "at 'modelName' failed to satisfy constraint: Member must satisfy regular expression pattern" in message
    code, message = error_of(sm.create_endpoint, EndpointName="x" * 64, EndpointConfigName="c")
    assert "Member must have length less than or equal to 63" in message
    # missing resources
    assert error_of(sm.describe_model, ModelName="nope")[1] == (
        'Could not find model "arn:aws:sagemaker:local:000000000000:model/nope".')
    assert "Could not find endpoint configuration" in error_of(sm.describe_endpoint_config, EndpointConfigName="nope")[1]
    assert "Could not find model" in error_of(make_config, sm, "c1", "nope")[1]
    assert "Could not find endpoint configuration" in error_of(sm.create_endpoint, EndpointName="e", EndpointConfigName="nope")[1]
    assert "Could not find endpoint" in error_of(sm.delete_endpoint, EndpointName="nope")[1]
    # duplicates
    make_model(sm, "m", tiny_causal_dir)
    assert "Cannot create already existing model" in error_of(make_model, sm, "m", tiny_causal_dir)[1]
    assert "Cannot create already existing model" in error_of(make_model, sm, "M", tiny_causal_dir)[1]  # names ignore case
    make_config(sm, "c", "m")
    assert "already existing endpoint configuration" in error_of(make_config, sm, "c", "m")[1]
    # what Springboard cannot map says what it needs
    code, message = error_of(make_model, sm, "nowhere", "s3-less/relative/missing")
    assert "Springboard needs to know which model to use" in message
    code, message = error_of(sm.create_model, ModelName="nothing", PrimaryContainer={"Image": "x"}, ExecutionRoleArn=ROLE)
    assert "no model location" in message and "jumpstart-model-id" in message
    code, message = error_of(make_config, sm, "two", "m", InitialInstanceCount=2)
    assert code == "ResourceLimitExceeded" and "InitialInstanceCount must be 1" in message
    # an operation botocore knows but Springboard does not serve names itself
    code, message = error_of(sm.describe_hyper_parameter_tuning_job, HyperParameterTuningJobName="t")
    assert code == "UnsupportedOperation" and "SageMaker.DescribeHyperParameterTuningJob" in message


def test_unknown_target_and_bad_json_are_4xx(server):
    import httpx

    bad = httpx.post(server.url + "/", headers={"X-Amz-Target": "SageMaker.NoSuchThing",
                                                "Content-Type": "application/x-amz-json-1.1"}, content=b"{}")
    assert bad.status_code == 400 and bad.json()["__type"] == "UnknownOperationException"
    bad = httpx.post(server.url + "/", headers={"X-Amz-Target": "SageMaker.ListModels"}, content=b"{not json")
    assert bad.status_code == 400 and bad.json()["__type"] == "SerializationException"


def test_jumpstart_tags_choose_the_catalog_model(sm):
    tags = [{"Key": "sagemaker-sdk:jumpstart-model-id", "Value": "huggingface-text2text-flan-t5-small"},
            {"Key": "sagemaker-sdk:jumpstart-model-version", "Value": "1.0.0"}]
    # the JumpStart bucket's URI is never downloaded: the tag names the model
    make_model(sm, "js", "s3://jumpstart-cache-prod-us-east-1/huggingface-infer/prepack/model.tar.gz", Tags=tags)
    from springboard.controlplane.resource_store import Records

    assert Records().get("model", "js").data["reference"] == "huggingface-text2text-flan-t5-small"
    wrong_version = [tags[0], {"Key": "sagemaker-sdk:jumpstart-model-version", "Value": "9.9.9"}]
    assert "version 1.0.0" in error_of(make_model, sm, "js3", "s3://jumpstart-cache-prod-us-east-1/x.tar.gz",
                                       Tags=wrong_version)[1]
    # our exported specs' artifact URIs name the catalog model even without the tags
    make_model(sm, "js-untagged", "s3://jumpstart-cache-prod-us-east-1/springboard-jumpstart/"
                                  "huggingface-text2text-flan-t5-small/1.0.0/inference/")
    assert Records().get("model", "js-untagged").data["reference"] == "huggingface-text2text-flan-t5-small"
    bad = [{"Key": "sagemaker-sdk:jumpstart-model-id", "Value": "no-such-model"}]
    code, message = error_of(make_model, sm, "js2", "s3://jumpstart-cache-prod-us-east-1/x.tar.gz", Tags=bad)
    assert "no-such-model" in message and "springboard models list" in message


def test_s3_model_data_url_and_tarball(sm, runtime, wait, s3_bucket, tiny_causal_dir):
    from springboard import storage

    storage.publish_tarball(tiny_causal_dir, s3_bucket + "/models/tiny/model.tar.gz")
    make_model(sm, "from-s3", s3_bucket + "/models/tiny/model.tar.gz")
    make_config(sm, "from-s3", "from-s3")
    sm.create_endpoint(EndpointName="from-s3", EndpointConfigName="from-s3")
    wait("endpoint_in_service", EndpointName="from-s3")
    assert "generated_text" in invoke(runtime, "from-s3")[0]
    code, message = error_of(make_model, sm, "missing-s3", s3_bucket + "/models/none/model.tar.gz")
    assert "does not exist" in message


def test_endpoints_are_one_registry_for_cli_sdk_and_boto3(sm, runtime, wait, tiny_causal_dir, tiny_t5_dir, capsys):
    # made by the CLI, seen and deleted through boto3
    assert main(["deploy", str(tiny_causal_dir), "--name", "from-cli"]) == 0
    capsys.readouterr()
    wait("endpoint_in_service", EndpointName="from-cli")
    assert sm.describe_endpoint(EndpointName="from-cli")["EndpointStatus"] == "InService"
    assert "generated_text" in invoke(runtime, "from-cli")[0]
    # made through boto3, seen by the CLI and the SDK's Predictor
    make_model(sm, "t5", tiny_t5_dir)
    make_config(sm, "t5", "t5")
    sm.create_endpoint(EndpointName="from-boto3", EndpointConfigName="t5")
    wait("endpoint_in_service", EndpointName="from-boto3")
    assert main(["endpoints", "list"]) == 0
    listed = capsys.readouterr().out
    assert "from-cli" in listed and "from-boto3" in listed
    from springboard import Predictor

    assert len(Predictor("from-boto3").predict({"text_inputs": ["a b"], "max_length": 3})["generated_texts"]) == 1
    sm.delete_endpoint(EndpointName="from-cli")
    wait("endpoint_deleted", EndpointName="from-cli")
    assert main(["endpoints", "describe", "from-cli"]) == 1
    assert main(["endpoints", "delete", "from-boto3"]) == 0
    assert "Could not find endpoint" in error_of(sm.describe_endpoint, EndpointName="from-boto3")[1]
    # the same name made again by the CLI is another endpoint: no EndpointConfig of the old one
    assert main(["deploy", str(tiny_causal_dir), "--name", "from-boto3"]) == 0
    assert "EndpointConfigName" not in sm.describe_endpoint(EndpointName="from-boto3")


def test_aws_cli_lists_endpoints(server, tiny_causal_dir, sm, wait):
    make_model(sm, "m", tiny_causal_dir)
    make_config(sm, "c", "m")
    sm.create_endpoint(EndpointName="seen-by-aws-cli", EndpointConfigName="c")
    env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
               AWS_ENDPOINT_URL_SAGEMAKER=server.url)
    aws = os.path.join(os.path.dirname(sys.executable), "aws")
    out = subprocess.run([aws, "sagemaker", "list-endpoints", "--output", "json"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert [e["EndpointName"] for e in json.loads(out.stdout)["Endpoints"]] == ["seen-by-aws-cli"]
    wait("endpoint_in_service", EndpointName="seen-by-aws-cli")


def test_a_failed_update_keeps_the_old_model_serving(sm, runtime, wait, tiny_causal_dir, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    make_model(sm, "good", tiny_causal_dir)
    make_model(sm, "bad", broken)
    make_config(sm, "good", "good")
    make_config(sm, "bad", "bad")
    sm.create_endpoint(EndpointName="steady", EndpointConfigName="good")
    wait("endpoint_in_service", EndpointName="steady")
    sm.update_endpoint(EndpointName="steady", EndpointConfigName="bad")
    wait("endpoint_in_service", EndpointName="steady")  # rolled back, as SageMaker does
    described = sm.describe_endpoint(EndpointName="steady")
    assert described["EndpointStatus"] == "InService" and "update to" in described["FailureReason"]
    assert described["EndpointConfigName"] == "good"
    assert "generated_text" in invoke(runtime, "steady")[0]
    code, message = error_of(sm.update_endpoint, EndpointName="ghost", EndpointConfigName="good")
    assert "Could not find endpoint" in message
