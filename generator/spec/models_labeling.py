"""The labeling section: human review of unsure predictions (A2I) and Ground Truth labeling jobs."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

from .aws_values import (
    aws_pattern,
    bounded,
    check_one_line,
    text,
)
from .fields import (
    ClassLabel,
    S3Uri,
    StrictModel,
    VisibleText,
)

# --- labeling
# CognitoConfig's UserPool (CreateWorkforce; pool ids are '<region>_<id>') and Cognito's app client ids.
COGNITO_USER_POOL_PATTERN = r"^[A-Za-z0-9_-]+_[0-9a-zA-Z]+$"
COGNITO_CLIENT_ID_PATTERN = r"^[A-Za-z0-9_+]+$"
CognitoUserPoolId = Annotated[
    str,
    AfterValidator(
        aws_pattern(COGNITO_USER_POOL_PATTERN, 55, "a Cognito user pool id such as 'us-east-1_AbC123'")
    ),
    Field(json_schema_extra={"pattern": COGNITO_USER_POOL_PATTERN, "minLength": 1, "maxLength": 55}),
]
CognitoClientId = Annotated[
    str,
    AfterValidator(
        aws_pattern(COGNITO_CLIENT_ID_PATTERN, 128, "a Cognito app client id (letters, digits, _ and +)")
    ),
    Field(json_schema_extra={"pattern": COGNITO_CLIENT_ID_PATTERN, "minLength": 1, "maxLength": 128}),
]


def check_task_title(value: str) -> str:
    """A2I's TaskTitle: tab, CR, LF and the printable characters of the Basic Multilingual Plane."""
    for char in value:
        if char not in "\t\n\r" and (ord(char) < 0x20 or 0xD800 <= ord(char) <= 0xDFFF or ord(char) > 0xFFFD):
            raise ValueError(f"{char!r} is not allowed in an A2I task title")
    return value


class Workforce(StrictModel):
    """Who reviews: exactly one of work_team_arn, create: cognito, or an existing Cognito user pool.

    With a pool (``cognito_user_pool_id`` and ``cognito_client_id``), ``python -m labeling.workforce
    create`` makes the work team; with ``create: cognito`` the Studio project template makes the pool too.
    """

    work_team_arn: (
        Annotated[
            str,
            StringConstraints(
                pattern=r"^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:workteam/.+$", max_length=256
            ),
        ]
        | None
    ) = Field(None, description="An existing private work team (Ground Truth > Labeling workforces).")
    create: Literal["cognito"] | None = Field(
        None,
        description="'cognito': the Studio project template creates a Cognito user pool, app client, domain "
        "and group, and a private work team on them, named after the project.",
    )
    cognito_user_pool_id: CognitoUserPoolId | None = Field(
        None, description="An existing user pool whose group labeling/workforce.py makes the team."
    )
    cognito_client_id: CognitoClientId | None = Field(None, description="An app client of that pool.")


class Instructions(StrictModel):
    """Shown to reviewers in the A2I worker task template (at most 128,000 characters in all)."""

    short: VisibleText = "Choose the sentiment of the review."
    full: str = ""


class GroundTruth(StrictModel):
    enabled: bool = False
    input_manifest: S3Uri | None = None


class Labeling(StrictModel):
    """Human review (Amazon A2I) of low-confidence predictions, and Ground Truth labeling."""

    enabled: bool = False
    confidence_threshold: float = Field(0.7, gt=0, lt=1)
    labels: dict[
        Annotated[str, StringConstraints(min_length=1), AfterValidator(check_one_line)], ClassLabel
    ] = Field(default_factory=dict, description="Name shown to people -> the model's class label.")
    task_title: text(128, "A2I's task title limit", check_task_title) = "Review sentiment"
    task_description: text(255, "A2I's task description limit", check_one_line) = (
        "Classify the sentiment of a product review"
    )
    instructions: Instructions = Field(default_factory=Instructions)
    workers_per_item: int = Field(1, ge=1, le=9)
    task_time_limit_seconds: int = Field(3600, ge=30, le=28_800)
    task_availability_seconds: bounded(
        int, 60, 864_000, "A2I and Ground Truth keep a task available from 1 minute to 10 days"
    ) = 864_000
    workforce: Workforce = Field(default_factory=Workforce)
    output_s3_prefix: S3Uri | None = None
    ground_truth: GroundTruth = Field(default_factory=GroundTruth)
