"""What a run's report shows, gathered once at the end of a run: :class:`RunReport`.

:func:`collect` reads the finished run (its result in memory, its step records and output files on
disk); :func:`save` writes it as ``<run>/report.json`` beside the page (:mod:`sagespec.local.report_html`)
so that ``sagespec local runs`` and ``compare`` read earlier runs without running anything again.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from ..plan import EVALUATE_STEP, Step
from . import cache
from .artifacts import file_digest, script_digest, tree_digest
from .contract import TrainingLayout
from .runs import SPEC_FILE, RunResult
from .training import metric_values

REPORT_JSON = "report.json"
HISTORY_FILE = "history.json"  # what the BERT training scripts write to SM_OUTPUT_DATA_DIR


@dataclass(frozen=True)
class StepRow:
    name: str
    kind: str
    status: str  # done | cached | failed | skipped | not run
    seconds: float
    cached_from: str | None  # the run a cached step was reused from
    message: str
    cache_key: str | None  # the step's cache key (None: not reusable, or not run)
    code: str | None  # sha256 of what the step runs (its script and the modules it imports, or stand-in)


@dataclass(frozen=True)
class BiasRow:
    facet: str
    value: str
    metric: str
    result: float | None
    threshold: float
    breach: bool


@dataclass(frozen=True)
class MetricRow:
    name: str
    value: float
    threshold: float | None  # the condition's, for the metric the condition reads
    passed: bool | None


@dataclass(frozen=True)
class Package:
    group: str
    version: int
    approval: str
    path: str
    reused: bool


@dataclass(frozen=True)
class Lineage:
    dataset: str
    dataset_sha256: str
    spec_sha256: str
    spec_version: int
    sagespec_version: str


@dataclass(frozen=True)
class RunReport:
    run_id: str
    started: str  # ISO time, seconds
    project: str
    description: str
    model_type: str
    status: str
    error: str | None
    steps: list[StepRow]
    branches: dict[str, str]  # condition step -> {"if_true": step, "if_false": step} names
    lineage: Lineage
    parameters: dict[str, str] = field(default_factory=dict)  # run options and hyperparameters
    bias: list[BiasRow] = field(default_factory=list)
    metrics: list[MetricRow] = field(default_factory=list)
    confusion: dict[str, Any] | None = None  # {"labels": [...], "matrix": [[...]]}: rows true
    curves: dict[str, list[float]] = field(default_factory=dict)  # metric -> a value per epoch
    package: Package | None = None


def _sha256_of(digest: dict[str, str]) -> str:
    return cache.step_key(digest)


def _code_hash(result: RunResult, step: Step) -> str | None:
    """What the step runs: its script (with the modules it imports) or the local stand-in for it."""
    package_dir = result.project_dir / "pipelines" / result.spec.project.package
    if step.script and (package_dir / step.script).is_file():
        return _sha256_of(script_digest(package_dir / step.script))
    if step.kind in ("training", "tuning"):
        from . import blazingtext

        return file_digest(Path(blazingtext.__file__))
    if step.kind == "bias-check":
        from . import bias

        return file_digest(Path(bias.__file__))
    return None


def _steps(result: RunResult) -> list[StepRow]:
    ran = {s.name: s for s in result.steps}
    rows = []
    for step in result.plan.steps:
        record = ran.get(step.name)
        if record is None:
            rows.append(StepRow(step.name, step.kind, "not run", 0.0, None, "", None, None))
            continue
        stored = cache.read_record(record.folder) if record.folder else None
        rows.append(
            StepRow(
                step.name,
                step.kind,
                record.status,
                round(record.seconds, 3),
                record.cached_from.parent.name if record.cached_from else None,
                record.message,
                (stored or {}).get("key"),
                _code_hash(result, step),
            )
        )
    return rows


def _parameters(result: RunResult, options: dict[str, Any]) -> dict[str, str]:
    found = {f"option.{k}": str(v) for k, v in options.items() if v is not None and k != "data"}
    for step in result.plan.steps:
        if step.kind in ("training", "tuning"):
            found |= {f"hyperparameter.{k}": v for k, v in step.hyperparameters.items()}
    if result.tuning:
        best = result.tuning.get("best", {}).get("hyperparameters", {})
        found |= {f"hyperparameter.{k}": str(v) for k, v in best.items()}
    return dict(sorted(found.items()))


def _metrics(result: RunResult) -> list[MetricRow]:
    entries = (result.evaluation or {}).get("metrics", {})
    condition = result.plan.condition
    threshold = result.condition["threshold"] if result.condition else condition.threshold
    rows = []
    for name, entry in entries.items():
        value = entry.get("value") if isinstance(entry, dict) else entry
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue
        mine = name == condition.metric
        rows.append(
            MetricRow(name, float(value), threshold if mine else None, value >= threshold if mine else None)
        )
    return rows


def _confusion(result: RunResult) -> dict[str, Any] | None:
    matrix = (result.evaluation or {}).get("confusion_matrix")
    if isinstance(matrix, dict) and isinstance(matrix.get("labels"), list):
        return {"labels": [str(x) for x in matrix["labels"]], "matrix": matrix.get("matrix", [])}
    return None


def _training_folder(result: RunResult) -> Path | None:
    """The training job's folder: the training step's, or the tuning step's best trial's."""
    for step in result.steps:
        if step.kind == "training" and step.folder:
            return step.folder
        if step.kind == "tuning" and step.folder and result.tuning:
            best = step.folder / "trials" / str(result.tuning.get("best", {}).get("trial", ""))
            return best if best.is_dir() and best != step.folder / "trials" else None
    return None


def _curves(result: RunResult, metric_names: list[str]) -> dict[str, list[float]]:
    """Per-epoch values: history.json where the training script writes one (BERT), else every value of
    each metric the training log printed (the BlazingText stand-in prints one per candidate epoch)."""
    folder = _training_folder(result)
    if folder is None:
        return {}
    history = TrainingLayout(folder).output_data_dir / HISTORY_FILE
    try:
        document = json.loads(history.read_text())
        return {
            str(k): [float(x) for x in v] for k, v in document.items() if isinstance(v, list) and len(v) > 1
        }
    except (OSError, ValueError, TypeError, AttributeError):
        pass
    try:
        log = (folder / "logs" / "output.log").read_text(errors="replace")
    except OSError:
        return {}
    found = {name: metric_values(log, name) for name in metric_names}
    return {name: values for name, values in found.items() if len(values) > 1}


def _package(result: RunResult) -> Package | None:
    p = result.package
    if p is None:
        return None
    return Package(p.group, p.version, str(p.document.get("ModelApprovalStatus", "")), str(p.path), p.reused)


def _sagespec_version() -> str:
    # The installed distribution's version (the package root, which holds __version__ too, is above
    # local/ in the architecture's arrows).
    try:
        return metadata.version("sagespec")
    except metadata.PackageNotFoundError:
        return "unknown"


def _lineage(result: RunResult, dataset: Path) -> Lineage:
    spec_file = result.project_dir / SPEC_FILE
    data_hash = _sha256_of(tree_digest(dataset)) if dataset.exists() else ""
    spec_hash = file_digest(spec_file) if spec_file.is_file() else ""
    return Lineage(str(dataset), data_hash, spec_hash, result.spec.spec_version, _sagespec_version())


def collect(
    result: RunResult, started: str, dataset: Path, options: dict[str, Any], metric_names: list[str]
) -> RunReport:
    """The report of a finished (or stopped) run."""
    from .bias import BiasResult

    bias: BiasResult | None = result.bias
    condition = result.plan.condition
    return RunReport(
        run_id=result.run_id,
        started=started,
        project=result.spec.project.slug,
        description=result.spec.project.description or "",
        model_type=result.spec.model.type,
        status=result.status,
        error=result.error,
        steps=_steps(result),
        branches={_condition_step(result): {"if_true": condition.if_true, "if_false": condition.if_false}},
        lineage=_lineage(result, dataset),
        parameters=_parameters(result, options),
        bias=[
            BiasRow(v.facet, v.value, v.metric, v.result, v.threshold, v.breach)
            for v in (bias.values if bias else ())
        ],
        metrics=_metrics(result),
        confusion=_confusion(result),
        curves=_curves(result, metric_names),
        package=_package(result),
    )


def _condition_step(result: RunResult) -> str:
    return next((s.name for s in result.plan.steps if s.kind == "condition"), EVALUATE_STEP)


def save(report: RunReport, run_dir: Path) -> Path:
    path = run_dir / REPORT_JSON
    path.write_text(json.dumps(asdict(report), indent=2, default=str) + "\n")
    return path


def load(run_dir: Path) -> RunReport | None:
    """A run's report.json, or None when the run has none (still going, killed, or older than reports)."""
    try:
        data = json.loads((run_dir / REPORT_JSON).read_text())
        package = data.pop("package", None)
        return RunReport(
            **data
            | {
                "steps": [StepRow(**s) for s in data["steps"]],
                "lineage": Lineage(**data["lineage"]),
                "bias": [BiasRow(**b) for b in data.get("bias", [])],
                "metrics": [MetricRow(**m) for m in data.get("metrics", [])],
                "package": Package(**package) if package else None,
            }
        )
    except (OSError, ValueError, TypeError, KeyError):
        return None
