"""The real `sagemaker` SDK v2 against a live Springboard server on loopback (moto as S3), with
tiny models registered in the catalog. Nothing here talks to Springboard's own Python API
except to register the tiny models and to cross-check what the SDK made."""

from __future__ import annotations

import json

import pytest

from springboard.hub import register_model

ROLE = "arn:aws:iam::111122223333:role/springboard"


@pytest.fixture
def tiny_catalog(sdk_server, reexport, tiny_causal_dir, tiny_t5_dir):
    """The tiny models as catalog ids (and so as JumpStart ids)."""
    register_model("tiny-causal", tiny_causal_dir)
    register_model("tiny-t5", tiny_t5_dir)
    reexport()
    return sdk_server


def test_jumpstart_model_deploy_predict_retrieve_default_delete(tiny_catalog):
    import boto3
    from botocore.exceptions import ClientError
    from sagemaker.jumpstart.model import JumpStartModel
    from sagemaker.predictor import retrieve_default

    model = JumpStartModel(model_id="tiny-causal", role=ROLE)
    predictor = model.deploy(endpoint_name="sdk-causal")
    out = predictor.predict({"inputs": "Hello", "parameters": {"max_new_tokens": 4, "do_sample": False}},
                            custom_attributes="accept_eula=true")
    assert isinstance(out, list) and isinstance(out[0]["generated_text"], str)

    # retrieve_default builds the predictor from the model's spec; with model_id given it does
    # not need STS (see README: the SDK asks STS for the account id to find the endpoint's tags).
    again = retrieve_default("sdk-causal", model_id="tiny-causal", model_version="*")
    assert again.predict({"inputs": "Hi", "parameters": {"max_new_tokens": 2}})[0]["generated_text"] is not None

    sm = boto3.client("sagemaker")
    assert sm.describe_endpoint(EndpointName="sdk-causal")["EndpointStatus"] == "InService"
    predictor.delete_model()
    predictor.delete_endpoint()
    with pytest.raises(ClientError) as info:
        sm.describe_endpoint(EndpointName="sdk-causal")
    assert info.value.response["Error"]["Code"] == "ValidationException"


def test_text2text_model_with_default_payload(tiny_catalog):
    from sagemaker.jumpstart.model import JumpStartModel

    model = JumpStartModel(model_id="tiny-t5", role=ROLE)
    predictor = model.deploy(endpoint_name="sdk-t5")
    try:
        payload = model.retrieve_example_payload()
        out = predictor.predict(payload.body)
        assert isinstance(out["generated_texts"], list) and len(out["generated_texts"]) == 1
    finally:
        predictor.delete_endpoint()


def _instruction_data(bucket: str) -> str:
    """A tiny instruction set with a template.json, uploaded as the SDK's users do."""
    import boto3

    s3 = boto3.client("s3")
    name = bucket.removeprefix("s3://")
    rows = [{"question": f"What is {a} plus {b}?", "answer": str(a + b)} for a in range(4) for b in range(3)]
    s3.put_object(Bucket=name, Key="train/data.jsonl", Body="\n".join(json.dumps(r) for r in rows).encode())
    template = {"prompt": "Question: {question}\nAnswer:", "completion": " {answer}"}
    s3.put_object(Bucket=name, Key="train/template.json", Body=json.dumps(template).encode())
    return f"{bucket}/train/"


def test_estimator_fit_then_deploy_the_fine_tuned_model(tiny_catalog):
    import boto3
    from sagemaker.jumpstart.estimator import JumpStartEstimator

    est = JumpStartEstimator(
        model_id="tiny-causal", role=ROLE,
        hyperparameters={"epoch": "1", "instruction_tuned": "True", "max_input_length": "64",
                         "per_device_train_batch_size": "4", "validation_split_ratio": "0.25"},
    )
    est.fit({"training": _instruction_data(tiny_catalog.bucket)})  # waits, printing the job log (CloudWatch Logs)
    name = est.latest_training_job.name
    desc = boto3.client("sagemaker").describe_training_job(TrainingJobName=name)
    assert desc["TrainingJobStatus"] == "Completed"
    # The spec's disable_output_compression: an uncompressed prefix, as JumpStart's LLMs publish.
    assert desc["OutputDataConfig"]["CompressionType"] == "NONE"
    assert desc["ModelArtifacts"]["S3ModelArtifacts"].startswith(f"{tiny_catalog.bucket}/{name}/output/model")
    metrics = {m["MetricName"] for m in desc.get("FinalMetricDataList", [])}
    assert "springboard:train-loss" in metrics  # the spec's MetricDefinitions over the job log

    predictor = est.deploy(endpoint_name="sdk-tuned")
    try:
        out = predictor.predict({"inputs": "Question: What is 1 plus 1?\nAnswer:", "parameters": {"max_new_tokens": 3}})
        assert isinstance(out[0]["generated_text"], str)
    finally:
        predictor.delete_endpoint()


