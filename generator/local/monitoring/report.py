"""``sagespec local monitor``'s page: per variant, each feature's distribution in the baseline beside the
captured traffic's, the predicted classes' shares, model quality over the labeled traffic against its
constraints, and every violation. One self-contained file (inline CSS and SVG, no script), rendered with
the run report's environment and bar macro (autoescaped: texts and class names are data)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import report_charts as charts
from ..artifacts import write_text_atomic
from ..report_html import template_environment
from . import model_quality
from .monitor import DATA_QUALITY, MODEL_QUALITY, VariantMonitoring
from .statistics import (
    BUCKETS,
    FRACTIONAL,
    INTEGRAL,
    STRING,
    buckets,
    category_shares,
    features_by_name,
    sketch_values,
)

REPORT_FILE = "report.html"
HIST_W, HIST_H = 360, 120  # a feature's histogram: plot area


@dataclass(frozen=True)
class Histogram:
    """One numerical feature: baseline and current shares in the same buckets, as bar geometry."""

    name: str
    low: float
    high: float
    baseline: list[tuple[float, float, float]]  # (x, y, height) of each baseline bar
    current: list[tuple[float, float, float]]
    bar_w: float
    violations: list[str]


@dataclass(frozen=True)
class Shares:
    """One string feature: each value's share in the baseline and now."""

    name: str
    rows: list[tuple[str, float, float, float, float]]  # value, baseline share, current share, widths
    violations: list[str]


def _shares(values: list[float], low: float, high: float) -> list[float]:
    """Each statistics bucket's share of sorted ``values``, all within ``low < high``."""
    return [bucket["count"] / (len(values) or 1) for bucket in buckets(values, low, high)]


def histogram(name: str, base: dict[str, Any], now: dict[str, Any], violations: list[str]) -> Histogram:
    left, right = sketch_values(base), sketch_values(now)
    low, high = min(left[0], right[0]), max(left[-1], right[-1])
    if high == low:
        high = low + 1
    baseline, current = _shares(left, low, high), _shares(right, low, high)
    top = max(baseline + current) or 1.0
    slot = HIST_W / BUCKETS
    bar_w = slot / 2 - 1

    def bars(shares: list[float], offset: float) -> list[tuple[float, float, float]]:
        return [
            (round(i * slot + offset, 1), round(HIST_H - s / top * HIST_H, 1), round(s / top * HIST_H, 1))
            for i, s in enumerate(shares)
        ]

    return Histogram(name, low, high, bars(baseline, 0.5), bars(current, slot / 2), bar_w, violations)


def shares(name: str, base: dict[str, Any], now: dict[str, Any], violations: list[str]) -> Shares:
    left, right = category_shares(base), category_shares(now)
    values = sorted(left.keys() | right.keys(), key=lambda v: (-left.get(v, 0.0), v))
    rows = [
        (
            v,
            left.get(v, 0.0),
            right.get(v, 0.0),
            left.get(v, 0.0) * charts.BAR_W,
            right.get(v, 0.0) * charts.BAR_W,
        )
        for v in values
    ]
    return Shares(name, rows, violations)


def quality_chart(found: VariantMonitoring) -> charts.BarChart | None:
    result = found.results.get(MODEL_QUALITY)
    if result is None:
        return None
    section = result.statistics[model_quality.SECTION]
    rules = result.constraints.get(model_quality.CONSTRAINTS, {})
    violated = {v["metric_name"] for v in result.violations}
    names = [name for name in model_quality.CONSTRAINED if name in section]
    bars = [
        charts.Bar(
            name,
            charts.LABEL_W,
            max(0.0, section[name]["value"]) * charts.BAR_W,
            f"{section[name]['value']:.4f}"
            + (f" (baseline {rules[name]['threshold']:.4f})" if name in rules else ""),
            name in violated,
        )
        for name in names
    ]
    marks = [
        charts.LABEL_W + float(rules[name]["threshold"]) * charts.BAR_W for name in names if name in rules
    ]
    title = f"model quality over {found.labeled} labeled predictions (lines: the constraints)"
    return charts.BarChart(title, bars, marks, charts.LABEL_W, len(bars) * charts.ROW_H + 8)


def variant_view(found: VariantMonitoring) -> dict[str, Any]:
    """What the template draws for one variant."""
    histograms: list[Histogram] = []
    categorical: list[Shares] = []
    result = found.results.get(DATA_QUALITY)
    if result is not None:
        baseline = features_by_name(result.baseline)
        by_feature: dict[str, list[str]] = {}
        for v in result.violations:
            by_feature.setdefault(v["feature_name"], []).append(
                f"{v['constraint_check_type']}: {v['description']}"
            )
        for name, now in features_by_name(result.statistics).items():
            base = baseline.get(name)
            if base is None or base["inferred_type"] != now["inferred_type"]:
                continue
            if now["inferred_type"] in (INTEGRAL, FRACTIONAL) and "numerical_statistics" in base:
                histograms.append(histogram(name, base, now, by_feature.get(name, [])))
            elif now["inferred_type"] == STRING:
                categorical.append(shares(name, base, now, by_feature.get(name, [])))
    return {
        "found": found,
        "histograms": histograms,
        "categorical": categorical,
        "quality": quality_chart(found),
        "violations": [(kind, v) for kind, r in found.results.items() for v in r.violations],
    }


def render(project: str, endpoint: str, started: str, variants: list[VariantMonitoring]) -> str:
    template = template_environment().get_template("monitoring.html.j2")
    return template.render(
        project=project,
        endpoint=endpoint,
        started=started,
        variants=[variant_view(found) for found in variants],
        hist_w=HIST_W,
        hist_h=HIST_H,
    )


def write(path: Path, project: str, endpoint: str, started: str, variants: list[VariantMonitoring]) -> Path:
    write_text_atomic(path, render(project, endpoint, started, variants))
    return path
