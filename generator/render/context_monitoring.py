"""Template context for Model Monitor on SageMaker: the pipeline's baseline steps and the endpoint stack's
monitoring schedules.

The baseline steps are the plan's quality-check steps (:func:`sagespec.plan.quality_check_steps`), in
its order, reading the files EvaluateModel writes under its ``monitoring`` output; the schedules are the
spec's (``monitoring.data_quality``, ``monitoring.model_quality``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..plan import Plan
from ..spec.models import Spec
from ..spec.models_monitoring import QualityMonitor, schedule_expression
from .context_deploy import logical_id

# What the model-quality monitor computes: Model Monitor's problem type for classes that are labels, the
# column of the baseline CSV (and of the record preprocessor's output) holding the predicted class, and
# the one holding the ground truth (EvaluateModel's model-quality-baseline.csv: label,prediction,probability).
PROBLEM_TYPE = "MulticlassClassification"
INFERENCE_ATTRIBUTE = "prediction"
GROUND_TRUTH_ATTRIBUTE = "label"


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


@dataclass(frozen=True)
class MonitoringGroup:
    """``monitoring.*``: Model Monitor's baselines (pipelines/<pkg>/monitoring.py) and schedules
    (deploy/endpoint.yaml); None when the spec monitors nothing."""

    checks: list[QualityCheck]  # in the plan's order
    data_quality: QualityCheck | None
    model_quality: QualityCheck | None
    problem_type: str = PROBLEM_TYPE
    inference_attribute: str = INFERENCE_ATTRIBUTE
    ground_truth_attribute: str = GROUND_TRUTH_ATTRIBUTE


def _check(plan: Plan, name: str, monitor: QualityMonitor) -> QualityCheck:
    step = plan.step(name)
    (baseline,) = step.inputs
    return QualityCheck(
        step_name=step.name,
        check=step.check or "",
        baseline=baseline.destination,
        instance_type=monitor.instance_type,
        max_runtime_seconds=monitor.max_runtime_seconds,
        schedule_expression=schedule_expression(monitor.schedule),
        logical_id=logical_id(step.check or ""),
    )


def monitoring_group(spec: Spec, plan: Plan) -> MonitoringGroup | None:
    monitoring = spec.monitoring
    if not monitoring.enabled:
        return None
    monitors = {"data-quality": monitoring.data_quality, "model-quality": monitoring.model_quality}
    checks = [
        _check(plan, step.name, monitor)
        for step in plan.steps
        if step.kind == "quality-check" and (monitor := monitors[step.check or ""]) is not None
    ]
    by_kind = {check.check: check for check in checks}
    return MonitoringGroup(
        checks=checks,
        data_quality=by_kind.get("data-quality"),
        model_quality=by_kind.get("model-quality"),
    )
