"""The plan's quality-check steps on this machine: a baseline CSV that EvaluateModel wrote -> the
statistics and suggested constraints Model Monitor's baselining job would write for it.

    data-quality   data-quality-baseline.csv (the monitored features of the test split) -> data-quality
                   statistics (statistics.json) and constraints (constraints.json)
    model-quality  model-quality-baseline.csv (label,prediction,probability) -> multiclass metrics and
                   their constraints
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from ...errors import LocalRunError
from . import constraints as data_constraints
from . import model_quality
from .statistics import dataset_statistics

STATISTICS_FILE = "statistics.json"
CONSTRAINTS_FILE = "constraints.json"
MODEL_QUALITY_COLUMNS = ("label", "prediction", "probability")


def read_table(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """A CSV file with a header row: its columns and rows (an empty cell is a missing value)."""
    if not path.is_file():
        raise LocalRunError(f"the baseline {path} is missing")
    with path.open(newline="", encoding="utf-8") as lines:
        reader = csv.DictReader(lines)
        rows = list(reader)
        columns = list(reader.fieldnames or [])
    if not columns:
        raise LocalRunError(f"{path} has no header row")
    if not rows:
        raise LocalRunError(f"{path} has no rows to suggest a baseline from")
    return columns, rows


def suggest_baseline(check: str, source: Path, output_dir: Path) -> dict[str, Any]:
    """Write statistics.json and constraints.json for ``check`` ("data-quality" or "model-quality") into
    ``output_dir``; returns what the step record keeps (item count, and the constrained values)."""
    columns, rows = read_table(source)
    if check == "data-quality":
        statistics = dataset_statistics(rows, columns)
        constraints = data_constraints.suggest(statistics)
        details: dict[str, Any] = {"rows": len(rows), "features": columns}
    elif check == "model-quality":
        missing = [name for name in MODEL_QUALITY_COLUMNS[:2] if name not in columns]
        if missing:
            raise LocalRunError(f"{source} lacks the column(s) {', '.join(missing)}")
        statistics = model_quality.statistics([r["label"] for r in rows], [r["prediction"] for r in rows])
        constraints = model_quality.suggest(statistics)
        section = statistics[model_quality.SECTION]
        details = {"rows": len(rows), "accuracy": section["accuracy"]["value"]}
    else:
        raise LocalRunError(f"unknown quality check {check!r}")
    write_json(output_dir / STATISTICS_FILE, statistics)
    write_json(output_dir / CONSTRAINTS_FILE, constraints)
    return details


def write_json(path: Path, document: dict[str, Any]) -> None:
    """One Model Monitor JSON file (statistics, constraints, violations), its folder made if missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
