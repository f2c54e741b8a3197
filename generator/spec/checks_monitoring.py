"""Checks of what runs after deployment: shadow variants, Model Monitor schedules and batch scoring."""

from __future__ import annotations

from collections.abc import Iterator

from .findings import Finding, error, warning
from .models import Spec
from .models_deployment import VariantModel
from .models_monitoring import hours_between_jobs

# A monitoring job must end before the schedule starts the next one.
HOURLY_RUNTIME_MAX = 3600


def check_variant_model(path: str, model: VariantModel) -> Iterator[Finding]:
    """A variant's (or shadow's) model selection: a version exactly when the rule is select: version."""
    if model.select == "version" and model.version is None:
        yield error(f"{path}.model.version", "name the model package version to serve")
    if model.select != "version" and model.version is not None:
        yield error(f"{path}.model.version", "only applies with select: version")


def check_shadow_variants(spec: Spec) -> Iterator[Finding]:
    dep = spec.deployment
    if not dep.shadow_variants:
        return
    names = {v.name for v in dep.variants}
    for i, shadow in enumerate(dep.shadow_variants):
        path = f"deployment.shadow_variants.{i}"
        if shadow.name in names:
            yield error(f"{path}.name", f"{shadow.name!r} is already a production variant's name")
        yield from check_variant_model(path, shadow.model)
    if len(dep.variants) != 1:
        yield error(
            "deployment.shadow_variants",
            f"an endpoint with a shadow variant has exactly one production variant, got {len(dep.variants)}",
        )
        return
    production = dep.variants[0]
    if production.serverless is not None:
        yield error("deployment.shadow_variants", "a shadow copies an instance-backed variant's traffic")
    for i, shadow in enumerate(dep.shadow_variants):
        if shadow.initial_weight > production.initial_weight:
            yield error(
                f"deployment.shadow_variants.{i}.initial_weight",
                f"at most the production variant's weight ({production.initial_weight:g}): the shadow gets "
                "a copy of at most every request",
            )


def check_monitoring(spec: Spec) -> Iterator[Finding]:
    monitoring = spec.monitoring
    if not monitoring.enabled:
        return
    capture = spec.deployment.data_capture
    for kind in ("data_quality", "model_quality"):
        monitor = getattr(monitoring, kind)
        if monitor is None:
            continue
        path = f"monitoring.{kind}"
        if not spec.deployment.enabled:
            yield error(path, "monitors watch the deployed endpoint: set deployment.enabled: true")
        elif not capture.enabled:
            yield error(path, "monitors read captured traffic: set deployment.data_capture.enabled: true")
        elif capture.sampling_percentage == 0:
            yield warning(path, "data_capture.sampling_percentage is 0: nothing is captured to monitor")
        if hours_between_jobs(monitor.schedule) == 1 and monitor.max_runtime_seconds > HOURLY_RUNTIME_MAX:
            yield error(
                f"{path}.max_runtime_seconds",
                f"an hourly schedule's job must end within the hour (at most {HOURLY_RUNTIME_MAX}), "
                f"got {monitor.max_runtime_seconds}",
            )
    if monitoring.model_quality is not None and not spec.labeling.enabled:
        yield error(
            "monitoring.model_quality",
            "model quality needs ground truth, which people give in the human review loop: set "
            "labeling.enabled: true",
        )


def check_batch(spec: Spec) -> Iterator[Finding]:
    if spec.batch is not None and not spec.deployment.enabled:
        yield error(
            "batch",
            "batch scoring is generated with the deployment (deploy/batch.py picks the registered model "
            "the first variant's rule selects): set deployment.enabled: true",
        )
