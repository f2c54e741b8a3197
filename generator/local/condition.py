"""The condition step, as SageMaker's pipeline evaluates it: ``JsonGet`` reads the metric from the
evaluation report, ``ConditionGreaterThanOrEqualTo`` compares it with the threshold, and the plan's
condition names the step each outcome runs next."""

from __future__ import annotations

import re
from typing import Any

from ..errors import LocalRunError
from ..plan import EVALUATION_REPORT, Condition


def json_get(document: Any, path: str) -> Any:
    """JsonGet's path syntax: ``metrics.accuracy.value`` (``[n]`` indexes lists)."""
    node = document
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    return node


def evaluate_condition(
    step: str, condition: Condition, evaluation: dict[str, Any] | None, threshold: float | None = None
) -> dict[str, Any]:
    """The outcome of ``condition`` on the evaluation report (``threshold`` overrides the plan's):
    metric, value, threshold, whether it passed and the step that runs next."""
    if evaluation is None:
        raise LocalRunError(f"{step}: no evaluation report to read")
    try:
        value = float(json_get(evaluation, condition.json_path))
    except (KeyError, IndexError, TypeError, ValueError):
        raise LocalRunError(f"{step}: {EVALUATION_REPORT} has no number at {condition.json_path}") from None
    threshold = condition.threshold if threshold is None else threshold
    passed = value >= threshold
    return {
        "metric": condition.metric,
        "json_path": condition.json_path,
        "value": value,
        "threshold": threshold,
        "passed": passed,
        "next": condition.if_true if passed else condition.if_false,
    }
