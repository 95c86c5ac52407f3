"""Every request rule, with its AWS-style message."""

from __future__ import annotations

import json

import pytest

from springboard.automl.plan import build_plan
from springboard.automl.request import load_request, parse_request
from springboard.errors import ConflictError, ModelUnavailableError, NotFoundError, ValidationError

from .conftest import channel, make_request

TG = ("AutoMLProblemTypeConfig", "TextGenerationJobConfig")


def plan_of(request, check_models=True):
    return build_plan(parse_request(request), check_models=check_models)


def error_of(request, check_models=True, kind=ValidationError) -> str:
    with pytest.raises(kind) as info:
        plan_of(request, check_models)
    return str(info.value)


def test_job_name_pattern_and_length(train_csv):
    msg = error_of(make_request(train_csv, name="bad_name"))
    assert msg == (
        "1 validation error detected: Value 'bad_name' at 'autoMLJobName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}"
    )
    assert "Member must have length less than or equal to 32" in error_of(make_request(train_csv, name="a" * 33))
    assert "at 'autoMLJobName'" in error_of(make_request(train_csv, name="-abc"))
    assert plan_of(make_request(train_csv, name="a" * 32), False).job_name == "a" * 32
    request = make_request(train_csv)
    del request["AutoMLJobName"]
    assert "Value null at 'autoMLJobName' failed to satisfy constraint: Member must not be null" in error_of(request)


def test_unknown_field_names_the_field(train_csv):
    request = make_request(train_csv, BaseModel="x")
    msg = error_of(request)
    assert 'Unknown parameter in AutoMLProblemTypeConfig.TextGenerationJobConfig: "BaseModel", must be one of: ' in msg
    assert "BaseModelName" in msg
    request = make_request(train_csv)
    request["AutoMLJobInputDataConfig"][0]["DataSource"]["S3DataSource"]["S3uri"] = "x"
    assert 'Unknown parameter in AutoMLJobInputDataConfig[0].DataSource.S3DataSource: "S3uri"' in error_of(request)


def test_channel_count_and_types(train_csv):
    request = make_request(train_csv)
    request["AutoMLJobInputDataConfig"] = []
    assert "at 'autoMLJobInputDataConfig' failed to satisfy constraint: Member must have length greater than or equal to 1" in error_of(request)
    request["AutoMLJobInputDataConfig"] = [channel(train_csv)] * 3
    assert "Member must have length less than or equal to 2" in error_of(request)
    request["AutoMLJobInputDataConfig"] = [channel(train_csv), channel(train_csv)]
    assert "exactly one channel with ChannelType 'training'" in error_of(request)
    request["AutoMLJobInputDataConfig"] = [channel(train_csv, "validation")]
    assert "exactly one channel with ChannelType 'training'" in error_of(request)
    request["AutoMLJobInputDataConfig"] = [channel(train_csv, "train")]
    assert ("Value 'train' at 'autoMLJobInputDataConfig.1.member.channelType' failed to satisfy constraint: "
            "Member must satisfy enum value set: [training, validation]") in error_of(request)
    # No ChannelType means training.
    request["AutoMLJobInputDataConfig"] = [channel(train_csv, None)]
    assert plan_of(request, False).validation_fraction == 0.2


def test_content_type_compression_and_data_type(train_csv):
    request = make_request(train_csv)
    request["AutoMLJobInputDataConfig"] = [channel(train_csv, content_type="application/jsonlines")]
    assert ("at 'autoMLJobInputDataConfig.1.member.contentType' failed to satisfy constraint: Member must satisfy "
            "enum value set: [text/csv;header=present, x-application/vnd.amazon+parquet]") in error_of(request)
    # Seed 003's channel says plain text/csv: read with its header row, as text/csv;header=present.
    request["AutoMLJobInputDataConfig"] = [channel(train_csv, content_type="text/csv")]
    assert plan_of(request, False).validation_fraction == 0.2
    request["AutoMLJobInputDataConfig"] = [channel(train_csv, content_type="text/csv;header=absent")]
    assert "the header row names the input and output columns" in error_of(request)
    request["AutoMLJobInputDataConfig"] = [channel(train_csv, compression="Zip")]
    assert "at 'autoMLJobInputDataConfig.1.member.compressionType'" in error_of(request)
    request["AutoMLJobInputDataConfig"] = [
        channel(train_csv), channel(train_csv, "validation", content_type="x-application/vnd.amazon+parquet")
    ]
    assert "must share the same ContentType" in error_of(request)
    request["AutoMLJobInputDataConfig"] = [channel(train_csv)]
    request["AutoMLJobInputDataConfig"][0]["DataSource"]["S3DataSource"]["S3DataType"] = "ManifestFile"
    assert "Member must satisfy enum value set: [S3Prefix] for the TextGeneration problem type" in error_of(request)


