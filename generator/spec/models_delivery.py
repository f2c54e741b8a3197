"""The ci and studio sections: how the project is tested and delivered (GitHub Actions, CodeBuild, the
SageMaker Studio project template)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

from .aws_values import (
    aws_pattern,
    check_no_cfn_reference,
    check_one_line,
)
from .fields import (
    OneLine,
    StrictModel,
)

# --- ci, studio
# An IAM role ARN as the AWS APIs take it (RoleArn: 20-2048 characters, IAM's path and name characters).
ROLE_ARN_PATTERN = r"^arn:aws[a-z\-]*:iam::[0-9]{12}:role/?[a-zA-Z_0-9+=,.@\-/]+$"
RoleArn = Annotated[
    str,
    AfterValidator(
        aws_pattern(ROLE_ARN_PATTERN, 2048, "an IAM role ARN such as 'arn:aws:iam::123456789012:role/Name'")
    ),
    Field(json_schema_extra={"pattern": ROLE_ARN_PATTERN, "minLength": 20, "maxLength": 2048}),
]


def check_branch(value: str) -> str:
    """A git branch name (git check-ref-format's rules, which GitHub and CodeConnections apply)."""
    check_one_line(value)
    bad = sorted(set(value) & set(" ~^:?*[\\"))
    if bad:
        raise ValueError(f"git branch names must not contain {' '.join(map(repr, bad))}")
    if (
        ".." in value
        or "@{" in value
        or value.startswith(("-", "/", "."))
        or value.endswith(("/", ".", ".lock"))
    ):
        raise ValueError(f"{value!r} is not a valid git branch name")
    return value


class GitHubActions(StrictModel):
    enabled: bool = True
    role_arn: RoleArn | None = Field(
        None, description="Role assumed through GitHub's OIDC provider; no static keys."
    )
    branch: Annotated[str, StringConstraints(min_length=1, max_length=255), AfterValidator(check_branch)] = (
        "main"
    )


class CodeBuild(StrictModel):
    enabled: bool = True
    image: Annotated[OneLine, AfterValidator(check_no_cfn_reference)] = (
        "aws/codebuild/amazonlinux-x86_64-standard:5.0"
    )


class CI(StrictModel):
    python_version: Literal["3.11", "3.12"] = "3.12"
    github_actions: GitHubActions = Field(default_factory=GitHubActions)
    codebuild: CodeBuild = Field(default_factory=CodeBuild)


CONNECTION_ARN_PATTERN = (
    r"^arn:aws[a-z\-]*:(codeconnections|codestar-connections):[a-z0-9\-]+:[0-9]{12}:"
    r"connection/[A-Za-z0-9\-]+$"
)
REPOSITORY_ID_PATTERN = r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)+$"


class Studio(StrictModel):
    """The SageMaker Studio project template (studio/project-template.yaml, a Service Catalog product)."""

    enabled: bool = True
    repository: Literal["codeconnections", "codecommit"] = Field(
        "codeconnections",
        description="Where a project's code lives: a GitHub, GitLab or Bitbucket repository through an AWS "
        "CodeConnections connection, or a new CodeCommit repository seeded with this code (CodeCommit is "
        "closed to new customers).",
    )
    connection_arn: Annotated[str, StringConstraints(pattern=CONNECTION_ARN_PATTERN)] | None = Field(
        None,
        description="Default of the template's ConnectionArn parameter (codeconnections): a connection to "
        "GitHub, GitLab or Bitbucket.",
    )
    repository_id: Annotated[str, StringConstraints(pattern=REPOSITORY_ID_PATTERN)] | None = Field(
        None,
        description="The repository, as the connection's provider names it: owner/name (GitHub, Bitbucket) "
        "or group/subgroup/project (GitLab). Default of FullRepositoryId.",
    )
