"""`sagespec local monitor`: Model Monitor's data-quality and model-quality jobs over what the local
endpoint captured.

For every variant with captured traffic (``.sagespec-runs/data-capture/<endpoint>/<variant>/``), the
registered version the variant serves (its selection rule over the local registry, as `local serve`
applies it) supplies the baselines its run recorded as DriftCheckBaselines; the project's
``pipelines/<pkg>/monitoring_features.py`` turns the captured requests into the monitored features; and
:mod:`sagespec.local.monitoring` writes, as Model Monitor does, per variant and monitor::

    .sagespec-runs/monitoring/<UTC time>/<variant>/data-quality/{statistics,constraint_violations}.json
    .sagespec-runs/monitoring/<UTC time>/<variant>/model-quality/{statistics,constraint_violations}.json
    .sagespec-runs/monitoring/<UTC time>/report.html

Model quality joins the ground truth `sagespec local label` wrote (``.sagespec-runs/ground-truth/``).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import TextIO

from ..deployment import ModelSelection, build_deployment
from ..errors import SagespecError
from ..local.monitoring.captures import jsonl_files, read_captures, read_ground_truth
from ..local.monitoring.monitor import DATA_QUALITY, MODEL_QUALITY, VariantMonitoring, monitor_variant
from ..local.registry import RegisteredPackage, drift_check_baselines
from ..local.runs import (
    SPEC_FILE,
    capture_root,
    ground_truth_root,
    monitoring_root,
    new_run_dir,
    registry_root,
)
from ..project_modules import import_file
from .endpoint import select_version

FEATURES_MODULE = "monitoring_features.py"


class MonitorError(SagespecError):
    """Nothing to monitor yet, or nothing to compare it with (exit status 2)."""


@dataclass(frozen=True)
class MonitoringRun:
    folder: Path
    report: Path
    variants: list[VariantMonitoring]

    @property
    def violations(self) -> int:
        return sum(len(r.violations) for v in self.variants for r in v.results.values())


def _features_module(project_dir: Path, package: str) -> ModuleType:
    path = project_dir / "pipelines" / package / FEATURES_MODULE
    if not path.is_file():
        raise MonitorError(f"{path} is missing: regenerate the project with a monitoring section in its spec")
    return import_file(path, f"_sagespec_monitor_{package}_features")


def run_monitors(project_dir: Path, out: TextIO | None = None) -> MonitoringRun:
    """Run the spec's monitors over every variant's captured traffic; print a summary; return what ran."""
    from ..spec.project_file import load_project_spec

    out = out or sys.stdout
    project_dir = project_dir.resolve()
    spec = load_project_spec(project_dir).spec
    if not spec.monitoring.enabled:
        raise MonitorError(
            f"{project_dir / SPEC_FILE} has no monitoring section: add monitoring.data_quality and/or "
            "monitoring.model_quality, regenerate and run the pipeline (`make local`)"
        )
    deployment = build_deployment(spec)
    captures = capture_root(project_dir) / deployment.endpoint_name
    variant_dirs = sorted(d for d in captures.iterdir() if d.is_dir()) if captures.is_dir() else []
    files = {d: found for d in variant_dirs if (found := jsonl_files(d))}
    if not files:
        raise MonitorError(
            f"no captured traffic in {captures}: serve the models (`make serve`, with "
            "deployment.data_capture.enabled) and send it requests first"
        )
    rules: dict[str, ModelSelection] = {v.name: v.model for v in deployment.variants}
    rules |= {s.name: s.model for s in deployment.shadows}
    features = _features_module(project_dir, spec.project.package)
    ground_truth = read_ground_truth(ground_truth_root(project_dir))
    registry, group = registry_root(project_dir), spec.model_package_group
    wanted = {
        "ModelDataQuality": spec.monitoring.data_quality is not None,
        "ModelQuality": spec.monitoring.model_quality is not None,
    }
    jobs = []
    for folder in files:
        if folder.name not in rules:
            print(f"skipping {folder}: {folder.name} is not a variant of the spec's endpoint", file=out)
            continue
        chosen = select_version(registry, group, folder.name, rules[folder.name])
        baselines = drift_check_baselines(RegisteredPackage(group, chosen.version, chosen.path))
        baselines = {section: files for section, files in baselines.items() if wanted[section]}
        if not baselines:
            raise MonitorError(
                f"{group} version {chosen.version} (served by {folder.name}) has no Model Monitor baselines: "
                "run the pipeline with the spec's monitoring section (`make local`)"
            )
        jobs.append((folder, chosen.version, baselines))
    if not jobs:
        raise MonitorError(f"no captured traffic of the spec's variants in {captures}")
    _, run_dir = new_run_dir(monitoring_root(project_dir), now=datetime.now(UTC))
    results = [
        monitor_variant(
            folder.name, version, read_captures(files[folder]), features, baselines, ground_truth, run_dir
        )
        for folder, version, baselines in jobs
    ]
    from ..local.monitoring import report

    started = run_dir.name
    page = report.write(
        run_dir / report.REPORT_FILE, spec.project.name, deployment.endpoint_name, started, results
    )
    found = MonitoringRun(run_dir, page, results)
    for line in summary_lines(found):
        print(line, file=out)
    return found


def summary_lines(found: MonitoringRun) -> list[str]:
    lines = [
        f"monitoring {found.folder.name}: {len(found.variants)} variant(s), {found.violations} violation(s)"
    ]
    for v in found.variants:
        lines.append(
            f"  {v.variant} (version {v.version}): {v.records} records, {v.texts} texts, {v.labeled} labeled"
        )
        data = v.results.get(DATA_QUALITY)
        if data is not None:
            named = ", ".join(f"{x['feature_name']} ({x['constraint_check_type']})" for x in data.violations)
            lines.append(f"    data quality: {'violations: ' + named if named else 'no violations'}")
        quality = v.results.get(MODEL_QUALITY)
        if quality is not None:
            from ..local.monitoring.model_quality import SECTION

            accuracy = quality.statistics[SECTION]["accuracy"]["value"]
            named = ", ".join(x["description"] for x in quality.violations)
            verdict = "violations: " + named if named else "no violations"
            lines.append(f"    model quality: accuracy {accuracy:.4f} over {v.labeled} labels; {verdict}")
        lines += [f"    {note}" for note in v.notes]
    lines.append(f"report: {found.report}")
    return lines


def cmd_monitor(args: argparse.Namespace) -> int:
    found = run_monitors(Path(args.project_dir))
    return 1 if args.fail_on_violation and found.violations else 0
