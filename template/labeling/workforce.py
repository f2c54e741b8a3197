"""Create a private workforce from the spec's Amazon Cognito user pool, and a work team of reviewers.

    python -m labeling.workforce create

The work team is a Cognito user group named after it: add reviewers to that group (Cognito console, or
`aws cognito-idp admin-add-user-to-group`). An account has one private workforce per region; when one
exists already, the team joins it. Run this before `python -m labeling.human_review create`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from pipelines.aws_errors import reports_aws_errors

from . import settings


def _tags() -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in settings.TAGS.items()]


def user_group_request() -> dict[str, Any]:
    """cognito-idp CreateGroup: the reviewers' group in the user pool."""
    return {
        "GroupName": settings.WORK_TEAM_NAME,
        "UserPoolId": settings.COGNITO_USER_POOL_ID,
        "Description": f"Reviewers of {settings.FLOW_DEFINITION_NAME} (SageMaker work team)",
    }


def workforce_request() -> dict[str, Any]:
    """CreateWorkforce: the region's private workforce, signing in through the user pool."""
    request: dict[str, Any] = {
        "WorkforceName": settings.WORKFORCE_NAME,
        "CognitoConfig": {"UserPool": settings.COGNITO_USER_POOL_ID, "ClientId": settings.COGNITO_CLIENT_ID},
    }
    if settings.TAGS:
        request["Tags"] = _tags()
    return request


def work_team_request(workforce_name: str) -> dict[str, Any]:
    """CreateWorkteam: the members of the user group, in the private workforce."""
    request: dict[str, Any] = {
        "WorkteamName": settings.WORK_TEAM_NAME,
        "WorkforceName": workforce_name,
        "MemberDefinitions": [
            {
                "CognitoMemberDefinition": {
                    "UserPool": settings.COGNITO_USER_POOL_ID,
                    "UserGroup": settings.WORK_TEAM_NAME,
                    "ClientId": settings.COGNITO_CLIENT_ID,
                }
            }
        ],
        "Description": settings.TASK_DESCRIPTION,
    }
    if settings.TAGS:
        request["Tags"] = _tags()
    return request


def create(region: str) -> str:
    """Create the group, the workforce (unless the region has one) and the work team; return its ARN."""
    import boto3

    session = boto3.Session(region_name=region)
    cognito = session.client("cognito-idp")
    try:
        cognito.create_group(**user_group_request())
    except cognito.exceptions.GroupExistsException:
        print(f"user group {settings.WORK_TEAM_NAME} exists already")
    sagemaker = session.client("sagemaker")
    existing = sagemaker.list_workforces()["Workforces"]
    if existing:
        workforce = existing[0]["WorkforceName"]
        print(f"using the region's private workforce {workforce}")
    else:
        workforce = sagemaker.create_workforce(**workforce_request())["WorkforceArn"].rsplit("/", 1)[-1]
    arn = sagemaker.create_workteam(**work_team_request(workforce))["WorkteamArn"]
    print(f"work team: {arn}")
    return arn


@reports_aws_errors
def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("create", help="create the user group, workforce and work team")
    make.add_argument("--region", default=settings.REGION)
    args = parser.parse_args(argv)
    create(args.region)


if __name__ == "__main__":
    main()