def test_validation_fraction_default_and_conflict(train_csv):
    assert plan_of(make_request(train_csv), False).validation_fraction == 0.2
    request = make_request(train_csv)
    request["DataSplitConfig"] = {"ValidationFraction": 0.3}
    assert plan_of(request, False).validation_fraction == 0.3
    request["AutoMLJobInputDataConfig"].append(channel(train_csv, "validation"))
    assert "ValidationFraction cannot be set when a validation channel is given" in error_of(request)
    del request["DataSplitConfig"]
    assert plan_of(request, False).validation_fraction is None  # the channel is the validation set
    request = make_request(train_csv)
    request["DataSplitConfig"] = {"ValidationFraction": 1.5}
    assert ("Value '1.5' at 'dataSplitConfig.validationFraction' failed to satisfy constraint: "
            "Member must have value less than or equal to 1") in error_of(request)
    request["DataSplitConfig"] = {"ValidationFraction": 0}
    assert "Member must be greater than 0 and less than 1 without a validation channel" in error_of(request)


@pytest.mark.parametrize(
    "key,value,rule",
    [
        ("epochCount", "0", "Member must be an integer from 1 to 10"),
        ("epochCount", "11", "Member must be an integer from 1 to 10"),
        ("epochCount", "two", "Member must be an integer from 1 to 10"),
        ("batchSize", "65", "Member must be an integer from 1 to 64"),
        ("learningRate", "1.5", "Member must be a number greater than 0 and at most 1"),
        ("learningRate", "0", "Member must be a number greater than 0 and at most 1"),
        ("learningRateWarmupSteps", "251", "Member must be an integer from 0 to 250"),
        ("loraRank", "8", "Member must be one of the keys: epochCount, batchSize, learningRate, learningRateWarmupSteps"),
    ],
)
def test_hyperparameter_ranges(train_csv, key, value, rule):
    msg = error_of(make_request(train_csv, TextGenerationHyperParameters={key: value}))
    assert msg == (
        f"1 validation error detected: Value '{value}' at 'autoMLProblemTypeConfig.textGenerationJobConfig."
        f"textGenerationHyperParameters.{key}' failed to satisfy constraint: {rule}"
    )


def test_hyperparameters_are_strings_and_all_errors_are_listed(train_csv):
    msg = error_of(make_request(train_csv, TextGenerationHyperParameters={"epochCount": 3}))
    assert "textGenerationHyperParameters.epochCount' failed to satisfy constraint: Member must be of type string" in msg
    msg = error_of(make_request(train_csv, TextGenerationHyperParameters={"epochCount": "0", "batchSize": "0"}))
    assert msg.startswith("2 validation errors detected: ") and "epochCount" in msg and "batchSize" in msg
    ok = plan_of(make_request(train_csv, TextGenerationHyperParameters={
        "epochCount": "10", "batchSize": "64", "learningRate": "1", "learningRateWarmupSteps": "250"}), False)
    assert ok.fixed == {"epochCount": "10", "batchSize": "64", "learningRate": "1", "learningRateWarmupSteps": "250"}


def test_completion_criteria_bounds(train_csv):
    msg = error_of(make_request(train_csv, CompletionCriteria={"MaxCandidates": 0}))
    assert ("at 'autoMLProblemTypeConfig.textGenerationJobConfig.completionCriteria.maxCandidates' failed to satisfy "
            "constraint: Member must have value greater than or equal to 1") in msg
    assert "less than or equal to 750" in error_of(make_request(train_csv, CompletionCriteria={"MaxCandidates": 751}))
    msg = error_of(make_request(train_csv, CompletionCriteria={"MaxRuntimePerTrainingJobInSeconds": 0}))
    assert "completionCriteria.maxRuntimePerTrainingJobInSeconds" in msg
    plan = plan_of(make_request(train_csv, CompletionCriteria={
        "MaxCandidates": 1, "MaxRuntimePerTrainingJobInSeconds": 60, "MaxAutoMLJobRuntimeInSeconds": 600}), False)
    assert (plan.max_candidates, plan.max_runtime_per_training_job, plan.max_job_runtime) == (1, 60, 600)


def test_deploy_config(train_csv):
    request = make_request(train_csv)
    request["ModelDeployConfig"] = {"AutoGenerateEndpointName": True, "EndpointName": "ep"}
    assert "set either AutoGenerateEndpointName to true or EndpointName, not both" in error_of(request)
    request["ModelDeployConfig"] = {"EndpointName": "bad_name"}
    assert "at 'modelDeployConfig.endpointName' failed to satisfy constraint: Member must satisfy regular expression" in error_of(request)
    request["ModelDeployConfig"] = {"EndpointName": "good-name"}
    plan = plan_of(request, False)
    assert plan.deploy and plan.endpoint_name == "good-name"
    request["ModelDeployConfig"] = {"AutoGenerateEndpointName": True}
    plan = plan_of(request, False)
    assert plan.deploy and plan.endpoint_name is None
    assert not plan_of(make_request(train_csv), False).deploy


