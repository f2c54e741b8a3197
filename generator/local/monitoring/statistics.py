"""Data-quality statistics in Model Monitor's ``statistics.json`` schema.

Every column gets an inferred type as the analyzer infers it from text (Integral, Fractional, String;
Unknown when no value is present), its present and missing counts, and then either numbers (mean, sum,
standard deviation, min, max, the distribution in ten equal buckets and a quantile sketch) or a string's
distinct values and their counts. The sketch keeps the sorted values themselves up to ``SKETCH_K`` of
them, else ``SKETCH_K`` evenly spaced quantiles: what the drift check compares distributions with.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

INTEGRAL, FRACTIONAL, STRING, UNKNOWN = "Integral", "Fractional", "String", "Unknown"
BUCKETS = 10  # Model Monitor materialises every distribution in ten buckets
SKETCH_K = 2048  # the KLL sketch's k parameter Model Monitor reports
SKETCH_C = 0.64
MAX_CATEGORIES = 1000  # string values listed one by one (more: the most frequent ones)

_INTEGER = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")

Row = Mapping[str, Any]


def text_of(value: Any) -> str:
    """A value as a CSV cell holds it (None: empty, a missing value)."""
    return "" if value is None else str(value)


def value_type(text: str) -> str:
    """The type Model Monitor infers for one non-empty value."""
    if _INTEGER.fullmatch(text):
        return INTEGRAL
    if _NUMBER.fullmatch(text) or text.lower() in ("nan", "inf", "-inf", "infinity", "-infinity"):
        return FRACTIONAL
    return STRING


def column_type(types: Iterable[str]) -> str:
    """A column's type: String if any value is, else Fractional if any is, else Integral."""
    found = set(types)
    for kind in (STRING, FRACTIONAL, INTEGRAL):
        if kind in found:
            return kind
    return UNKNOWN


def column_names(rows: Sequence[Row], expected: Sequence[str] = ()) -> list[str]:
    """The columns of ``rows``: ``expected`` first, in its order, then any others in the order seen."""
    names = dict.fromkeys(expected)
    for row in rows:
        names.update(dict.fromkeys(row))
    return list(names)


def present_values(rows: Sequence[Row], columns: Sequence[str]) -> dict[str, list[str]]:
    """Each column's present values as texts, in row order (a missing key, None or "" is missing)."""
    return {name: [t for t in (text_of(row.get(name)) for row in rows) if t != ""] for name in columns}


def dataset_statistics(rows: Sequence[Row], columns: Sequence[str]) -> dict[str, Any]:
    """statistics.json for ``rows`` (dictionaries: a missing key or None is a missing value)."""
    present = present_values(rows, columns)
    features = [feature_statistics(name, present[name], len(rows)) for name in columns]
    return {"version": 0.0, "dataset": {"item_count": len(rows)}, "features": features}


def feature_statistics(name: str, present: list[str], item_count: int) -> dict[str, Any]:
    inferred = column_type(value_type(text) for text in present)
    common = {"num_present": len(present), "num_missing": item_count - len(present)}
    if inferred in (INTEGRAL, FRACTIONAL):
        numbers = sorted(float(text) for text in present)
        numerical = {"common": common, **_numbers(numbers)}
        return {"name": name, "inferred_type": inferred, "numerical_statistics": numerical}
    counts = Counter(present)
    buckets = [{"value": value, "count": count} for value, count in counts.most_common(MAX_CATEGORIES)]
    return {
        "name": name,
        "inferred_type": inferred,
        "string_statistics": {
            "common": common,
            "distinct_count": len(counts),
            "distribution": {"categorical": {"buckets": buckets}},
        },
    }


def _numbers(values: list[float]) -> dict[str, Any]:
    """The numerical statistics of sorted ``values`` (not empty)."""
    count = len(values)
    total = math.fsum(values)
    mean = total / count
    std_dev = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / count)
    low, high = values[0], values[-1]
    return {
        "mean": mean,
        "sum": total,
        "std_dev": std_dev,
        "min": low,
        "max": high,
        "distribution": {
            "kll": {
                "buckets": buckets(values, low, high),
                "sketch": {"parameters": {"c": SKETCH_C, "k": float(SKETCH_K)}, "data": [_sketch(values)]},
            }
        },
    }


def buckets(values: list[float], low: float, high: float) -> list[dict[str, float]]:
    """``BUCKETS`` equal-width buckets from ``low`` to ``high`` and how many of ``values`` each holds (all
    in the last when ``low == high``)."""
    width = (high - low) / BUCKETS
    counts = [0] * BUCKETS
    for value in values:
        index = BUCKETS - 1 if width == 0 else min(int((value - low) / width), BUCKETS - 1)
        counts[index] += 1
    return [
        {"lower_bound": low + i * width, "upper_bound": low + (i + 1) * width, "count": float(counts[i])}
        for i in range(BUCKETS)
    ]


def _sketch(values: list[float]) -> list[float]:
    if len(values) <= SKETCH_K:
        return list(values)
    last = len(values) - 1
    return [values[round(i * last / (SKETCH_K - 1))] for i in range(SKETCH_K)]


# ---------------------------------------------------------------------------------------------- reading


def features_by_name(statistics: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {feature["name"]: feature for feature in statistics.get("features", [])}


def common_counts(feature: Mapping[str, Any]) -> dict[str, int]:
    block = feature.get("numerical_statistics") or feature.get("string_statistics") or {}
    return block.get("common", {"num_present": 0, "num_missing": 0})


def sketch_values(feature: Mapping[str, Any]) -> list[float]:
    """The sorted values a numerical feature's sketch holds."""
    sketch = feature["numerical_statistics"]["distribution"]["kll"]["sketch"]
    return sorted(value for level in sketch["data"] for value in level)


def category_shares(feature: Mapping[str, Any]) -> dict[str, float]:
    """Each string value's share of the present values."""
    buckets = feature["string_statistics"]["distribution"]["categorical"]["buckets"]
    total = sum(bucket["count"] for bucket in buckets) or 1
    return {bucket["value"]: bucket["count"] / total for bucket in buckets}
