"""One monitoring run over one variant's captured traffic, as Model Monitor's scheduled jobs run it.

    data quality   each captured text -> the project's monitored features -> statistics.json, checked
                   against the baseline's constraints.json and statistics.json -> constraint_violations.json
    model quality  each captured record holding one text whose ground truth was given -> multiclass
                   metrics (statistics.json), checked against the model-quality constraints

The features come from the project's own ``monitoring_features.py`` (``captured_predictions`` and
``features``), the same code evaluate.py wrote the baseline with and Model Monitor runs as its record
preprocessor. Results go to ``<out>/<variant>/data-quality/`` and ``<out>/<variant>/model-quality/``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from ...errors import DataError
from . import constraints as data_constraints
from . import model_quality
from .baseline import STATISTICS_FILE, write_json
from .captures import CapturedRecord
from .statistics import column_names, dataset_statistics, present_values

VIOLATIONS_FILE = "constraint_violations.json"
DATA_QUALITY, MODEL_QUALITY = "data-quality", "model-quality"


@dataclass
class MonitorResult:
    """What one monitor found: the current statistics, the baseline's, and the violations."""

    kind: str
    folder: Path
    statistics: dict[str, Any]
    baseline: dict[str, Any]
    constraints: dict[str, Any]
    violations: list[dict[str, Any]]


@dataclass
class VariantMonitoring:
    variant: str
    version: int
    records: int = 0  # captured records read
    texts: int = 0  # texts they held
    labeled: int = 0  # records joined to a ground-truth label
    results: dict[str, MonitorResult] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # why a monitor did not run


def read_json(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: cannot read the baseline: {exc}") from None
    if not isinstance(document, dict):
        raise DataError(f"{path}: a baseline file holds a JSON object")
    return document


def predictions_of(features: ModuleType, record: CapturedRecord) -> list[tuple[str, str, float | None]]:
    """The (text, class, confidence) of each text of a record, by the project's features module."""
    try:
        return features.captured_predictions(
            record.input_data, record.input_encoding, record.output_data, record.output_encoding
        )
    except (ValueError, SyntaxError, KeyError, TypeError, AttributeError) as exc:
        raise DataError(f"{record.where}: the captured request or answer cannot be read: {exc}") from None


def monitor_variant(
    variant: str,
    version: int,
    records: list[CapturedRecord],
    features: ModuleType,
    baselines: dict[str, dict[str, Path]],
    ground_truth: dict[str, str],
    out_dir: Path,
) -> VariantMonitoring:
    """Run the monitors whose baselines the served version has over ``records``; write their files."""
    found = VariantMonitoring(variant, version, records=len(records))
    rows: list[dict[str, Any]] = []
    pairs: list[tuple[str, str]] = []  # (true class, predicted class)
    for record in records:
        predictions = predictions_of(features, record)
        found.texts += len(predictions)
        rows += [features.features(text, label, confidence) for text, label, confidence in predictions]
        truth = ground_truth.get(record.join_id)
        if truth is not None and len(predictions) == 1:
            pairs.append((truth, predictions[0][1]))
    found.labeled = len(pairs)
    folder = out_dir / variant
    if "ModelDataQuality" in baselines:
        files = baselines["ModelDataQuality"]
        if rows:
            found.results[DATA_QUALITY] = _data_quality(
                rows, list(features.FEATURES), files, folder / DATA_QUALITY
            )
        else:
            found.notes.append("data quality: the captured records hold no texts")
    if "ModelQuality" in baselines:
        files = baselines["ModelQuality"]
        if pairs:
            found.results[MODEL_QUALITY] = _model_quality(pairs, files, folder / MODEL_QUALITY)
        else:
            found.notes.append(
                "model quality: no captured prediction has a ground-truth label yet (`make label` gives them)"
            )
    return found


def _data_quality(
    rows: list[dict[str, Any]], columns: list[str], files: dict[str, Path], folder: Path
) -> MonitorResult:
    baseline, constraints = read_json(files["Statistics"]), read_json(files["Constraints"])
    names = column_names(rows, columns)
    statistics = dataset_statistics(rows, names)
    values = present_values(rows, names)
    violations = data_constraints.check(statistics, constraints, baseline, values)
    write_json(folder / STATISTICS_FILE, statistics)
    write_json(folder / VIOLATIONS_FILE, violations)
    return MonitorResult(DATA_QUALITY, folder, statistics, baseline, constraints, violations["violations"])


def _model_quality(pairs: list[tuple[str, str]], files: dict[str, Path], folder: Path) -> MonitorResult:
    baseline, constraints = read_json(files["Statistics"]), read_json(files["Constraints"])
    statistics = model_quality.statistics([t for t, _ in pairs], [p for _, p in pairs])
    violations = model_quality.check(statistics, constraints)
    write_json(folder / STATISTICS_FILE, statistics)
    write_json(folder / VIOLATIONS_FILE, violations)
    return MonitorResult(MODEL_QUALITY, folder, statistics, baseline, constraints, violations["violations"])
