"""The geometry of the report's pictures: the DAG, the bias and metric bars, the training curves and the
confusion matrix's shading, as numbers and labels. The page's template draws them as inline SVG (so every
label goes through the template's escaping); nothing here writes markup.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .report import BiasRow, MetricRow, RunReport, StepRow

NODE_W, NODE_H, GAP_X, GAP_Y, MARGIN = 150, 58, 36, 18, 10
BAR_W, ROW_H, LABEL_W = 260, 18, 240  # bias and metric bars: bar area, row height, label column
CURVE_W, CURVE_H = 420, 150


@dataclass(frozen=True)
class Node:
    step: StepRow
    x: float
    y: float


@dataclass(frozen=True)
class Edge:
    x1: float
    y1: float
    x2: float
    y2: float
    label: str


@dataclass(frozen=True)
class Dag:
    nodes: list[Node]
    edges: list[Edge]
    width: float
    height: float


def dag(report: RunReport) -> Dag:
    """The plan's steps left to right in their order; the condition's two branches stacked in one column."""
    branch_of = {
        target: outcome for targets in report.branches.values() for outcome, target in targets.items()
    }
    nodes: list[Node] = []
    edges: list[Edge] = []
    column, previous, branch_row = -1, None, 0
    two_rows = bool(branch_of)
    top = (NODE_H + GAP_Y) / 2 if two_rows else 0.0
    for step in report.steps:
        if step.name in branch_of:
            if branch_row == 0:
                column += 1
            node = Node(step, MARGIN + column * (NODE_W + GAP_X), MARGIN + branch_row * (NODE_H + GAP_Y))
            branch_row += 1
            source = next((n for n in nodes if n.step.name in report.branches), previous)
            label = "true" if branch_of[step.name] == "if_true" else "false"
        else:
            column += 1
            node = Node(step, MARGIN + column * (NODE_W + GAP_X), MARGIN + top)
            source, label = previous, ""
        if source is not None:
            edges.append(
                Edge(
                    source.x + NODE_W,
                    source.y + NODE_H / 2,
                    node.x,
                    node.y + NODE_H / 2,
                    label,
                )
            )
        nodes.append(node)
        if step.name not in branch_of:
            previous = node
    rows = 2 if two_rows else 1
    return Dag(nodes, edges, 2 * MARGIN + (column + 1) * (NODE_W + GAP_X), 2 * MARGIN + rows * NODE_H + GAP_Y)


@dataclass(frozen=True)
class Bar:
    label: str
    x: float  # where the bar starts (the zero line, or left of it for a negative value)
    width: float
    text: str
    alert: bool  # a bias breach, or a metric under the condition's threshold


@dataclass(frozen=True)
class BarChart:
    title: str
    bars: list[Bar]
    marks: list[float]  # x of the threshold lines
    zero: float
    height: float


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.4f}" if math.isfinite(value) else str(value)


def bias_charts(rows: list[BiasRow]) -> list[BarChart]:
    """One chart per bias metric: each facet value's result from a centre line, |threshold| lines."""
    by_metric: dict[str, list[BiasRow]] = {}
    for row in rows:
        by_metric.setdefault(row.metric, []).append(row)
    charts = []
    for metric, entries in by_metric.items():
        threshold = entries[0].threshold
        finite = [abs(r.result) for r in entries if r.result is not None and math.isfinite(r.result)]
        scale = max([threshold, *finite]) * 1.1 or 1.0
        zero = LABEL_W + BAR_W / 2
        bars = []
        for row in entries:
            value = row.result if row.result is not None else 0.0
            value = max(-scale, min(scale, value)) if math.isfinite(value) else math.copysign(scale, value)
            length = value / scale * BAR_W / 2
            bars.append(
                Bar(
                    f"{row.facet} = {row.value}",
                    min(zero, zero + length),
                    abs(length),
                    _fmt(row.result),
                    row.breach,
                )
            )
        marks = [zero - threshold / scale * BAR_W / 2, zero + threshold / scale * BAR_W / 2]
        charts.append(
            BarChart(f"{metric} (threshold ±{threshold:g})", bars, marks, zero, len(bars) * ROW_H + 8)
        )
    return charts


def metric_chart(rows: list[MetricRow]) -> BarChart:
    """The evaluation metrics from zero, with the condition's threshold on the metric it reads."""
    scale = max([1.0, *(r.value for r in rows if math.isfinite(r.value))])
    bars = [
        Bar(r.name, LABEL_W, max(0.0, r.value) / scale * BAR_W, f"{r.value:.4f}", r.passed is False)
        for r in rows
    ]
    marks = [LABEL_W + r.threshold / scale * BAR_W for r in rows if r.threshold is not None]
    return BarChart("evaluation (test split)", bars, marks, LABEL_W, len(bars) * ROW_H + 8)


@dataclass(frozen=True)
class Curve:
    metric: str
    points: str  # SVG polyline points
    low: float
    high: float
    epochs: int


def curves(series: dict[str, list[float]]) -> list[Curve]:
    drawn = []
    for metric, values in series.items():
        finite = [v for v in values if math.isfinite(v)]
        if len(finite) < 2:
            continue
        low, high = min(finite), max(finite)
        span = (high - low) or 1.0
        step = CURVE_W / (len(values) - 1)
        points = " ".join(
            f"{i * step:.1f},{CURVE_H - (v - low) / span * CURVE_H:.1f}"
            for i, v in enumerate(values)
            if math.isfinite(v)
        )
        drawn.append(Curve(metric, points, low, high, len(values)))
    return drawn


def shading(matrix: list[list[int]]) -> list[list[tuple[int, float]]]:
    """Each confusion-matrix count with its cell's opacity (the largest count: 1)."""
    largest = max((max(row) for row in matrix if row), default=0) or 1
    return [[(count, round(count / largest, 3)) for count in row] for row in matrix]
