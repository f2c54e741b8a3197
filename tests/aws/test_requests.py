"""Request checks against botocore's models: what botocore checks, and what it leaves to the service."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError

from sagespec.aws.requests import check_request, operation_model, request_problems, validate_requests
from sagespec.errors import InvalidRequestError


def problems(operation: str, params: dict, service: str = "servicecatalog") -> list[str]:
    return request_problems(operation_model(service, operation), params)


def test_a_valid_request_has_no_problems_and_idempotency_tokens_may_be_left_to_botocore():
    assert problems("CreatePortfolio", {"DisplayName": "ML templates", "ProviderName": "sagespec"}) == []
    assert problems("PutObject", {"Bucket": "b", "Key": "k", "Body": b"x"}, service="s3") == []


@pytest.mark.parametrize(
    ("operation", "params", "fragment"),
    [
        ("CreatePortfolio", {"DisplayName": "x"}, "Missing required parameter"),  # botocore's check
        ("CreatePortfolio", {"DisplayName": "x", "ProviderName": "p", "Owner": "o"}, "Unknown parameter"),
        ("CreatePortfolio", {"DisplayName": "x" * 101, "ProviderName": "p"}, "101 characters, at most 100"),
        (
            "AssociatePrincipalWithPortfolio",
            {
                "PortfolioId": "port-1",
                "PrincipalARN": "arn:aws:iam::123456789012:role/r",
                "PrincipalType": "ROLE",
            },
            "'ROLE' is not one of IAM, IAM_PATTERN",
        ),
        ("ListProvisioningArtifacts", {"ProductId": "prod abc"}, "does not match"),
        ("ListPortfolios", {"PageSize": 101}, "above the maximum 100"),
        (
            "UpdateProduct",
            {"Id": "prod-1", "AddTags": [{"Key": f"k{i}", "Value": "v"} for i in range(21)]},
            "UpdateProduct.AddTags: 21 items, at most 20",
        ),
        (
            "UpdateProduct",
            {"Id": "prod-1", "AddTags": [{"Key": "k" * 129, "Value": "v"}]},
            "UpdateProduct.AddTags[0].Key: 129 characters",
        ),
    ],
)
def test_each_kind_of_problem_is_found(operation, params, fragment):
    found = problems(operation, params)
    assert any(fragment in line for line in found), found


def test_check_request_names_the_operation():
    with pytest.raises(InvalidRequestError, match="invalid servicecatalog CreateConstraint request"):
        check_request("servicecatalog", "CreateConstraint", {"PortfolioId": "port-1"})


def test_a_validating_client_refuses_before_sending(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    # Nothing listens here: a request that got sent would fail to connect instead.
    client = boto3.client("servicecatalog", region_name="us-east-1", endpoint_url="http://127.0.0.1:9")
    validating = validate_requests(client)
    with pytest.raises(InvalidRequestError, match="ProductType: 'CFN' is not one of"):
        validating.create_product(Name="p", Owner="o", ProductType="CFN")
    config = boto3.session.Config(retries={"max_attempts": 1}, connect_timeout=1)
    plain = boto3.client(
        "servicecatalog", region_name="us-east-1", endpoint_url="http://127.0.0.1:9", config=config
    )
    with pytest.raises(EndpointConnectionError):  # botocore alone lets the bad enum through
        plain.create_product(Name="p", Owner="o", ProductType="CFN")
