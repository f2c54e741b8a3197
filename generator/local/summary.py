"""The end-of-run summary: steps, bias metrics against thresholds, metrics, the condition, the package."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

MAX_BREACH_LINES = 12


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _evaluation_metrics(evaluation: dict[str, Any]) -> dict[str, float]:
    metrics = evaluation.get("metrics", {}) if isinstance(evaluation, dict) else {}
    found = {}
    for name, entry in metrics.items():
        value = entry.get("value") if isinstance(entry, dict) else entry
        if isinstance(value, int | float) and not isinstance(value, bool):
            found[name] = float(value)
    return found


def _bias_lines(result: Any) -> list[str]:
    from .bias import breach_lines, format_value

    bias = result.bias
    lines = [
        f"bias ({bias.rows} rows, positive label {', '.join(map(str, result.spec.bias.positive_labels))}):"
    ]
    by_metric: dict[tuple[str, str], list[Any]] = {}
    for v in bias.values:
        by_metric.setdefault((v.facet, v.metric), []).append(v)
    for (facet, metric), values in by_metric.items():
        computed = [v for v in values if v.result is not None]
        breaches = [v for v in values if v.breach]
        threshold = values[0].threshold
        if computed:
            worst = max(computed, key=lambda v: abs(v.result) if math.isfinite(v.result) else math.inf)
            worst_text = f"max |value| {format_value(worst.result)} ({worst.value})"
        else:
            worst_text = "not computed"
        verdict = f"{len(breaches)} breach{'es' if len(breaches) != 1 else ''}" if breaches else "ok"
        lines.append(
            f"  {facet:<14} {metric:<5} {worst_text:<34} threshold {threshold:<6g} "
            f"{verdict} ({len(computed)}/{len(values)} values)"
        )
    breaches = bias.breaches
    if breaches and result.spec.bias.fail_on_violation:
        lines.append(f"  {len(breaches)} breach(es) with fail_on_violation: the run stops (listed below)")
    elif breaches:
        lines.append("  breaches (fail_on_violation is false: warnings only):")
        shown = breach_lines(breaches)
        lines += [f"    {line}" for line in shown[:MAX_BREACH_LINES]]
        if len(shown) > MAX_BREACH_LINES:
            lines.append(
                f"    ... and {len(shown) - MAX_BREACH_LINES} more in {_rel(bias.report, result.project_dir)}"
            )
    for facet, count in bias.dropped_rows.items():
        if count:
            lines.append(f"  {count} row(s) without a '{facet}' value were left out of that facet")
    lines.append(f"  report: {_rel(bias.report, result.project_dir)}")
    return lines


def _tuning_lines(result: Any) -> list[str]:
    tuning = result.tuning
    best = tuning["best"]
    counts = ", ".join(f"{n} {status.lower()}" for status, n in tuning["statuses"].items() if n)
    values = " ".join(f"{k}={v}" for k, v in best["hyperparameters"].items())
    metric = tuning["objective"]["metric"]
    folder = next(s.folder for s in result.steps if s.kind == "tuning")
    files = [_rel(folder / tuning["files"][kind], result.project_dir) for kind in ("markdown", "csv")]
    return [
        f"tuning ({tuning['strategy']}, {tuning['sampler']}): {tuning['trials']} trials ({counts})",
        f"  best {best['trial']}: {metric}={best['objective']:.4f}  {values}",
        f"  results: {', '.join(files)}",
    ]


def format_summary(result: Any, report: Path | None = None) -> str:
    """The run's summary; its last line is the path of the run's report page, when it was written."""
    root = result.project_dir
    lines = [f"run {result.run_id}: {result.status.upper()}  ({_rel(result.run_dir, root)})"]
    ran = {s.name for s in result.steps}
    width = max([16, *map(len, result.plan.names)])  # BaselineModelQuality is longer than most
    for step in result.steps:
        extra = f" from run {step.cached_from.parent.name}" if step.cached_from is not None else ""
        lines.append(f"  {step.name:<{width}} {step.status:<8} {step.seconds:7.1f}s{extra}")
    for name in result.plan.names:
        if name not in ran:
            lines.append(f"  {name:<{width}} {'not run':<8}")
    lines.append(f"  {'total':<{width}} {'':<8} {sum(s.seconds for s in result.steps):7.1f}s")
    for step in result.steps:
        lines += [f"data: {line}" for line in step.details.get("dropped_rows", [])]
    if result.bias is not None:
        lines += _bias_lines(result)
    if result.tuning is not None:
        lines += _tuning_lines(result)
    elif result.training_metrics:
        lines.append("training: " + ", ".join(f"{k}={v:.4f}" for k, v in result.training_metrics.items()))
    for step in result.steps:
        lines += [f"debugger: {line}" for line in step.details.get("debugger", {}).get("summary", [])]
    if result.evaluation is not None:
        metrics = _evaluation_metrics(result.evaluation)
        lines.append(
            "evaluation (test): " + (", ".join(f"{k} {v:.4f}" for k, v in metrics.items()) or "no metrics")
        )
    if result.condition is not None:
        c = result.condition
        verdict = "passed" if c["passed"] else "failed"
        sign = ">=" if c["passed"] else "<"
        lines.append(
            f"condition: {c['metric']} {c['value']:.4f} {sign} {c['threshold']:g}: {verdict} -> {c['next']}"
        )
    if result.package is not None:
        p = result.package
        status = p.document.get("ModelApprovalStatus", "")
        again = " (unchanged model: existing version)" if p.reused else ""
        lines.append(f"registered: {p.group} version {p.version} [{status}]{again} at {_rel(p.path, root)}")
        mlflow_run = p.document.get("CustomerMetadataProperties", {}).get("mlflow_run_id")
        if mlflow_run:
            lines.append(f"mlflow: run {mlflow_run} (make mlflow to browse the runs)")
    if result.error:
        first = result.error.splitlines()[0]
        lines.append(f"stopped: {first}")
    if report is not None:
        lines.append(f"report: {report}")
    return "\n".join(lines)
