"""The monitoring and batch sections: Model Monitor schedules on the endpoint's captured traffic, and
batch scoring without an endpoint."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

from .fields import InstanceType, PositiveInt32, StrictModel

# What Model Monitor's ScheduleConfig.ScheduleExpression accepts for a recurring schedule: every hour,
# once a day at an hour, or every N hours from an hour (AWS's "cron expression for monitoring schedule").
HOUR = r"(?:[01]?\d|2[0-3])"
SCHEDULE_CRON_PATTERN = rf"^cron\(0 (?:\*|{HOUR}(?:/(?:0?[1-9]|1\d|2[0-4]))?) \? \* \* \*\)$"
SCHEDULE_WORDS = {"hourly": "cron(0 * ? * * *)", "daily": "cron(0 0 ? * * *)"}


def check_schedule(value: str) -> str:
    if value in SCHEDULE_WORDS or re.fullmatch(SCHEDULE_CRON_PATTERN, value):
        return value
    raise ValueError(
        f"must be hourly, daily or one of the cron expressions Model Monitor accepts: 'cron(0 * ? * * *)' "
        f"(hourly), 'cron(0 H ? * * *)' (daily at hour H, UTC) or 'cron(0 H/N ? * * *)' (every N hours "
        f"from hour H); got {value!r}"
    )


Schedule = Annotated[
    str,
    AfterValidator(check_schedule),
    Field(
        json_schema_extra={
            "anyOf": [{"enum": list(SCHEDULE_WORDS)}, {"pattern": SCHEDULE_CRON_PATTERN}],
        }
    ),
]


def schedule_expression(schedule: str) -> str:
    """The ScheduleExpression a schedule word or cron expression stands for."""
    return SCHEDULE_WORDS.get(schedule, schedule)


def hours_between_jobs(schedule: str) -> int:
    """How often a schedule starts a job, in hours (24: once a day)."""
    hours = schedule_expression(schedule).split()[1]
    if hours == "*":
        return 1
    return int(hours.split("/")[1]) if "/" in hours else 24


class QualityMonitor(StrictModel):
    """One Model Monitor schedule: a processing job over the captured traffic since the last one."""

    schedule: Schedule = Field("daily", description="hourly, daily, or a cron expression Model Monitor takes")
    instance_type: InstanceType = Field("ml.m5.large", description="The monitoring job's instance.")
    max_runtime_seconds: int = Field(
        1800, ge=1, le=86_400, description="A job's time limit (at most a day; an hourly job, an hour)."
    )


class Monitoring(StrictModel):
    """Drift and model quality of the deployed endpoint, measured on its captured traffic."""

    data_quality: QualityMonitor | None = Field(
        None,
        description="Compares the features of captured requests and predictions (text length, word count, "
        "predicted class and its confidence) with a baseline the pipeline computes from the test split. "
        "Needs deployment.data_capture.enabled.",
    )
    model_quality: QualityMonitor | None = Field(
        None,
        description="Measures accuracy on captured predictions that people have labeled (the labeling "
        "section's human review writes the ground truth), against the evaluation's baseline. Needs "
        "deployment.data_capture.enabled and labeling.enabled.",
    )

    @property
    def enabled(self) -> bool:
        return self.data_quality is not None or self.model_quality is not None


class Batch(StrictModel):
    """Batch scoring: a transform job over an S3 prefix with the registered model and its handler."""

    instance_type: InstanceType = "ml.m5.large"
    instance_count: PositiveInt32 = 1
    max_payload_mb: int = Field(
        6, ge=1, le=100, description="The largest request a transform job sends the model (MaxPayloadInMB)."
    )
