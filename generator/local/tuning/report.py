"""A search's results: results.csv and results.md (the columns of SageMaker's tuning analytics),
best.json, and two plots."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from .settings import SearchSettings
from .trials import TrialResult


def _columns(settings: SearchSettings) -> list[str]:
    return [
        *settings.tuning.ranges,
        "TrainingJobName",
        "TrainingJobStatus",
        "FinalObjectiveValue",
        "TrainingStartTime",
        "TrainingEndTime",
        "TrainingElapsedTimeSeconds",
        "FailureReason",
    ]


def _row(trial: TrialResult) -> dict[str, Any]:
    return {
        **trial.hyperparameters,
        "TrainingJobName": trial.name,
        "TrainingJobStatus": trial.status,
        "FinalObjectiveValue": "" if trial.objective is None else trial.objective,
        "TrainingStartTime": trial.started.isoformat(timespec="seconds"),
        "TrainingEndTime": trial.ended.isoformat(timespec="seconds"),
        "TrainingElapsedTimeSeconds": round(trial.seconds, 2),
        "FailureReason": trial.message if trial.status == "Failed" else "",
    }


def write_results(
    settings: SearchSettings, trials: list[TrialResult], best: TrialResult | None, out: Path
) -> dict[str, Path]:
    """results.csv, results.md, best.json and the two plots; returns their paths by kind."""
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "csv": out / "results.csv",
        "markdown": out / "results.md",
        "best": out / "best.json",
        "objective_by_trial": out / "objective_by_trial.png",
        "objective_vs_hyperparameters": out / "objective_vs_hyperparameters.png",
    }
    columns = _columns(settings)
    with files["csv"].open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(_row(trial) for trial in trials)
    files["markdown"].write_text(_markdown(settings, trials, best, columns))
    files["best"].write_text(
        json.dumps(
            None
            if best is None
            else {
                "TrainingJobName": best.name,
                "FinalObjectiveValue": best.objective,
                "hyperparameters": best.hyperparameters,
                "model": str(best.artifact),
            },
            indent=2,
        )
        + "\n"
    )
    # Categorical choices are the spec's strings: a '$' in one must not switch matplotlib into math mode.
    with _pyplot().rc_context({"text.parse_math": False}):
        _plot_by_trial(settings, trials, best, files["objective_by_trial"])
        _plot_vs_hyperparameters(settings, trials, best, files["objective_vs_hyperparameters"])
    return files


def _markdown(
    settings: SearchSettings, trials: list[TrialResult], best: TrialResult | None, columns: list[str]
) -> str:
    tuning = settings.tuning
    sign = -1.0 if settings.maximize else 1.0
    ordered = sorted(
        trials,
        key=lambda t: (t.objective is None, t.status != "Completed", sign * (t.objective or 0.0), t.number),
    )
    lines = [
        f"# Tuning results: {settings.metric} ({tuning.objective.direction})",
        "",
        f"{tuning.strategy} search with Optuna's {settings.sampler_name()} "
        f"(pruner: {settings.pruner_name()}), {len(trials)} trials, {settings.parallel} at once, "
        f"seed {settings.seed}.",
        "",
    ]
    if best is not None:
        values = ", ".join(f"{k}={v}" for k, v in best.hyperparameters.items())
        lines += [f"Best: **{best.name}**, {settings.metric} = {best.objective:.4f} ({values}).", ""]
    else:
        lines += ["No trial completed.", ""]
    shown = [c for c in columns if c not in ("TrainingStartTime", "TrainingEndTime")]
    lines.append("| " + " | ".join(shown) + " |")
    lines.append("|" + "---|" * len(shown))
    for trial in ordered:
        row = _row(trial)
        if isinstance(row["FinalObjectiveValue"], float):
            row["FinalObjectiveValue"] = f"{row['FinalObjectiveValue']:.4f}"
        if trial is best:
            row["TrainingJobName"] = f"**{trial.name}** (best)"
        cells = [str(row[c]).replace("|", "\\|") for c in shown]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plot_by_trial(
    settings: SearchSettings, trials: list[TrialResult], best: TrialResult | None, path: Path
) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for status, marker, color in (("Completed", "o", "tab:blue"), ("Stopped", "s", "tab:orange")):
        points = [(t.number, t.objective) for t in trials if t.status == status and t.objective is not None]
        if points:
            ax.scatter(*zip(*points, strict=True), marker=marker, color=color, label=status, zorder=3)
    running_best: list[tuple[int, float]] = []
    current: float | None = None
    for trial in trials:
        if trial.status == "Completed" and trial.objective is not None:
            better = current is None or (
                trial.objective > current if settings.maximize else trial.objective < current
            )
            current = trial.objective if better else current
        if current is not None:
            running_best.append((trial.number, current))
    if running_best:
        ax.step(*zip(*running_best, strict=True), where="post", color="tab:green", label="best so far")
    failed = [t.number for t in trials if t.status == "Failed"]
    for number in failed:
        ax.axvline(number, color="tab:red", alpha=0.3, linestyle=":")
    if failed:
        ax.plot([], [], color="tab:red", alpha=0.3, linestyle=":", label="Failed")
    if best is not None:
        ax.annotate(best.name, (best.number, best.objective), textcoords="offset points", xytext=(5, 5))
    ax.set_xlabel("trial")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel(settings.metric)
    ax.set_title(f"{settings.tuning.strategy} search: {settings.metric} by trial")
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_vs_hyperparameters(
    settings: SearchSettings, trials: list[TrialResult], best: TrialResult | None, path: Path
) -> None:
    plt = _pyplot()
    dimensions = settings.dimensions
    fig, axes = plt.subplots(1, len(dimensions), figsize=(4 * len(dimensions), 3.6), squeeze=False)
    scored = [t for t in trials if t.objective is not None]
    for ax, dim in zip(axes[0], dimensions, strict=True):
        if dim.kind == "categorical":
            positions = {choice: i for i, choice in enumerate(dim.choices)}
            ax.set_xticks(range(len(dim.choices)), dim.choices)
            x_of = lambda t, d=dim, p=positions: p[t.hyperparameters[d.name]]  # noqa: E731
        else:
            if dim.log and not dim.reverse:
                ax.set_xscale("log")
            x_of = lambda t, d=dim: float(t.hyperparameters[d.name])  # noqa: E731
        for status, marker, color in (("Completed", "o", "tab:blue"), ("Stopped", "s", "tab:orange")):
            points = [(x_of(t), t.objective) for t in scored if t.status == status]
            if points:
                ax.scatter(*zip(*points, strict=True), marker=marker, color=color, label=status)
        if best is not None:
            ax.scatter([x_of(best)], [best.objective], s=160, facecolors="none", edgecolors="tab:green")
        ax.set_xlabel(f"{dim.name} ({dim.scale})")
        ax.set_ylabel(settings.metric)
        ax.grid(alpha=0.3)
    fig.suptitle(f"{settings.metric} against each tuned hyperparameter (circled: best)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
