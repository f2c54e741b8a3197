"""Building blocks of the spec models: the strict base model, AWS name patterns and the field types
that carry AWS's limits."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from .aws_limits import INT32_MAX
from .aws_values import (
    bounded,
    check_one_line,
    check_s3_uri,
    check_s3_uri_in_sub,
    check_visible_text,
)
from .catalog import INSTANCE_TYPE_PATTERN

SLUG_PATTERN = r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$"
# SageMaker resource names (pipelines, model package groups, endpoints): letters, digits and hyphens.
SAGEMAKER_NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
REGION_PATTERN = r"^[a-z]{2}(-gov)?-[a-z]+-\d$"
S3_URI_PATTERN = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$"


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# AWS tags: letters, digits and spaces in any script, and _ . : / = + - @. The aws: prefix is AWS's own.
TAG_PUNCTUATION = frozenset("_.:/=+-@")


def _tag_text_problem(text: str) -> str | None:
    for char in text:
        if unicodedata.category(char)[0] not in "LNZ" and char not in TAG_PUNCTUATION:
            return f"{char!r} is not allowed in AWS tags (letters, digits, spaces and _ . : / = + - @)"
    return None


def _check_tags(tags: dict[str, str]) -> dict[str, str]:
    for key, value in tags.items():
        problem = _tag_text_problem(key) or _tag_text_problem(value)
        if problem:
            raise ValueError(f"tag {key!r}: {problem}")
        if key.lower().startswith("aws:"):
            raise ValueError(f"tag {key!r}: keys starting with 'aws:' are reserved for AWS")
    return tags


def _check_instance_type(value: str) -> str:
    if not INSTANCE_TYPE_PATTERN.fullmatch(value):
        raise ValueError(f"{value!r} is not a SageMaker instance type (like 'ml.m5.xlarge')")
    return value


InstanceType = Annotated[
    str,
    AfterValidator(_check_instance_type),
    Field(json_schema_extra={"pattern": INSTANCE_TYPE_PATTERN.pattern}),
]
SageMakerName = Annotated[str, StringConstraints(pattern=SAGEMAKER_NAME_PATTERN, min_length=1, max_length=63)]
NonEmpty = Annotated[str, StringConstraints(min_length=1)]
ClassLabel = int | str
S3Uri = Annotated[
    str,
    AfterValidator(check_s3_uri),
    Field(json_schema_extra={"pattern": S3_URI_PATTERN, "minLength": 8, "maxLength": 1024}),
]
# Where endpoints capture data (DataCaptureConfig.DestinationS3Uri: at most 512 characters); the
# Studio project template also writes it into a CloudFormation !Sub string.
CaptureS3Uri = Annotated[
    str,
    StringConstraints(max_length=512),
    AfterValidator(check_s3_uri_in_sub),
    Field(json_schema_extra={"pattern": S3_URI_PATTERN, "minLength": 8}),
]
OneLine = Annotated[str, StringConstraints(min_length=1), AfterValidator(check_one_line)]
VisibleText = Annotated[str, StringConstraints(min_length=1), AfterValidator(check_visible_text)]
# A 32-bit signed integer: what the AWS APIs and the libraries that read seeds take.
Int32 = bounded(int, 0, INT32_MAX, "a 32-bit integer, as the AWS APIs and the libraries take it")
PositiveInt32 = bounded(int, 1, INT32_MAX, "a 32-bit integer, as the AWS APIs take it")
Seconds32 = bounded(int, 0, INT32_MAX, "a 32-bit integer, as the AWS APIs take it")
# SageMaker's limits on one training job.
TrainingSeconds = bounded(int, 1, 2_419_200, "28 days, SageMaker's longest training job")
