"""labeling/workers.py: connecting the app client to the team's portal, inviting reviewers.

botocore's Stubber answers Cognito and checks each request against the service model and against the
request the test expects; a stub answers DescribeWorkteam (moto has no work teams).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from labeling import settings, workers

SUBDOMAIN = "abc123.labeling.us-east-1.sagemaker.aws"
MEMBER = {"UserPool": "us-east-1_AbC123", "ClientId": "1example23456789", "UserGroup": "reviewers"}


class StubSageMaker:
    def describe_workteam(self, WorkteamName: str) -> dict[str, Any]:  # noqa: N803 (the API's name)
        assert WorkteamName == settings.WORK_TEAM_NAME
        team = {"SubDomain": SUBDOMAIN, "MemberDefinitions": [{"CognitoMemberDefinition": MEMBER}]}
        return {"Workteam": {"WorkteamName": WorkteamName, **team}}


@pytest.fixture
def cognito() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "cognito-idp",
        region_name=settings.REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_connect_points_the_client_at_the_portal_and_keeps_its_settings(cognito) -> None:
    client, stubber = cognito
    ids = {"UserPoolId": MEMBER["UserPool"], "ClientId": MEMBER["ClientId"]}
    current = {**ids, "ClientName": "team", "ClientSecret": "s3cret" * 4, "RefreshTokenValidity": 30}
    stubber.add_response("describe_user_pool_client", {"UserPoolClient": current}, ids)
    expected = {
        **ids,
        "ClientName": "team",  # kept: an update resets what it leaves out
        "RefreshTokenValidity": 30,
        **workers.OAUTH_SETTINGS,
        "CallbackURLs": [f"https://{SUBDOMAIN}/oauth2/idpresponse"],
        "LogoutURLs": [f"https://{SUBDOMAIN}/logout"],
    }
    stubber.add_response("update_user_pool_client", {"UserPoolClient": current}, expected)
    assert workers.connect(StubSageMaker(), client) == f"https://{SUBDOMAIN}"


def test_invite_adds_each_reviewer_to_the_team(cognito, capsys) -> None:
    client, stubber = cognito
    pool, group = MEMBER["UserPool"], MEMBER["UserGroup"]
    for email, exists in (("ana@example.com", False), ("bo@example.com", True)):
        create = {
            "UserPoolId": pool,
            "Username": email,
            "UserAttributes": [
                {"Name": "email", "Value": email},
                {"Name": "email_verified", "Value": "true"},
            ],
            "DesiredDeliveryMediums": ["EMAIL"],
        }
        if exists:
            stubber.add_client_error("admin_create_user", "UsernameExistsException", expected_params=create)
        else:
            stubber.add_response("admin_create_user", {"User": {"Username": email}}, create)
        add = {"UserPoolId": pool, "Username": email, "GroupName": group}
        stubber.add_response("admin_add_user_to_group", {}, add)
    assert (
        workers.invite(StubSageMaker(), client, ["ana@example.com", "bo@example.com"])
        == f"https://{SUBDOMAIN}"
    )
    out = capsys.readouterr().out
    assert "invited ana@example.com" in out and "bo@example.com has an account already" in out
