"""Model quality in Model Monitor's formats: the multiclass metrics of predictions beside true classes
(``statistics.json``), the constraints the analyzer suggests from a baseline's metrics (each metric's
value, ``LessThanThreshold``) and the check of current metrics against them.

Each metric has Model Monitor's name and a standard deviation from bootstrap resamples; the
``*_best_constant_classifier`` values are what always answering the most frequent true class would score.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

SECTION = "multiclass_classification_metrics"
CONSTRAINTS = "multiclass_classification_constraints"
# The metrics the suggested constraints hold (Model Monitor's multiclass set).
CONSTRAINED = (
    "accuracy",
    "weighted_recall",
    "weighted_precision",
    "weighted_f0_5",
    "weighted_f1",
    "weighted_f2",
)
RESAMPLES = 30  # bootstrap resamples for each metric's standard deviation
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "LessThanThreshold": lambda value, threshold: value < threshold,
    "GreaterThanThreshold": lambda value, threshold: value > threshold,
    "LessThanOrEqualToThreshold": lambda value, threshold: value <= threshold,
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
}


def metrics(truth: Sequence[str], predicted: Sequence[str]) -> dict[str, float]:
    """Accuracy and the support-weighted recall, precision and F-scores."""
    count = len(truth)
    support = Counter(truth)
    guessed = Counter(predicted)
    hits = Counter(t for t, p in zip(truth, predicted, strict=True) if t == p)
    scores: dict[str, float] = {"accuracy": sum(hits.values()) / count}
    recall = {label: hits[label] / n for label, n in support.items()}
    precision = {label: hits[label] / guessed[label] if guessed[label] else 0.0 for label in support}
    scores["weighted_recall"] = sum(recall[label] * n for label, n in support.items()) / count
    scores["weighted_precision"] = sum(precision[label] * n for label, n in support.items()) / count
    for name, beta in (("weighted_f0_5", 0.5), ("weighted_f1", 1.0), ("weighted_f2", 2.0)):
        scores[name] = (
            sum(_f(precision[label], recall[label], beta) * n for label, n in support.items()) / count
        )
    return scores


def _f(precision: float, recall: float, beta: float) -> float:
    both = beta * beta * precision + recall
    return (1 + beta * beta) * precision * recall / both if both else 0.0


def statistics(truth: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    """statistics.json of a model-quality job: metrics with standard deviations, and the confusion matrix."""
    if not truth:
        raise ValueError("no predictions with a true class to measure")
    values = metrics(truth, predicted)
    rng = random.Random(0)
    resampled: dict[str, list[float]] = {name: [] for name in values}
    indexes = range(len(truth))
    for _ in range(RESAMPLES):
        sample = rng.choices(indexes, k=len(truth))
        for name, value in metrics([truth[i] for i in sample], [predicted[i] for i in sample]).items():
            resampled[name].append(value)
    majority = Counter(truth).most_common(1)[0][0]
    constant = metrics(truth, [majority] * len(truth))
    section: dict[str, Any] = {"confusion_matrix": confusion_matrix(truth, predicted)}
    for name, value in values.items():
        section[name] = {"value": value, "standard_deviation": _std(resampled[name])}
    for name, value in constant.items():
        section[f"{name}_best_constant_classifier"] = {"value": value, "standard_deviation": 0.0}
    evaluated = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "version": 0.0,
        "dataset": {"item_count": len(truth), "evaluation_time": evaluated},
        SECTION: section,
    }


def _std(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def confusion_matrix(truth: Sequence[str], predicted: Sequence[str]) -> dict[str, dict[str, int]]:
    """Model Monitor's nesting: true class -> predicted class -> count."""
    labels = sorted(set(truth) | set(predicted))
    pairs = Counter(zip(truth, predicted, strict=True))
    return {t: {p: pairs[(t, p)] for p in labels} for t in labels}


def suggest(baseline: Mapping[str, Any]) -> dict[str, Any]:
    """constraints.json: each constrained metric must not fall below its baseline value."""
    section = baseline[SECTION]
    return {
        "version": 0.0,
        CONSTRAINTS: {
            name: {"threshold": section[name]["value"], "comparison_operator": "LessThanThreshold"}
            for name in CONSTRAINED
        },
    }


def check(current: Mapping[str, Any], constraints: Mapping[str, Any]) -> dict[str, Any]:
    """constraint_violations.json: each constraint whose comparison holds for the current metric."""
    found = []
    section = current[SECTION]
    for name, rule in constraints.get(CONSTRAINTS, {}).items():
        operator = rule["comparison_operator"]
        value, threshold = section[name]["value"], float(rule["threshold"])
        if OPERATORS[operator](value, threshold):
            found.append(
                {
                    "constraint_check_type": operator,
                    "description": f"Metric {name} with {value:.4f} was {operator} '{threshold:.4f}'",
                    "metric_name": name,
                }
            )
    return {"violations": found}
