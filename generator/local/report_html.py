"""The run report's page: :class:`~sagespec.local.report.RunReport` -> ``<run>/report.html``.

One self-contained file (inline CSS and SVG, no script, no network; a Content-Security-Policy says so),
rendered by Jinja2 with autoescaping on: spec strings, class names and step messages are data.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from . import report_charts as charts
from .artifacts import write_text_atomic
from .report import RunReport

REPORT_HTML = "report.html"
TEMPLATES = Path(__file__).resolve().parent / "templates"


def template_environment() -> Environment:
    """The reports' environment; the chart sizes of report_charts.py are globals of every template."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        label_w=charts.LABEL_W,
        bar_w=charts.BAR_W,
        row_h=charts.ROW_H,
        curve_w=charts.CURVE_W,
        curve_h=charts.CURVE_H,
    )
    return env


def render(report: RunReport) -> str:
    template = template_environment().get_template("report.html.j2")
    return template.render(
        r=report,
        dag=charts.dag(report),
        bias=charts.bias_charts(report.bias),
        metrics=charts.metric_chart(report.metrics),
        curves=charts.curves(report.curves),
        shading=charts.shading(report.confusion["matrix"]) if report.confusion else [],
        node_w=charts.NODE_W,
        node_h=charts.NODE_H,
    )


def write(report: RunReport, run_dir: Path) -> Path:
    """Write the page atomically (a reader never sees half of it) and return its path."""
    path = run_dir / REPORT_HTML
    write_text_atomic(path, render(report))
    return path
