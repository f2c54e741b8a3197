"""Invite reviewers into the project's private work team, and connect its Cognito app client to the team.

    python -m labeling.workers connect                 # once, after the work team exists
    python -m labeling.workers invite EMAIL [EMAIL...] # Cognito emails each a temporary password

The work team is a group of an Amazon Cognito user pool: studio/project-template.yaml creates both when
the spec says ``workforce: {create: cognito}`` (``python -m labeling.workforce create`` when it names an
existing pool). ``connect`` sets the app client's callback and sign-out URLs to the team's labeling
portal, which exists only once the team does. ``invite`` creates each user in the pool and adds them to
the team's group, and prints the portal's address to send them. Inside a SageMaker project, export
SAGEMAKER_PROJECT_NAME and SAGEMAKER_PROJECT_ID first: the team is named after the project.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from pipelines.aws_errors import reports_aws_errors

from . import settings

# How SageMaker's labeling portal signs workers in through the user pool's hosted pages.
OAUTH_SETTINGS: dict[str, Any] = {
    "AllowedOAuthFlows": ["code", "implicit"],
    "AllowedOAuthScopes": ["email", "openid", "profile"],
    "AllowedOAuthFlowsUserPoolClient": True,
    "SupportedIdentityProviders": ["COGNITO"],
}


def team(sagemaker: Any) -> tuple[str, dict[str, str]]:
    """The work team's portal address and its Cognito member definition (pool, client, group)."""
    described = sagemaker.describe_workteam(WorkteamName=settings.WORK_TEAM_NAME)["Workteam"]
    (member,) = [m["CognitoMemberDefinition"] for m in described["MemberDefinitions"]]
    return f"https://{described['SubDomain']}", member


def client_update_request(cognito: Any, member: dict[str, str], portal: str) -> dict[str, Any]:
    """UpdateUserPoolClient: the client as it is, signing in and out through the portal.

    An update resets every setting it leaves out, so the request carries the client's current ones.
    """
    client = cognito.describe_user_pool_client(UserPoolId=member["UserPool"], ClientId=member["ClientId"])
    updatable = cognito.meta.service_model.operation_model("UpdateUserPoolClient").input_shape.members
    request = {key: value for key, value in client["UserPoolClient"].items() if key in updatable}
    return {
        **request,
        **OAUTH_SETTINGS,
        "CallbackURLs": [f"{portal}/oauth2/idpresponse"],
        "LogoutURLs": [f"{portal}/logout"],
    }


def connect(sagemaker: Any, cognito: Any) -> str:
    portal, member = team(sagemaker)
    cognito.update_user_pool_client(**client_update_request(cognito, member, portal))
    print(f"app client {member['ClientId']} signs workers in at {portal}")
    return portal


def invite(sagemaker: Any, cognito: Any, emails: Sequence[str]) -> str:
    """Create each user (unless they exist) and add them to the team's group; return the portal address."""
    portal, member = team(sagemaker)
    for email in emails:
        try:
            cognito.admin_create_user(
                UserPoolId=member["UserPool"],
                Username=email,
                UserAttributes=[
                    {"Name": "email", "Value": email},
                    {"Name": "email_verified", "Value": "true"},
                ],
                DesiredDeliveryMediums=["EMAIL"],
            )
            print(f"invited {email}")
        except cognito.exceptions.UsernameExistsException:
            print(f"{email} has an account already")
        cognito.admin_add_user_to_group(
            UserPoolId=member["UserPool"], Username=email, GroupName=member["UserGroup"]
        )
    print(f"send them the labeling portal: {portal}")
    return portal


@reports_aws_errors
def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--region", default=settings.REGION)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("connect", help="point the app client at the team's labeling portal")
    people = commands.add_parser("invite", help="invite reviewers by email")
    people.add_argument("emails", nargs="+", metavar="EMAIL")
    args = parser.parse_args(argv)

    import boto3

    session = boto3.Session(region_name=args.region)
    sagemaker, cognito = session.client("sagemaker"), session.client("cognito-idp")
    if args.command == "connect":
        connect(sagemaker, cognito)
    else:
        invite(sagemaker, cognito, args.emails)


if __name__ == "__main__":
    main()
