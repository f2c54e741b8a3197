"""`sagespec local runs` and `sagespec local compare`: a project's runs, and what changed between two.

Both read the records runs leave (``run.json``, and ``report.json`` from :mod:`sagespec.local.report`);
neither runs anything.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import SagespecError
from ..spec.project_file import project_spec_path
from . import report
from .runs import read_run_record, runs_root

# A run folder's name: the time it started (runs.new_run_dir), "-2", "-3"... when that was taken. The
# other folders under .sagespec-runs (registry/, labeling/) are no runs.
RUN_ID = re.compile(r"\d{8}-\d{6}(-\d+)?")


@dataclass(frozen=True)
class RunLine:
    run_id: str
    started: str
    status: str
    metric: str  # "<name> <value>" of the condition's metric, or "-"
    registered: str  # "<group> v<version>", or "-"


def _project(project_dir: Path) -> Path:
    project_spec_path(project_dir)
    return project_dir


def run_dirs(project_dir: Path) -> list[Path]:
    """The project's run folders, oldest first (their names are their start times)."""
    root = runs_root(_project(project_dir))
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and RUN_ID.fullmatch(p.name))


def list_runs(project_dir: Path) -> list[RunLine]:
    lines = []
    for run_dir in run_dirs(project_dir):
        record = read_run_record(run_dir)
        found = report.load(run_dir)
        condition = record.get("condition") or {}
        metric = f"{condition['metric']} {condition['value']:.4f}" if "value" in condition else "-"
        package = found.package if found else None
        registered = f"{package.group} v{package.version}" if package else "-"
        status = record.get("status") or "unfinished"
        lines.append(RunLine(run_dir.name, record.get("started", "-"), status, metric, registered))
    return lines


def format_runs(lines: list[RunLine]) -> str:
    if not lines:
        return "no runs yet (sagespec local run DIR makes one)"
    header = RunLine("run", "started", "status", "metric", "registered")
    rows = [header, *lines]
    widths = [
        max(len(getattr(row, name)) for row in rows) for name in ("run_id", "started", "status", "metric")
    ]
    return "\n".join(
        "  ".join(
            [
                *(
                    getattr(row, n).ljust(w)
                    for n, w in zip(("run_id", "started", "status", "metric"), widths, strict=True)
                ),
                row.registered,
            ]
        ).rstrip()
        for row in rows
    )


def _load(project_dir: Path, run_id: str) -> report.RunReport:
    root = runs_root(_project(project_dir))
    run_dir = root / run_id
    if not RUN_ID.fullmatch(run_id) or not run_dir.is_dir():
        raise SagespecError(
            f"{run_id}: no such run in {root} (`sagespec local runs {project_dir}` lists them)"
        )
    found = report.load(run_dir)
    if found is None:
        raise SagespecError(
            f"{run_dir}: no {report.REPORT_JSON} (the run did not finish, or predates reports)"
        )
    return found


def _changes(section: str, a: dict[str, str], b: dict[str, str]) -> list[str]:
    changed = [
        f"  {name}: {a.get(name, '(none)')} -> {b.get(name, '(none)')}"
        for name in sorted(a.keys() | b.keys())
        if a.get(name) != b.get(name)
    ]
    return [f"{section}:", *changed] if changed else [f"{section}: same"]


def _outcome(found: report.RunReport) -> dict[str, str]:
    package = found.package
    return {"status": found.status, "registered": f"{package.group} v{package.version}" if package else "-"}


def compare(project_dir: Path, run_a: str, run_b: str) -> str:
    """What changed from ``run_a`` to ``run_b``: status, parameters, data and spec, metrics, step code."""
    a, b = _load(project_dir, run_a), _load(project_dir, run_b)
    lines = [f"compare {a.run_id} -> {b.run_id}"]
    lines += _changes("outcome", _outcome(a), _outcome(b))
    lines += _changes("parameters", a.parameters, b.parameters)
    lineage_a = {k: str(v) for k, v in asdict(a.lineage).items()}
    lineage_b = {k: str(v) for k, v in asdict(b.lineage).items()}
    lines += _changes("data and spec", lineage_a, lineage_b)
    lines += _changes(
        "metrics",
        {m.name: f"{m.value:.4f}" for m in a.metrics},
        {m.name: f"{m.value:.4f}" for m in b.metrics},
    )
    lines += _changes(
        "step code",
        {s.name: (s.code or "-")[:16] for s in a.steps},
        {s.name: (s.code or "-")[:16] for s in b.steps},
    )
    return "\n".join(lines)
