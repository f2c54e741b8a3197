"""The records of a local run and where they live: the run-folder layout every local command shares.

::

    <project>/spec.yaml                      the spec the project was generated from
    <project>/.sagespec-runs/<run-id>/       one run: run.json, and one folder per step
        <StepName>/                          stands in for the step's /opt/ml (step.json: its record)
    <project>/.sagespec-runs/registry/       the local model registry (sagespec.local.registry)
    <project>/.sagespec-runs/data-capture/   what the local endpoint captured, laid out as SageMaker's data
                                             capture does: <endpoint>/<variant>/yyyy/mm/dd/hh/*.jsonl
    <project>/.sagespec-runs/ground-truth/   labels people gave to captured predictions, in Model Monitor's
                                             ground-truth format: yyyy/mm/dd/hh/*.jsonl
    <project>/.sagespec-runs/monitoring/     `sagespec local monitor`'s reports, one folder per monitoring run

``sagespec local run`` writes them (:mod:`sagespec.local.runner`); ``local serve`` and ``local label``
read them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ..errors import LocalRunError
from ..spec.project_file import SPEC_FILE
from . import cache

# Annotations only: `sagespec local ...` reads the run layout without loading the spec models.
if TYPE_CHECKING:
    from ..plan import Plan, Step
    from ..spec.models import Spec

RUNS_DIR = ".sagespec-runs"
REGISTRY_DIR = "registry"
RUN_FILE = "run.json"
CAPTURE_DIR = "data-capture"
GROUND_TRUTH_DIR = "ground-truth"
MONITORING_DIR = "monitoring"


def capture_root(project_dir: Path) -> Path:
    """Where the local endpoint writes captured traffic (SageMaker's DestinationS3Uri stands for it)."""
    return project_dir / RUNS_DIR / CAPTURE_DIR


def ground_truth_root(project_dir: Path) -> Path:
    """Where labels given to captured predictions go (Model Monitor's GroundTruthS3Input stands for it)."""
    return project_dir / RUNS_DIR / GROUND_TRUTH_DIR


def monitoring_root(project_dir: Path) -> Path:
    """Where ``sagespec local monitor`` writes its reports."""
    return project_dir / RUNS_DIR / MONITORING_DIR


@dataclass
class RunOptions:
    project_dir: Path = Path(".")
    data: Path | None = None
    max_rows: int | None = None
    use_cache: bool = True
    model: Path | None = None
    threshold: float | None = None
    quiet: bool = False  # hide the steps' own output (it is still logged in each step folder)
    tune_trials: int | None = None  # tuning: number of trials (default: the spec's tuning.max_jobs)
    tune_parallel: int | None = None  # tuning: trials at once (default: tuning.max_parallel_jobs)
    stop_after: str | None = None  # a step name: end the run once that step has finished
    processing_instances: int = 1  # worker processes of a processing step with a sharded input
    steps: tuple[str, ...] | None = None  # --steps: run only these; earlier steps come from earlier runs
    out: TextIO | None = None  # default: sys.stdout at call time


@dataclass
class StepResult:
    name: str
    kind: str
    status: str = "pending"  # done | cached | reused (--steps) | failed | skipped
    seconds: float = 0.0
    folder: Path | None = None
    outputs: dict[str, Path] = field(default_factory=dict)
    cached_from: Path | None = None
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunResult:
    run_id: str
    run_dir: Path
    project_dir: Path
    spec: Spec
    plan: Plan
    steps: list[StepResult] = field(default_factory=list)
    status: str = "running"  # succeeded | failed
    error: str | None = None
    bias: Any = None  # bias.BiasResult
    training_metrics: dict[str, float] = field(default_factory=dict)
    evaluation: dict[str, Any] | None = None
    condition: dict[str, Any] | None = None
    package: Any = None  # registry.RegisteredPackage
    tuning: dict[str, Any] | None = None  # the TuneModel step's search: best trial, counts, results

    def step(self, name: str) -> StepResult:
        for result in self.steps:
            if result.name == name:
                return result
        raise KeyError(name)


def runs_root(project_dir: Path) -> Path:
    """Where a project's local runs (and its local registry) live."""
    return project_dir / RUNS_DIR


def registry_root(project_dir: Path) -> Path:
    """The project's local model registry: ``registry/<group>/<version>/``."""
    return runs_root(project_dir) / REGISTRY_DIR


def new_run_dir(root: Path, now: datetime | None = None) -> tuple[str, Path]:
    """A new, empty run folder named after the time, ``now`` or the local clock's (``-2``, ``-3``... when
    that name is taken)."""
    root.mkdir(parents=True, exist_ok=True)
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    for n in range(1, 1000):
        run_id = stamp if n == 1 else f"{stamp}-{n}"
        path = root / run_id
        try:
            path.mkdir()
            return run_id, path
        except FileExistsError:
            continue
    raise LocalRunError(f"could not create a run folder under {root}")


def write_run_record(result: RunResult, started: str, options: dict[str, Any]) -> None:
    """``<run>/run.json``: what ran, with which options, and how it ended."""
    document = {
        "run_id": result.run_id,
        "project": str(result.project_dir),
        "spec": str(result.project_dir / SPEC_FILE),
        "model_type": result.spec.model.type,
        "status": result.status,
        "error": result.error,
        "started": started,
        "finished": datetime.now().isoformat(timespec="seconds"),
        "options": options,
        "steps": [
            {"name": s.name, "kind": s.kind, "status": s.status, "seconds": round(s.seconds, 3)}
            for s in result.steps
        ],
        "condition": result.condition,
        "package": str(result.package.path) if result.package is not None else None,
    }
    (result.run_dir / RUN_FILE).write_text(json.dumps(document, indent=2, default=str) + "\n")


def write_step_record(step: Step, record: StepResult, key: str | None, **extra: Any) -> None:
    """``<run>/<StepName>/step.json``: the plan's step, what became of it, and its cache key."""
    assert record.folder is not None
    document = {
        "name": step.name,
        "kind": step.kind,
        "status": record.status,
        "key": key if record.status in cache.REUSABLE else None,
        "seconds": round(record.seconds, 3),
        "script": step.script,
        "plan_arguments": list(step.arguments),
        "plan_hyperparameters": dict(step.hyperparameters),
        "outputs": {n: str(p) for n, p in record.outputs.items()},
        "cached_from": str(record.cached_from) if record.cached_from else None,
        "message": record.message,
        "details": record.details,
        **extra,
    }
    cache.write_record(record.folder, document)


def read_run_record(run_dir: Path) -> dict[str, Any]:
    """A run's run.json, or {} when it is missing or unreadable (a run still going, or killed)."""
    try:
        return json.loads((run_dir / RUN_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
