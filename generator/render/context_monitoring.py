"""Template context for Model Monitor on SageMaker: the pipeline's baseline steps and the endpoint stack's
monitoring schedules.

The baseline steps are the plan's quality-check steps (:func:`sagespec.plan.quality_check_steps`), in
its order, reading the files EvaluateModel writes under its ``monitoring`` output; the schedules are the
spec's (``monitoring.data_quality``, ``monitoring.model_quality``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..plan import Plan, Step
from ..spec.models import Spec
from ..spec.models_monitoring import QualityMonitor, hours_between_jobs, schedule_expression
from .context_deploy import logical_id

# What the model-quality monitor computes: Model Monitor's problem type for classes that are labels, the
# column of the baseline CSV (and of the record preprocessor's output) holding the predicted class, and
# the one holding the ground truth (EvaluateModel's model-quality-baseline.csv: label,prediction,probability).
PROBLEM_TYPE = "MulticlassClassification"
INFERENCE_ATTRIBUTE = "prediction"
GROUND_TRUTH_ATTRIBUTE = "label"
# Where the model-quality monitor finds the predicted class in a captured answer of the deployed server
# (deploy/payload.py): the handler's {"predictions": [{"label": ...}]}, BlazingText's
# [{"label": ["__label__<class>", ...]}] (best first), Autopilot's CSV line (predicted label first). The
# labeling flow captures one text per request for it and writes the ground truth in the same spelling.
ENDPOINT_INFERENCE_ATTRIBUTES = {
    "handler": "predictions[0].label",
    "blazingtext": "[0].label[0]",
    "autopilot": "0",
}
# The monitoring schedules' names: the endpoint's and this suffix (a project's longest endpoint name,
# 55 characters, leaves room for them within SageMaker's 63).
SCHEDULE_SUFFIXES = {"data-quality": "-drift", "model-quality": "-quality"}


@dataclass(frozen=True)
class QualityCheck:
    """One baseline step of the pipeline and the schedule that compares the endpoint's traffic with it."""

    step_name: str
    check: str  # "data-quality" or "model-quality"
    baseline: str  # the CSV file under EvaluateModel's monitoring output
    instance_type: str
    max_runtime_seconds: int
    schedule_expression: str
    logical_id: str  # the stack's resources: <id>JobDefinition, <id>Schedule
    schedule_suffix: str
    # Model quality: each job scores the requests captured in one interval of the schedule, ending a day
    # before the job (labels have had a day to arrive), so no record is scored twice.
    start_time_offset: str


@dataclass(frozen=True)
class MonitoringGroup:
    """``monitoring.*``: Model Monitor's baselines (pipelines/<pkg>/monitoring.py) and schedules
    (deploy/endpoint.yaml); None when the spec monitors nothing."""

    checks: list[QualityCheck]  # in the plan's order
    data_quality: QualityCheck | None
    model_quality: QualityCheck | None
    # S3 key prefixes under the deploy build's artifact bucket (deploy/build_config.py adds /<stage>):
    # the monitors' reports and the record preprocessor; the ground truth the labeling flow writes.
    reports_prefix: str
    ground_truth_prefix: str
    endpoint_inference_attribute: str
    problem_type: str = PROBLEM_TYPE
    inference_attribute: str = INFERENCE_ATTRIBUTE
    ground_truth_attribute: str = GROUND_TRUTH_ATTRIBUTE


def _check(step: Step, check: str, monitor: QualityMonitor) -> QualityCheck:
    (baseline,) = step.inputs
    return QualityCheck(
        step_name=step.name,
        check=check,
        baseline=baseline.destination,
        instance_type=monitor.instance_type,
        max_runtime_seconds=monitor.max_runtime_seconds,
        schedule_expression=schedule_expression(monitor.schedule),
        logical_id=logical_id(check),
        schedule_suffix=SCHEDULE_SUFFIXES[check],
        start_time_offset=_start_time_offset(hours_between_jobs(monitor.schedule)),
    )


def _start_time_offset(hours: int) -> str:
    """An ISO 8601 duration, before the job: a day plus the schedule's interval."""
    return "-P2D" if hours == 24 else f"-P1DT{hours}H"


def monitoring_group(spec: Spec, plan: Plan) -> MonitoringGroup | None:
    monitoring = spec.monitoring
    if not monitoring.enabled:
        return None
    monitors = {"data-quality": monitoring.data_quality, "model-quality": monitoring.model_quality}
    checks = [
        _check(step, check, monitor)
        for step in plan.steps
        if (check := step.check) is not None and (monitor := monitors[check]) is not None
    ]
    by_kind = {check.check: check for check in checks}
    return MonitoringGroup(
        checks=checks,
        data_quality=by_kind.get("data-quality"),
        model_quality=by_kind.get("model-quality"),
        reports_prefix=f"{spec.project.slug}/monitoring",
        ground_truth_prefix=f"{spec.project.slug}/ground-truth",
        endpoint_inference_attribute=ENDPOINT_INFERENCE_ATTRIBUTES[deployed_server(spec)],
    )


def deployed_server(spec: Spec) -> str:
    """Who answers the deployed endpoint (deploy/payload.py's DEPLOYED): a built-in image, Autopilot's
    container, else the project's inference handler."""
    return spec.model.type if spec.model.type in ("blazingtext", "autopilot") else "handler"