def test_objective(train_csv):
    request = make_request(train_csv)
    assert (plan_of(request, False).objective, plan_of(request, False).direction) == ("ValidationLoss", "Minimize")
    request["AutoMLJobObjective"] = {"MetricName": "Accuracy"}
    assert ("Value 'Accuracy' at 'autoMLJobObjective.metricName' failed to satisfy constraint: Member must satisfy "
            "enum value set: [ValidationLoss, TrainingLoss, Perplexity, Rouge1") in error_of(request)
    request["AutoMLJobObjective"] = {"MetricName": "RougeL"}
    plan = plan_of(request, False)
    assert plan.direction == "Maximize" and not plan.pruning  # pruning follows validation loss only


def test_problem_type(train_csv):
    request = make_request(train_csv)
    request["AutoMLProblemTypeConfig"]["TabularJobConfig"] = {"TargetAttributeName": "y"}
    assert "Springboard runs TextGenerationJobConfig only (got TabularJobConfig)" in error_of(request)


# Every text-generation BaseModelName CreateAutoMLJobV2 documents (AWS's table "Supported large
# language models for fine-tuning") and the JumpStart model it names.
DOCUMENTED_BASE_MODELS = {
    "Dolly3B": "huggingface-textgeneration-dolly-v2-3b-bf16",
    "Dolly7B": "huggingface-textgeneration-dolly-v2-7b-bf16",
    "Dolly12B": "huggingface-textgeneration-dolly-v2-12b-bf16",
    "Falcon7B": "huggingface-llm-falcon-7b-bf16",
    "Falcon7BInstruct": "huggingface-llm-falcon-7b-instruct-bf16",
    "Falcon40B": "huggingface-llm-falcon-40b-bf16",
    "Falcon40BInstruct": "huggingface-llm-falcon-40b-instruct-bf16",
    "FlanT5L": "huggingface-text2text-flan-t5-large",
    "FlanT5XL": "huggingface-text2text-flan-t5-xl",
    "FlanT5XXL": "huggingface-text2text-flan-t5-xxl",
    "Llama2-7B": "meta-textgeneration-llama-2-7b",
    "Llama2-13B": "meta-textgeneration-llama-2-13b",
    "Llama2-70B": "meta-textgeneration-llama-2-70b",
    "Llama2-7BChat": "meta-textgeneration-llama-2-7b-f",
    "Llama2-13BChat": "meta-textgeneration-llama-2-13b-f",
    "Llama2-70BChat": "meta-textgeneration-llama-2-70b-f",
    "Mistral7B": "huggingface-llm-mistral-7b",
    "Mistral7BInstruct": "huggingface-llm-mistral-7b-instruct",
    "MPT7B": "huggingface-textgeneration1-mpt-7b-bf16",
    "MPT7BInstruct": "huggingface-textgeneration1-mpt-7b-instruct-bf16",
}


def test_every_documented_base_model_name_is_a_catalog_model(sb_home):
    from springboard.automl.basemodels import resolve_base_model

    for name, model_id in DOCUMENTED_BASE_MODELS.items():
        model = resolve_base_model(name)
        assert (model.name, model.model_id) == (name, model_id)
    assert resolve_base_model("FlanT5XXL").architecture == "seq2seq"
    assert resolve_base_model("Llama2-13BChat").requires_eula


def test_base_model_names(train_csv, tiny_model):
    # Offline default, and the AWS default accepted as a name (mapped to its hub spec).
    request = make_request(train_csv)
    del request["AutoMLProblemTypeConfig"]["TextGenerationJobConfig"]["BaseModelName"]
    assert plan_of(request, False).base_models[0].model_id == "smollm2-135m-instruct"
    falcon = plan_of(make_request(train_csv, model="Falcon7BInstruct"), False).base_models[0]
    assert falcon.model_id == "huggingface-llm-falcon-7b-instruct-bf16" and falcon.name == "Falcon7BInstruct"
    assert plan_of(make_request(train_csv, model="FlanT5L"), False).base_models[0].architecture == "seq2seq"
    # Without weights on this machine: the hub's message, before any job starts.
    msg = error_of(make_request(train_csv, model="Falcon7BInstruct"), kind=ModelUnavailableError)
    assert "BaseModelName 'Falcon7BInstruct'" in msg and "springboard models register" in msg
    msg = error_of(make_request(train_csv, model="Falcon40B"), kind=ModelUnavailableError)
    assert "BaseModelName 'Falcon40B'" in msg and "springboard models register" in msg
    msg = error_of(make_request(train_csv, model="tiny-casual"), kind=NotFoundError)
    assert "did you mean" in msg and "tiny-causal" in msg
    assert "Member must satisfy regular expression pattern" in error_of(make_request(train_csv, model="a/b"))
    assert plan_of(make_request(train_csv)).base_models[0].model_id == "tiny-causal"


