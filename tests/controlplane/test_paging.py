"""NextToken as AWS treats it: a token the server did not issue is refused (ValidationException,
"Invalid pagination token") by every List operation that pages, instead of paging from
wherever it points ("-1" once returned the last item)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

ROLE = "arn:aws:iam::111111111111:role/SageMakerRole"
LISTS = ["list_models", "list_endpoint_configs", "list_endpoints", "list_training_jobs", "list_transform_jobs",
         "list_auto_ml_jobs"]


@pytest.fixture
def models(sm, tiny_causal_dir) -> list[str]:
    names = ["alpha", "beta", "gamma"]
    for name in names:
        sm.create_model(ModelName=name, ExecutionRoleArn=ROLE,
                        PrimaryContainer={"Image": "x", "ModelDataUrl": str(tiny_causal_dir)})
    return names


@pytest.mark.parametrize("token", ["-1", "abc", "007", "0", "1.5", " 1"])
@pytest.mark.parametrize("operation", LISTS)
def test_a_token_the_server_did_not_issue_is_refused(sm, models, operation, token):
    with pytest.raises(ClientError) as err:
        getattr(sm, operation)(NextToken=token)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert "Invalid pagination token" in err.value.response["Error"]["Message"]


def test_list_tags_refuses_them_too(sm, models):
    arn = sm.describe_model(ModelName="alpha")["ModelArn"]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    with pytest.raises(ClientError, match="Invalid pagination token"):
        sm.list_tags(ResourceArn=arn, NextToken="-1")  # it once listed from the last tag
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]


def test_issued_tokens_still_page_through_everything(sm, models):
    seen, token = [], None
    while True:
        page = sm.list_models(MaxResults=1, SortBy="Name", SortOrder="Ascending",
                              **({"NextToken": token} if token else {}))
        seen += [m["ModelName"] for m in page["Models"]]
        token = page.get("NextToken")
        if not token:
            break
    assert seen == models