def test_transformer_batch_transform_over_s3(tiny_catalog):
    import ast

    import boto3
    from sagemaker.jumpstart.model import JumpStartModel

    s3 = boto3.client("s3")
    bucket = tiny_catalog.bucket.removeprefix("s3://")
    records = [{"id": i, "text_inputs": f"Summarize: item number {i}"} for i in range(5)]
    s3.put_object(Bucket=bucket, Key="batch/in/articles.jsonl",
                  Body="\n".join(json.dumps(r) for r in records).encode())

    model = JumpStartModel(model_id="tiny-causal", role=ROLE)
    transformer = model.transformer(
        instance_count=1, instance_type="ml.m5.xlarge", output_path=f"{tiny_catalog.bucket}/batch/out",
        assemble_with="Line", accept="text/csv", env={"HYPER_PARAMS": str({"batch_size": 2, "max_length": 8})},
    )
    transformer.transform(f"{tiny_catalog.bucket}/batch/in/", content_type="application/jsonlines",
                          split_type="Line")
    transformer.wait()  # with logs, through the server's CloudWatch Logs
    body = s3.get_object(Bucket=bucket, Key="batch/out/articles.jsonl.out")["Body"].read().decode()
    lines = [ast.literal_eval(line) for line in body.splitlines() if line.strip()]  # as seed 001 reads them
    assert [line["id"] for line in lines] == list(range(5))
    assert all(isinstance(line["generated_texts"], list) for line in lines)
    desc = boto3.client("sagemaker").describe_transform_job(TransformJobName=transformer.latest_transform_job.name)
    assert desc["TransformJobStatus"] == "Completed"
    # The spec leaves network isolation off, else the SDK drops the transformer's env.
    assert desc["Environment"]["HYPER_PARAMS"] == str({"batch_size": 2, "max_length": 8})


def test_automl_v2_fit_best_candidate_deploy(tiny_catalog):
    import boto3
    from sagemaker import AutoMLDataChannel, AutoMLTextGenerationConfig, AutoMLV2
    from sagemaker.predictor import Predictor

    s3 = boto3.client("s3")
    bucket = tiny_catalog.bucket.removeprefix("s3://")
    rows = ["input,output"] + [f"What is {a} plus {b}?,{a + b}" for a in range(5) for b in range(4)]
    s3.put_object(Bucket=bucket, Key="automl/train/data.csv", Body="\n".join(rows).encode())

    automl = AutoMLV2(
        problem_config=AutoMLTextGenerationConfig(
            base_model_name="tiny-causal",
            text_generation_hyper_params={"epochCount": "1", "batchSize": "4"},
        ),
        base_job_name="sdk-automl",
        role=ROLE,
        output_path=f"{tiny_catalog.bucket}/automl/out",
    )
    automl.fit(
        inputs=[AutoMLDataChannel(s3_data_type="S3Prefix", s3_uri=f"{tiny_catalog.bucket}/automl/train/",
                                  channel_type="training", content_type="text/csv;header=present")],
    )  # wait=True, logs=True: the SDK polls DescribeAutoMLJobV2 (its logs=False path is broken in 2.257)
    best = automl.best_candidate()
    assert best["CandidateStatus"] == "Completed"
    assert best["FinalAutoMLJobObjectiveMetric"]["MetricName"]
    predictor = automl.deploy(initial_instance_count=1, instance_type="ml.m5.xlarge", candidate=best,
                              endpoint_name="sdk-automl-best", predictor_cls=Predictor)
    try:
        out = predictor.predict(json.dumps({"inputs": "What is 2 plus 2?", "parameters": {"max_new_tokens": 3}}),
                                initial_args={"ContentType": "application/json"})
        assert b"generated_text" in out
    finally:
        predictor.delete_endpoint()