def test_eula_required(train_csv):
    msg = error_of(make_request(train_csv, model="Llama2-7B"), check_models=False)
    assert "requires accepting its end-user license agreement" in msg and "ModelAccessConfig.AcceptEula" in msg
    plan = plan_of(make_request(train_csv, model="Llama2-7B", ModelAccessConfig={"AcceptEula": True}), False)
    assert plan.accept_eula and plan.base_models[0].model_id == "meta-textgeneration-llama-2-7b"


def test_search_config_rules(train_csv, tiny_model):
    gen = {"HyperParameterRanges": {"learningRate": {"MinValue": "0.001", "MaxValue": "0.1"}}}
    assert "set CompletionCriteria.MaxCandidates greater than 1" in error_of(
        make_request(train_csv, CandidateGenerationConfig=gen))
    crit = {"MaxCandidates": 3}
    msg = error_of(make_request(train_csv, CompletionCriteria=crit, CandidateGenerationConfig=gen,
                                TextGenerationHyperParameters={"learningRate": "0.01"}))
    assert "learningRate is both fixed in TextGenerationHyperParameters and searched" in msg
    bad = {"HyperParameterRanges": {"learningRate": {"MinValue": "0.1", "MaxValue": "0.001"}}}
    assert "Member must be less than or equal to MaxValue 0.001" in error_of(
        make_request(train_csv, CompletionCriteria=crit, CandidateGenerationConfig=bad))
    bad = {"HyperParameterRanges": {"dropout": {"Values": ["0.1"]}}}
    assert "hyperParameterRanges.dropout' failed to satisfy constraint: Member must be one of the keys" in error_of(
        make_request(train_csv, CompletionCriteria=crit, CandidateGenerationConfig=bad))
    bad = {"HyperParameterRanges": {"batchSize": {"Values": ["4", "128"]}}}
    assert "Value '128' at '" in error_of(make_request(train_csv, CompletionCriteria=crit, CandidateGenerationConfig=bad))
    plan = plan_of(make_request(train_csv, CompletionCriteria=crit, CandidateGenerationConfig=gen,
                                TextGenerationHyperParameters={"epochCount": "1"}))
    dims = {d.name: d for d in plan.search}
    # Given range (log by Auto over two decades), then the defaults for what is neither fixed nor ranged.
    assert dims["learningRate"].log and dims["learningRate"].low == 0.001
    assert set(dims) == {"learningRate", "batchSize", "learningRateWarmupSteps", "loraRank"}
    assert plan.fixed == {"epochCount": "1"} and plan.pruning and plan.seed == 0
    msg = error_of(make_request(train_csv, CandidateGenerationConfig={"BaseModelNames": ["tiny-causal", "nope-model"]},
                                CompletionCriteria=crit), kind=NotFoundError)
    assert "BaseModelNames[1]" in msg


def test_duplicate_name(train_csv, tiny_model):
    from springboard import jobs
    from springboard.automl import create_auto_ml_job_v2

    jobs.JobStore().create("taken", "automl", "x:y", {})
    with pytest.raises(ConflictError, match="AutoMLJobName must be unique"):
        create_auto_ml_job_v2(make_request(train_csv, name="taken"))


def test_json_and_yaml_files(tmp_path, train_csv):
    import yaml

    request = make_request(train_csv, TextGenerationHyperParameters={"epochCount": "2"})
    (tmp_path / "r.json").write_text(json.dumps(request))
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(request))
    assert load_request(tmp_path / "r.json") == load_request(tmp_path / "r.yaml")
    (tmp_path / "bad.yaml").write_text("AutoMLJobName: a\nAutoMLJobInputDataConfig: [\n")
    with pytest.raises(ValidationError, match=r"bad.yaml:\d+: invalid YAML"):
        load_request(tmp_path / "bad.yaml")
    (tmp_path / "typo.yaml").write_text(yaml.safe_dump({**request, "AutoMLJobNmae": "x"}))
    with pytest.raises(ValidationError, match='typo.yaml: .*Unknown parameter in input: "AutoMLJobNmae"'):
        load_request(tmp_path / "typo.yaml")
