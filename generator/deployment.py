"""The deployment, computed once from the spec: which endpoint variants serve which registered model,
with what share of the traffic, on what capacity, in which stages.

Both the rendered endpoint stack (:mod:`sagespec.render.context_deploy` builds ``deploy/``'s template
keys from it) and the local endpoint (``sagespec local serve``, :mod:`sagespec.serve.endpoint`) read this
model, so the SageMaker endpoint and the local one cannot disagree about variants, weights or which
model version each serves. CloudFormation names and parameters are the renderer's business, not this
model's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from .spec.models import Spec
from .spec.models_deployment import Serverless, Variant

STAGES = ("staging", "prod")
# The name limit of SageMaker endpoints (and of the other resources named after them).
MAX_NAME_LENGTH = 63

SelectRule = Literal["latest-approved", "newest", "version"]


def stage_endpoint_name(base: str, stage: str) -> str:
    """'<endpoint>-<stage>', shortened to SageMaker's 63 characters."""
    suffix = f"-{stage}"
    return base[: MAX_NAME_LENGTH - len(suffix)].rstrip("-") + suffix


@dataclass(frozen=True)
class ModelSelection:
    """Which registered model version a variant serves: the deploy build applies the rule to
    SageMaker's model registry, ``sagespec local serve`` to the local one."""

    select: SelectRule
    version: int | None = None  # with select: version

    def describe(self) -> str:
        return self.select + (f" {self.version}" if self.version else "")


@dataclass(frozen=True)
class EndpointVariant:
    name: str
    model: ModelSelection
    initial_weight: float  # relative, as the spec gives it (what DescribeEndpoint reports)
    traffic_percent: float  # the variant's share of the traffic, in percent (one decimal)
    instance_type: str | None  # None: serverless
    initial_instance_count: int | None  # None: serverless
    serverless: Serverless | None


@dataclass(frozen=True)
class ShadowVariant:
    """A variant that gets a copy of the production variant's requests; its answers never reach a client."""

    name: str
    model: ModelSelection
    initial_weight: float
    sampling_percent: int  # the share of the production variant's requests it gets a copy of
    instance_type: str
    initial_instance_count: int


@dataclass(frozen=True)
class Stage:
    name: str
    endpoint_name: str


@dataclass(frozen=True)
class DeploymentPlan:
    enabled: bool
    endpoint_name: str
    variants: tuple[EndpointVariant, ...]
    stages: tuple[Stage, ...]
    shadows: tuple[ShadowVariant, ...] = ()

    @property
    def weights(self) -> dict[str, float]:
        return {v.name: v.initial_weight for v in self.variants}


def _traffic_percents(variants: list[Variant]) -> list[float]:
    total = math.fsum(v.initial_weight for v in variants)
    return [round(100 * v.initial_weight / total, 1) for v in variants]


def _variant(variant: Variant, percent: float) -> EndpointVariant:
    serverless = variant.serverless
    return EndpointVariant(
        name=variant.name,
        model=ModelSelection(variant.model.select, variant.model.version),
        initial_weight=variant.initial_weight,
        traffic_percent=percent,
        instance_type=None if serverless else variant.instance_type,
        initial_instance_count=None if serverless else variant.initial_instance_count,
        serverless=serverless,
    )


def build_deployment(spec: Spec) -> DeploymentPlan:
    dep = spec.deployment
    variants = list(dep.variants)
    return DeploymentPlan(
        enabled=dep.enabled,
        endpoint_name=spec.endpoint_name,
        variants=tuple(
            _variant(v, percent) for v, percent in zip(variants, _traffic_percents(variants), strict=True)
        ),
        stages=tuple(Stage(stage, stage_endpoint_name(spec.endpoint_name, stage)) for stage in STAGES),
        shadows=tuple(
            ShadowVariant(
                name=shadow.name,
                model=ModelSelection(shadow.model.select, shadow.model.version),
                initial_weight=shadow.initial_weight,
                # The checks allow a shadow only beside a single production variant.
                sampling_percent=min(100, round(100 * shadow.initial_weight / variants[0].initial_weight)),
                instance_type=shadow.instance_type,
                initial_instance_count=shadow.initial_instance_count,
            )
            for shadow in dep.shadow_variants
        ),
    )
