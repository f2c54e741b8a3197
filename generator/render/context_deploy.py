"""Template context for the deployment files: endpoint variants, traffic shifting, autoscaling.

Everything ``deploy/`` prints is computed here: CloudFormation logical ids and parameter names, each
variant's share of traffic, the blue/green policy in the shape both CloudFormation and the SageMaker API
take, the autoscaling settings, and the parameters of the staging and prod stacks. Variants, weights,
model selection and stages come from the deployment model (:mod:`sagespec.deployment`), which
``sagespec local serve`` reads too, so the local endpoint and the SageMaker one cannot disagree about them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..deployment import EndpointVariant, ShadowVariant, build_deployment, stage_endpoint_name
from ..errors import GenerationError
from ..spec.models import Spec

# What Application Auto Scaling calls a SageMaker variant's instance count.
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
SCALING_METRIC = "SageMakerVariantInvocationsPerInstance"
# The request bodies the data capture decodes as text (the rest is base64-encoded).
CAPTURE_CONTENT_TYPES = {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]}
ROUTING_TYPES = {"all-at-once": "ALL_AT_ONCE", "canary": "CANARY", "linear": "LINEAR"}


def logical_id(name: str) -> str:
    """A CloudFormation logical id for a variant name: 'model-a' -> 'ModelA', 'AllTraffic' kept."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name) if part)


def _logical_ids(names: list[str]) -> list[str]:
    """One id per variant; names that differ only in case or hyphens get their position appended."""
    ids = [logical_id(name) for name in names]
    return [f"{id_}{i + 1}" if ids.count(id_) > 1 else id_ for i, id_ in enumerate(ids)]


def _whole_percent(value: float, field: str) -> int:
    """SageMaker sizes canary and linear steps in whole percents of capacity."""
    if not float(value).is_integer():
        raise GenerationError(
            f"deployment.traffic_shifting.{field}: SageMaker takes a whole percent of capacity, got {value:g}"
        )
    return int(value)


def traffic_routing(spec: Spec) -> dict[str, Any]:
    """TrafficRoutingConfiguration of the blue/green update policy (CloudFormation and API shape)."""
    shifting = spec.deployment.traffic_shifting
    routing: dict[str, Any] = {
        "Type": ROUTING_TYPES[shifting.type],
        "WaitIntervalInSeconds": shifting.wait_seconds,
    }
    if shifting.type == "canary":
        percent = _whole_percent(shifting.canary_percent, "canary_percent")
        routing["CanarySize"] = {"Type": "CAPACITY_PERCENT", "Value": percent}
    elif shifting.type == "linear":
        percent = _whole_percent(shifting.linear_step_percent, "linear_step_percent")
        routing["LinearStepSize"] = {"Type": "CAPACITY_PERCENT", "Value": percent}
    return routing


def deployment_config(spec: Spec) -> dict[str, Any] | None:
    """The endpoint's DeploymentConfig, or None for serverless endpoints (no blue/green guardrails)."""
    dep = spec.deployment
    if any(v.serverless is not None for v in dep.variants):
        return None
    config: dict[str, Any] = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": traffic_routing(spec),
            "TerminationWaitInSeconds": dep.traffic_shifting.termination_wait_seconds,
        }
    }
    if dep.traffic_shifting.rollback_alarms:
        config["AutoRollbackConfiguration"] = {
            "Alarms": [{"AlarmName": name} for name in dep.traffic_shifting.rollback_alarms]
        }
    return config


def shifting_summary(spec: Spec) -> str:
    """How an update moves traffic, in words (deploy/README.md)."""
    shifting = spec.deployment.traffic_shifting
    routing = traffic_routing(spec)
    if "CanarySize" in routing:
        words = f"canary ({routing['CanarySize']['Value']}% of the new capacity first, then the rest)"
    elif "LinearStepSize" in routing:
        words = f"linear ({routing['LinearStepSize']['Value']}% of the new capacity per step)"
    else:
        words = "all at once"
    words += f", {shifting.wait_seconds} s of baking after each step"
    if shifting.rollback_alarms:
        words += ", rolled back when one of " + ", ".join(shifting.rollback_alarms) + " fires"
    return words


def _variant(variant: EndpointVariant, id_: str, scaling: dict[str, Any] | None) -> dict[str, Any]:
    serverless = variant.serverless
    percent = variant.traffic_percent
    return {
        "name": variant.name,
        "logical_id": id_,
        "instance_type": variant.instance_type,
        "initial_instance_count": variant.initial_instance_count,
        "initial_weight": variant.initial_weight,
        "traffic_percent": percent,
        "traffic": f"{percent:g}%",
        "serverless": (
            {"MemorySizeInMB": serverless.memory_size_mb, "MaxConcurrency": serverless.max_concurrency}
            if serverless
            else None
        ),
        # Which registered model the variant serves: deploy/build_config.py and `sagespec local serve`.
        "model_select": {"select": variant.model.select, "version": variant.model.version},
        "autoscaling": scaling,
        # The same, in words (deploy/README.md).
        "serves": variant.model.describe(),
        "capacity": (
            f"serverless, {serverless.memory_size_mb} MB"
            if serverless
            else f"{variant.initial_instance_count} x {variant.instance_type}"
        ),
        "scaling_summary": (
            f"{scaling['min_instances']}-{scaling['max_instances']} instances, "
            f"{scaling['target_tracking']['TargetValue']:g} invocations per instance per minute"
            if scaling
            else "-"
        ),
        # CloudFormation parameters the deploy build fills per variant, and the stage's instance count.
        "model_package_parameter": f"{id_}ModelPackageArn",
        "instance_count_parameter": None if serverless else f"{id_}InstanceCount",
    }


