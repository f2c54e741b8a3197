"""The deployment section: endpoint variants, shadow variants, traffic shifting, autoscaling, data
capture."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .aws_values import (
    FLOAT32_MAX,
    TARGET_VALUE_MAX,
    bounded,
    check_alarm_name,
    text,
)
from .fields import (
    CaptureS3Uri,
    InstanceType,
    NonEmpty,
    PositiveInt32,
    SageMakerName,
    Seconds32,
    StrictModel,
)


# --- deployment
class VariantModel(StrictModel):
    """Which registered model a variant serves."""

    select: Literal["latest-approved", "newest", "version"] = "latest-approved"
    version: PositiveInt32 | None = Field(None, description="With select: version.")


class Serverless(StrictModel):
    memory_size_mb: Literal[1024, 2048, 3072, 4096, 5120, 6144] = 2048
    max_concurrency: int = Field(5, ge=1, le=200)


class Variant(StrictModel):
    name: SageMakerName
    model: VariantModel = Field(default_factory=VariantModel)
    instance_type: InstanceType = "ml.m5.large"
    initial_instance_count: PositiveInt32 = 1
    initial_weight: bounded(float, 0, FLOAT32_MAX, "InitialVariantWeight is a 32-bit float") = Field(
        1.0, description="Relative share of traffic; must be positive."
    )
    serverless: Serverless | None = None


class ShadowVariant(StrictModel):
    """A variant that gets a copy of the production variant's requests and never answers clients."""

    name: SageMakerName
    model: VariantModel = Field(default_factory=lambda: VariantModel(select="newest"))
    instance_type: InstanceType = "ml.m5.large"
    initial_instance_count: PositiveInt32 = 1
    initial_weight: bounded(
        float, 0, FLOAT32_MAX, "InitialVariantWeight is a 32-bit float", exclusive_low=True
    ) = Field(
        1.0,
        description="The share of the production variant's requests copied to the shadow: its weight "
        "over the production variant's (equal weights: every request; half: every other one).",
    )


class TrafficShifting(StrictModel):
    type: Literal["all-at-once", "canary", "linear"] = "all-at-once"
    # Their ranges are cross-field checks (they depend on type), so a wrong size leaves the rest of
    # the deployment section checked.
    canary_percent: float | None = Field(
        None, description="Canary: share of capacity first shifted (a whole percent, 1-99)."
    )
    linear_step_percent: float | None = Field(
        None, description="Linear: share shifted per step (a whole percent, 1-50)."
    )
    wait_seconds: int = Field(600, ge=0, le=3600, description="Bake time between steps.")
    termination_wait_seconds: int = Field(0, ge=0, le=3600)
    rollback_alarms: list[text(255, "CloudWatch's alarm name limit", check_alarm_name)] = Field(
        default_factory=list,
        max_length=10,
        description="CloudWatch alarm names (1-255 characters each, at most 10).",
    )


class Autoscaling(StrictModel):
    variant: NonEmpty
    min_instances: PositiveInt32 = 1
    max_instances: PositiveInt32 = 2
    target_invocations_per_instance: bounded(
        float, 0, TARGET_VALUE_MAX, "Application Auto Scaling's TargetValue limit, 2^360", exclusive_low=True
    ) = 100.0
    scale_in_cooldown_seconds: Seconds32 = 300
    scale_out_cooldown_seconds: Seconds32 = 60


class DataCapture(StrictModel):
    enabled: bool = False
    sampling_percentage: int = Field(100, ge=0, le=100)
    destination: CaptureS3Uri | None = None


class Deployment(StrictModel):
    enabled: bool = True
    endpoint_name: SageMakerName | None = Field(None, description="Defaults to '<slug>'.")
    variants: list[Variant] = Field(
        default_factory=lambda: [Variant(name="AllTraffic")], min_length=1, max_length=10
    )
    traffic_shifting: TrafficShifting = Field(default_factory=TrafficShifting)
    autoscaling: list[Autoscaling] = Field(default_factory=list)
    data_capture: DataCapture = Field(default_factory=DataCapture)
    shadow_variants: list[ShadowVariant] = Field(
        default_factory=list,
        max_length=1,
        description="Shadow tests: an endpoint with a shadow has one production variant and one shadow.",
    )
