"""The profiler report of one watched job: ``rule-verdicts.json`` and ``profiler-report.html`` (one
self-contained page: utilisation timeline, step-time distribution, loss curves, a verdict per rule).

The pictures use the run report's chart geometry (:mod:`sagespec.local.report_charts`) and the page is
rendered by the same autoescaping Jinja2 environment as the run report.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

from .. import report_charts as charts
from ..artifacts import write_text_atomic
from ..report_html import template_environment
from .sampler import Sample
from .stream import StepPoint, step_seconds
from .watch import JobWatch

REPORT_HTML = "profiler-report.html"
VERDICTS_JSON = "rule-verdicts.json"
SAMPLES_JSON = "system-metrics.json"
HISTOGRAM_BINS = 10


def utilisation_series(samples: list[Sample]) -> dict[str, list[float]]:
    """The timeline's lines: mean and busiest CPU core, memory, and each GPU, in percent."""
    if not samples:
        return {}
    series = {
        "CPU, mean of cores (%)": [statistics.fmean(s.cpu) if s.cpu else 0.0 for s in samples],
        "CPU, busiest core (%)": [max(s.cpu, default=0.0) for s in samples],
        "memory (%)": [s.memory for s in samples],
    }
    for i in range(max(len(s.gpu) for s in samples)):
        series[f"GPU {i} (%)"] = [s.gpu[i] if i < len(s.gpu) else math.nan for s in samples]
    return series


def per_core(samples: list[Sample]) -> list[dict[str, float]]:
    """Each core's mean and highest utilisation over the job."""
    cores = max((len(s.cpu) for s in samples), default=0)
    rows = []
    for i in range(cores):
        values = [s.cpu[i] for s in samples if i < len(s.cpu)]
        rows.append({"core": i, "mean": statistics.fmean(values), "max": max(values)})
    return rows


def step_time_histogram(seconds: list[float]) -> charts.BarChart | None:
    """How step (epoch) times spread, as bars of a histogram."""
    if not seconds:
        return None
    low, high = min(seconds), max(seconds)
    width = (high - low) / HISTOGRAM_BINS or 1.0
    counts = [0] * HISTOGRAM_BINS
    for value in seconds:
        counts[min(int((value - low) / width), HISTOGRAM_BINS - 1)] += 1
    largest = max(counts)
    bars = [
        charts.Bar(
            f"{low + i * width:.2f}-{low + (i + 1) * width:.2f} s",
            charts.LABEL_W,
            count / largest * charts.BAR_W,
            f"{count} step{'s' if count != 1 else ''}",
            False,
        )
        for i, count in enumerate(counts)
        if count or len(seconds) > 1
    ]
    return charts.BarChart("step time", bars, [], charts.LABEL_W, len(bars) * charts.ROW_H + 8)


def loss_series(points: list[StepPoint]) -> dict[str, list[float]]:
    return {
        "training loss": [p.train_loss for p in points],
        "validation loss": [p.validation_loss for p in points],
    }


def verdicts_json(watch: JobWatch, job: str) -> dict[str, Any]:
    return {
        "job": job,
        "seconds": round(watch.seconds, 3),
        "steps": len(watch.points),
        "stopped_by": watch.stopped_by.rule if watch.stopped_by else None,
        "rules": [v.as_json() for v in watch.rules.verdicts.values()],
    }


def render(watch: JobWatch, job: str) -> str:
    samples = watch.sampler.samples if watch.sampler is not None else []
    times = step_seconds(watch.points)
    template = template_environment().get_template("profiler-report.html.j2")
    return template.render(
        job=job,
        seconds=watch.seconds,
        interval_ms=watch.settings.interval_ms,
        profiler=watch.settings.profiler,
        samples=len(samples),
        verdicts=list(watch.rules.verdicts.values()),
        stopped_by=watch.stopped_by,
        steps=watch.points,
        median_step=statistics.median(times) if times else 0.0,
        utilisation=charts.curves(utilisation_series(samples)),
        cores=per_core(samples),
        histogram=step_time_histogram(times),
        losses=charts.curves(loss_series(watch.points)),
    )


def write(watch: JobWatch, job: str, folder: Path) -> Path:
    """Write the report's files into ``folder``; return the page's path."""
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(folder / VERDICTS_JSON, json.dumps(verdicts_json(watch, job), indent=2) + "\n")
    if watch.sampler is not None:
        samples = {
            "interval_ms": watch.settings.interval_ms,
            "samples": [s.as_json() for s in watch.sampler.samples],
        }
        write_text_atomic(folder / SAMPLES_JSON, json.dumps(samples))
    page = folder / REPORT_HTML
    write_text_atomic(page, render(watch, job))
    return page
