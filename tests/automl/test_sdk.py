"""The SageMaker-SDK-style objects build the same request a user writes for boto3."""

from __future__ import annotations

import pytest

from springboard.sdk.automl import AutoMLDataChannel, AutoMLTextGenerationConfig, AutoMLV2
from springboard.automl.request import parse_request
from springboard.errors import NotFoundError


def test_automlv2_builds_the_aws_request(train_csv):
    automl = AutoMLV2(
        problem_config=AutoMLTextGenerationConfig(
            base_model_name="tiny-causal", text_generation_hyper_params={"epochCount": "1"}, max_candidates=2,
            candidate_generation_config={"Seed": 3},
        ),
        output_path="/tmp/out", job_objective={"MetricName": "Perplexity"}, validation_fraction=0.25,
        auto_generate_endpoint_name=True, role="arn:aws:iam::123456789012:role/x",
    )
    request = automl.build_request(
        [AutoMLDataChannel(s3_uri=str(train_csv), channel_type="training", content_type="text/csv;header=present")],
        job_name="sdk-job",
    )
    assert request == {
        "AutoMLJobName": "sdk-job",
        "AutoMLJobInputDataConfig": [{
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": str(train_csv)}},
            "ChannelType": "training", "ContentType": "text/csv;header=present",
        }],
        "AutoMLProblemTypeConfig": {"TextGenerationJobConfig": {
            "CompletionCriteria": {"MaxCandidates": 2}, "BaseModelName": "tiny-causal",
            "TextGenerationHyperParameters": {"epochCount": "1"}, "CandidateGenerationConfig": {"Seed": 3},
        }},
        "OutputDataConfig": {"S3OutputPath": "/tmp/out"},
        "AutoMLJobObjective": {"MetricName": "Perplexity"},
        "DataSplitConfig": {"ValidationFraction": 0.25},
        "ModelDeployConfig": {"AutoGenerateEndpointName": True},
    }
    parse_request(request)  # a valid request
    generated = AutoMLV2(base_job_name="my-long-base-job-name-for-automl").build_request([str(train_csv)])
    assert len(generated["AutoMLJobName"]) <= 32
    parse_request(generated)
    with pytest.raises(NotFoundError, match="call fit"):
        AutoMLV2().describe()


def test_automlv2_refuses_misspelled_keywords():
    from springboard.errors import ValidationError

    with pytest.raises(ValidationError, match="'job_objetive' \\(did you mean 'job_objective'\\?\\)") as err:
        AutoMLV2(job_objetive={"MetricName": "Perplexity"})
    assert "valid: auto_generate_endpoint_name" in str(err.value)
    AutoMLV2(role="arn:aws:iam::1:role/x", tags=[], vpc_config=None, sagemaker_session=None)  # infrastructure