def _shadow(shadow: ShadowVariant, id_: str) -> dict[str, Any]:
    return {
        "name": shadow.name,
        "logical_id": id_,
        "instance_type": shadow.instance_type,
        "initial_instance_count": shadow.initial_instance_count,
        "initial_weight": shadow.initial_weight,
        # SageMaker copies this share of the production variant's requests to the shadow.
        "sampling_percent": shadow.sampling_percent,
        "model_select": {"select": shadow.model.select, "version": shadow.model.version},
        "serves": shadow.model.describe(),
        "model_package_parameter": f"{id_}ModelPackageArn",
    }


def _autoscaling(spec: Spec, ids: dict[str, str]) -> dict[str, dict[str, Any]]:
    scaling = {}
    for policy in spec.deployment.autoscaling:
        id_ = ids[policy.variant]
        scaling[policy.variant] = {
            "variant": policy.variant,
            "logical_id": id_,
            "min_instances": policy.min_instances,
            "max_instances": policy.max_instances,
            "min_parameter": f"{id_}MinInstances",
            "max_parameter": f"{id_}MaxInstances",
            "policy_name": f"{policy.variant}-invocations-per-instance",
            "target_tracking": {
                "TargetValue": policy.target_invocations_per_instance,
                "PredefinedMetricSpecification": {"PredefinedMetricType": SCALING_METRIC},
                "ScaleInCooldown": policy.scale_in_cooldown_seconds,
                "ScaleOutCooldown": policy.scale_out_cooldown_seconds,
            },
        }
    return scaling


def _stage_parameters(spec: Spec, stage: str, variants: list[dict[str, Any]]) -> dict[str, str]:
    """The stage's fixed stack parameters (template-configuration values are strings).

    Staging runs one instance per variant and may scale in to one; prod runs what the spec says.
    """
    dep = spec.deployment
    params = {"EndpointName": stage_endpoint_name(spec.endpoint_name, stage)}
    for v in variants:
        if v["instance_count_parameter"]:
            count = 1 if stage == "staging" else v["initial_instance_count"]
            params[v["instance_count_parameter"]] = str(count)
        scaling = v["autoscaling"]
        if scaling:
            params[scaling["min_parameter"]] = str(1 if stage == "staging" else scaling["min_instances"])
            params[scaling["max_parameter"]] = str(scaling["max_instances"])
    if dep.data_capture.enabled:
        # Empty: deploy/build_config.py fills in s3://<artifact bucket>/<slug>/data-capture/<stage>.
        destination = dep.data_capture.destination
        params["DataCaptureS3Uri"] = f"{destination.rstrip('/')}/{stage}" if destination else ""
        params["DataCaptureKmsKeyId"] = ""
    params["KmsKeyId"] = ""
    return params


@dataclass(frozen=True)
class DeployGroup:
    """``deploy.*``: the endpoint stack (deploy/), from the deployment model and ``spec.deployment``."""

    enabled: bool
    endpoint_name: str  # the stages append -staging and -prod
    variants: list[dict[str, Any]]
    variant_names: list[str]
    # Shadow variants (deployment.shadow_variants): a copy of the production variant's requests each.
    shadows: list[dict[str, Any]]
    autoscaling: list[dict[str, Any]]
    description: str
    shifting_summary: str
    # Example weights for the docs: all traffic to the last variant (the challenger, say).
    example_weights: list[tuple[str, int]]
    config: dict[str, Any] | None  # the endpoint's DeploymentConfig (None: serverless)
    data_capture: dict[str, Any]
    stages: dict[str, dict[str, Any]]
    scalable_dimension: str = SCALABLE_DIMENSION


def deploy_group(spec: Spec) -> DeployGroup:
    dep = spec.deployment
    model = build_deployment(spec)
    names = [v.name for v in model.variants]
    shadow_names = [s.name for s in model.shadows]
    ids = dict(zip(names + shadow_names, _logical_ids(names + shadow_names), strict=True))
    scaling = _autoscaling(spec, ids)
    variants = [_variant(v, ids[v.name], scaling.get(v.name)) for v in model.variants]
    capture = dep.data_capture
    stages = {
        stage.name: {
            "name": stage.name,
            "endpoint_name": stage.endpoint_name,
            "config_file": f"{stage.name}-config.json",
            "export_file": f"{stage.name}-config-export.json",
            # CodePipeline's template-configuration format; the deploy build adds the model parameters.
            "configuration": {
                "Parameters": _stage_parameters(spec, stage.name, variants),
                "Tags": {**spec.project.tags, "stage": stage.name},
            },
        }
        for stage in model.stages
    }
    return DeployGroup(
        enabled=dep.enabled,
        endpoint_name=spec.endpoint_name,
        variants=variants,
        variant_names=names,
        shadows=[_shadow(s, ids[s.name]) for s in model.shadows],
        autoscaling=list(scaling.values()),
        description=(
            f"SageMaker endpoint of {spec.project.slug}, variant{'s' if len(names) > 1 else ''} "
            + ", ".join(names)
        ),
        shifting_summary=shifting_summary(spec),
        example_weights=[(name, 1 if i == len(names) - 1 else 0) for i, name in enumerate(names)],
        config=deployment_config(spec),
        data_capture={
            "enabled": capture.enabled,
            "sampling_percentage": capture.sampling_percentage,
            "destination": capture.destination,
            "content_types": CAPTURE_CONTENT_TYPES,
            # The default destination's key prefix, s3://<artifact bucket>/<prefix>/<stage>.
            "default_prefix": (
                f"{spec.project.slug}/data-capture" if capture.enabled and not capture.destination else None
            ),
        },
        stages=stages,
    )
