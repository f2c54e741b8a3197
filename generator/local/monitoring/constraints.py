"""Data-quality constraints in Model Monitor's ``constraints.json`` schema, and the check of current
statistics against them that writes ``constraint_violations.json``.

The suggestion follows the analyzer's: each feature's type and completeness as the baseline has them, a
number is non-negative when every baseline value is, and a string column of few distinct values gets
them as its domain. The monitoring config carries the analyzer's default thresholds.

Drift (baseline_drift_check) is the distance between the baseline's and the current distribution: for
numbers the largest gap between their cumulative distributions, for strings (``LInfinity``) the largest
gap between a value's shares. The ``Robust`` comparison method reports it only when it is also larger
than chance allows for samples of these sizes (a two-sample test at 99.9 %: a monitor checks several
features and classes at once), so a few hundred requests like the baseline do not raise drift while a
distribution that moved does.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from typing import Any

from .statistics import (
    FRACTIONAL,
    INTEGRAL,
    STRING,
    UNKNOWN,
    category_shares,
    common_counts,
    features_by_name,
    sketch_values,
    value_type,
)

DOMAIN_MAX_VALUES = 50  # a string column with at most this many distinct values gets a domain
DEFAULT_THRESHOLD = 0.1
ALPHA = 0.001  # the significance level of the Robust comparison
# The two-sample Kolmogorov-Smirnov critical value: c(alpha) = sqrt(-ln(alpha / 2) / 2).
CRITICAL = math.sqrt(-math.log(ALPHA / 2) / 2)
Z_CRITICAL = 3.291  # the same level for one category's share (the two-sided normal quantile)


def suggest(statistics: Mapping[str, Any]) -> dict[str, Any]:
    """constraints.json for baseline ``statistics``."""
    item_count = statistics["dataset"]["item_count"] or 1
    features = []
    for feature in statistics["features"]:
        counts = common_counts(feature)
        constraint: dict[str, Any] = {
            "name": feature["name"],
            "inferred_type": feature["inferred_type"],
            "completeness": counts["num_present"] / item_count,
        }
        if feature["inferred_type"] in (INTEGRAL, FRACTIONAL):
            constraint["num_constraints"] = {"is_non_negative": feature["numerical_statistics"]["min"] >= 0}
        elif feature["inferred_type"] == STRING:
            values = list(category_shares(feature))
            if feature["string_statistics"]["distinct_count"] <= DOMAIN_MAX_VALUES:
                constraint["string_constraints"] = {"domains": sorted(values)}
        features.append(constraint)
    return {
        "version": 0.0,
        "features": features,
        "monitoring_config": {
            "evaluate_constraints": "Enabled",
            "emit_metrics": "Enabled",
            "datatype_check_threshold": DEFAULT_THRESHOLD,
            "domain_content_threshold": DEFAULT_THRESHOLD,
            "distribution_constraints": {
                "perform_comparison": "Enabled",
                "comparison_threshold": DEFAULT_THRESHOLD,
                "comparison_method": "Robust",
                "categorical_comparison_threshold": DEFAULT_THRESHOLD,
                "categorical_drift_method": "LInfinity",
            },
        },
    }


# ---------------------------------------------------------------------------------------------- the check


def violation(feature: str, check: str, description: str) -> dict[str, str]:
    return {"feature_name": feature, "constraint_check_type": check, "description": description}


def check(
    current: Mapping[str, Any],
    constraints: Mapping[str, Any],
    baseline: Mapping[str, Any],
    current_values: Mapping[str, Sequence[str]],
) -> dict[str, Any]:
    """constraint_violations.json: ``current`` statistics against the baseline's ``constraints`` (and its
    ``baseline`` statistics, for drift). ``current_values``: each column's present values as text, for
    the share of values of the wrong type or outside the domain."""
    config = constraints.get("monitoring_config", {})
    if config.get("evaluate_constraints", "Enabled") != "Enabled":
        return {"violations": []}
    found: list[dict[str, str]] = []
    expected = {feature["name"]: feature for feature in constraints["features"]}
    observed = features_by_name(current)
    item_count = current["dataset"]["item_count"]
    for name in expected.keys() - observed.keys():
        found.append(violation(name, "missing_column_check", f"There are missing columns: {name} is absent"))
    for name in observed.keys() - expected.keys():
        found.append(
            violation(name, "extra_column_check", f"There are extra columns: {name} is not in the baseline")
        )
    baseline_features = features_by_name(baseline)
    for name, rule in expected.items():
        if name not in observed or item_count == 0:
            continue
        values = current_values.get(name, [])
        overrides = {**config, **rule.get("monitoringConfigOverrides", {})}
        found += _type_check(name, rule, values, overrides)
        found += _completeness_check(name, rule, common_counts(observed[name]), item_count)
        found += _domain_check(name, rule, values, overrides)
        if name in baseline_features:
            found += _drift_check(name, baseline_features[name], observed[name], overrides)
    order = {name: i for i, name in enumerate([*expected, *observed])}
    found.sort(key=lambda v: (order.get(v["feature_name"], len(order)), v["constraint_check_type"]))
    return {"violations": found}


def _compatible(expected: str, value: str) -> bool:
    kind = value_type(value)
    return expected in (STRING, UNKNOWN) or kind == expected or (expected == FRACTIONAL and kind == INTEGRAL)


def _type_check(
    name: str, rule: Mapping[str, Any], values: Sequence[str], config: Mapping[str, Any]
) -> list[dict[str, str]]:
    if not values:
        return []
    expected = rule["inferred_type"]
    matching = sum(_compatible(expected, value) for value in values) / len(values)
    threshold = float(config.get("datatype_check_threshold", DEFAULT_THRESHOLD))
    if 1 - matching <= threshold:
        return []
    return [
        violation(
            name,
            "data_type_check",
            f"Data type match requirement is not met. Expected data type: {expected}, Expected match: "
            f"{100 * (1 - threshold):.1f}%. Observed: Only {100 * matching:.1f}% of data is {expected}.",
        )
    ]


def _completeness_check(
    name: str, rule: Mapping[str, Any], counts: Mapping[str, int], item_count: int
) -> list[dict[str, str]]:
    completeness = counts["num_present"] / item_count
    expected = float(rule.get("completeness", 0.0))
    if completeness >= expected:
        return []
    return [
        violation(
            name,
            "completeness_check",
            f"Data completeness requirement is not met. Expected: {100 * expected:.1f}%, "
            f"Observed: {100 * completeness:.1f}%.",
        )
    ]


def _domain_check(
    name: str, rule: Mapping[str, Any], values: Sequence[str], config: Mapping[str, Any]
) -> list[dict[str, str]]:
    domain = rule.get("string_constraints", {}).get("domains")
    if domain is None or not values:
        return []
    allowed = set(domain)
    outside = [value for value in values if value not in allowed]
    threshold = float(config.get("domain_content_threshold", DEFAULT_THRESHOLD))
    if len(outside) / len(values) <= threshold:
        return []
    unknown = sorted(set(outside))[:5]
    return [
        violation(
            name,
            "categorical_values_check",
            f"Data has values outside the baseline's domain: {100 * len(outside) / len(values):.1f}% "
            f"(threshold {100 * threshold:.1f}%), e.g. {', '.join(map(repr, unknown))}.",
        )
    ]


def _drift_check(
    name: str, base: Mapping[str, Any], now: Mapping[str, Any], config: Mapping[str, Any]
) -> list[dict[str, str]]:
    settings = config.get("distribution_constraints", {})
    if settings.get("perform_comparison", "Enabled") != "Enabled":
        return []
    distance, significant = drift(base, now)
    if distance is None:
        return []
    numeric = base["inferred_type"] in (INTEGRAL, FRACTIONAL)
    key = "comparison_threshold" if numeric else "categorical_comparison_threshold"
    threshold = float(settings.get(key, DEFAULT_THRESHOLD))
    robust = settings.get("comparison_method", "Robust") == "Robust"
    if distance <= threshold or (robust and not significant):
        return []
    return [
        violation(
            name,
            "baseline_drift_check",
            f"Baseline drift distance: {distance:.4f} exceeds threshold: {threshold:g}",
        )
    ]


def drift(base: Mapping[str, Any], now: Mapping[str, Any]) -> tuple[float | None, bool]:
    """The distance between a feature's baseline and current distributions, and whether it is larger than
    chance allows for the two sample sizes. None when the feature's types differ or a side is empty."""
    kinds = {base["inferred_type"], now["inferred_type"]}
    if kinds <= {INTEGRAL, FRACTIONAL}:
        if not common_counts(base)["num_present"] or not common_counts(now)["num_present"]:
            return None, False
        left, right = sketch_values(base), sketch_values(now)
        distance = _cdf_distance(left, right)
        n, m = common_counts(base)["num_present"], common_counts(now)["num_present"]
        return distance, distance > CRITICAL * math.sqrt((n + m) / (n * m))
    if kinds == {STRING}:
        n, m = common_counts(base)["num_present"], common_counts(now)["num_present"]
        if not n or not m:
            return None, False
        left, right = category_shares(base), category_shares(now)
        distance, significant = 0.0, False
        for value in left.keys() | right.keys():
            p, q = left.get(value, 0.0), right.get(value, 0.0)
            pooled = (p * n + q * m) / (n + m)
            error = math.sqrt(max(pooled * (1 - pooled), 0.0) * (1 / n + 1 / m))
            distance = max(distance, abs(p - q))
            significant = significant or abs(p - q) > Z_CRITICAL * error
        return distance, significant
    return None, False


def _cdf_distance(left: list[float], right: list[float]) -> float:
    """The largest gap between two sorted samples' cumulative distributions (Kolmogorov-Smirnov)."""
    gap = 0.0
    for x in sorted(set(left) | set(right)):
        gap = max(
            gap, abs(bisect.bisect_right(left, x) / len(left) - bisect.bisect_right(right, x) / len(right))
        )
    return gap
