"""A local model registry: ``.sagespec-runs/registry/<model package group>/<version>/``.

Each version folder holds the model artifact, the evaluation report and ``model-package.json`` with the
fields SageMaker's model registry keeps for a model package (DescribeModelPackage's names).

A version appears whole or not at all: it is written in a hidden folder beside the versions
(``.partial-<pid>-<random>``) and renamed into place, an atomic step. A registration killed midway
leaves only a hidden folder, which the next registration removes once its process is gone; a numbered
folder without ``model-package.json`` (left by an older sagespec) is not a version and is removed too.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .artifacts import file_digest

PACKAGE_FILE = "model-package.json"
MODEL_FILE = "model.tar.gz"
EVALUATION_FILE = "evaluation.json"
BIAS_FILE = "bias-report.json"
# Model Monitor's baselines, as DriftCheckBaselines names them: the file each is copied to.
BASELINE_FILES = {
    ("ModelDataQuality", "Statistics"): "data-quality-statistics.json",
    ("ModelDataQuality", "Constraints"): "data-quality-constraints.json",
    ("ModelQuality", "Statistics"): "model-quality-statistics.json",
    ("ModelQuality", "Constraints"): "model-quality-constraints.json",
}

# What serves the artifact on SageMaker (the registered model's container).
INFERENCE_IMAGES = {
    "blazingtext": {"Image": "blazingtext:1 (SageMaker built-in algorithm)", "Framework": "BLAZINGTEXT"},
    "bert": {"Image": "tensorflow-inference (SageMaker TensorFlow Serving)", "Framework": "TENSORFLOW"},
    "bert/pytorch": {
        "Image": "huggingface-pytorch-inference (Hugging Face PyTorch inference)",
        "Framework": "PYTORCH",
    },
}
# Keyed by spec.catalog.model_kind; any other kind takes JSON.
CONTENT_TYPES = {"blazingtext": ["application/json", "application/jsonlines"]}


@dataclass(frozen=True)
class RegisteredPackage:
    group: str
    version: int
    path: Path
    reused: bool = False  # True when the newest version already held this exact model and evaluation

    @property
    def document(self) -> dict[str, Any]:
        return json.loads((self.path / PACKAGE_FILE).read_text())


def group_dir(registry_root: Path, group: str) -> Path:
    return registry_root / group


def versions(registry_root: Path, group: str) -> list[int]:
    """The group's registered versions, oldest first (complete ones only: with model-package.json)."""
    folder = group_dir(registry_root, group)
    if not folder.is_dir():
        return []
    return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit() and (p / PACKAGE_FILE).is_file())


def drift_check_baselines(package: RegisteredPackage) -> dict[str, dict[str, Path]]:
    """A version's Model Monitor baselines: {"ModelDataQuality"|"ModelQuality": {"Statistics"|"Constraints":
    file}}, those present in its folder (none for a version registered without monitoring)."""
    found: dict[str, dict[str, Path]] = {}
    for (section, kind), name in BASELINE_FILES.items():
        if (package.path / name).is_file():
            found.setdefault(section, {})[kind] = package.path / name
    return found


def latest(registry_root: Path, group: str) -> RegisteredPackage | None:
    found = versions(registry_root, group)
    if not found:
        return None
    return RegisteredPackage(group, found[-1], group_dir(registry_root, group) / str(found[-1]))


PARTIAL_PREFIX = ".partial-"


def _remove_leftovers(folder: Path) -> None:
    """Remove what interrupted registrations left: hidden partial folders of processes that are gone,
    and numbered folders without model-package.json."""
    for path in folder.iterdir():
        if path.name.startswith(PARTIAL_PREFIX):
            pid = path.name.removeprefix(PARTIAL_PREFIX).split("-", 1)[0]
            if pid.isdigit() and _alive(int(pid)):
                continue  # a registration in progress
        elif not (path.name.isdigit() and path.is_dir() and not (path / PACKAGE_FILE).is_file()):
            continue
        shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _publish(partial: Path, folder: Path, write_document: Callable[[int, Path], None]) -> tuple[int, Path]:
    """Rename ``partial`` to the next free version number; returns the version and its folder.

    ``write_document(version, path)`` writes model-package.json (which names the final path) first. A
    rename onto a version another registration just published fails, and the next number is tried.
    """
    version = (versions(folder.parent, folder.name) or [0])[-1] + 1
    while True:
        path = folder / str(version)
        write_document(version, path)
        try:
            os.rename(partial, path)  # atomic: the version appears complete, or not at all
            return version, path
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR):
                raise
            version += 1


def register_model(
    registry_root: Path,
    *,
    group: str,
    model_artifact: Path,
    evaluation_report: Path,
    approval_status: str,
    model_type: str,
    region: str,
    inference_instance_types: list[str],
    run_id: str,
    description: str = "",
    bias_report: Path | None = None,
    reuse_identical: bool = True,
    mlflow_run_id: str | None = None,
    drift_check_baselines: dict[tuple[str, str], Path] | None = None,
) -> RegisteredPackage:
    """Register ``model_artifact`` as the next version of ``group``.

    ``mlflow_run_id`` links the version to the MLflow run of the run that trained it (experiment
    tracking), as CustomerMetadataProperties' ``mlflow_run_id``.

    ``drift_check_baselines`` (with monitoring): Model Monitor's baseline files by (DriftCheckBaselines
    section, Statistics or Constraints), copied into the version and recorded as its DriftCheckBaselines,
    so that ``sagespec local monitor`` finds the baselines of the version a variant serves.

    With ``reuse_identical`` a rerun that produced byte-identical model, evaluation and baselines (a
    cached run) returns the newest version instead of piling up duplicates.
    """
    model_sha = file_digest(model_artifact)
    evaluation_sha = file_digest(evaluation_report)
    baselines = dict(drift_check_baselines or {})
    baselines_sha = {BASELINE_FILES[key]: file_digest(path) for key, path in baselines.items()}
    newest = latest(registry_root, group)
    if reuse_identical and newest is not None:
        meta = newest.document.get("CustomerMetadataProperties", {})
        identical = (
            meta.get("model_sha256") == model_sha
            and meta.get("evaluation_sha256") == evaluation_sha
            and json.loads(meta.get("baselines_sha256", "{}")) == baselines_sha
        )
        if identical:
            return RegisteredPackage(group, newest.version, newest.path, reused=True)

    folder = group_dir(registry_root, group)
    folder.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(folder)
    partial = Path(tempfile.mkdtemp(prefix=f"{PARTIAL_PREFIX}{os.getpid()}-", dir=folder))
    try:
        shutil.copy2(model_artifact, partial / MODEL_FILE)
        shutil.copy2(evaluation_report, partial / EVALUATION_FILE)
        with_bias = bias_report is not None and bias_report.is_file()
        if with_bias:
            shutil.copy2(bias_report, partial / BIAS_FILE)
        for key, source in baselines.items():
            shutil.copy2(source, partial / BASELINE_FILES[key])
        evaluation = json.loads(evaluation_report.read_text())

        def write_document(version: int, path: Path) -> None:
            metrics: dict[str, Any] = {
                "ModelQuality": {
                    "Statistics": {"ContentType": "application/json", "S3Uri": str(path / EVALUATION_FILE)}
                }
            }
            if with_bias:
                metrics["Bias"] = {
                    "PreTrainingReport": {"ContentType": "application/json", "S3Uri": str(path / BIAS_FILE)}
                }
            drift_baselines: dict[str, dict[str, Any]] = {}
            for section, kind in sorted(baselines):
                uri = str(path / BASELINE_FILES[(section, kind)])
                drift_baselines.setdefault(section, {})[kind] = {
                    "ContentType": "application/json",
                    "S3Uri": uri,
                }
            arn = f"arn:aws:sagemaker:{region}:000000000000:model-package/{group.lower()}/{version}"
            document = {
                "ModelPackageGroupName": group,
                "ModelPackageVersion": version,
                "ModelPackageArn": arn,
                "ModelPackageDescription": description,
                "CreationTime": datetime.now(UTC).isoformat(timespec="seconds"),
                "ModelPackageStatus": "Completed",
                "ModelApprovalStatus": approval_status,
                "InferenceSpecification": {
                    "Containers": [
                        {**INFERENCE_IMAGES.get(model_type, {}), "ModelDataUrl": str(path / MODEL_FILE)}
                    ],
                    "SupportedContentTypes": CONTENT_TYPES.get(model_type, ["application/json"]),
                    "SupportedResponseMIMETypes": ["application/json"],
                    "SupportedRealtimeInferenceInstanceTypes": list(inference_instance_types),
                },
                "ModelMetrics": metrics,
                **({"DriftCheckBaselines": drift_baselines} if drift_baselines else {}),
                "Evaluation": evaluation,
                "CustomerMetadataProperties": {
                    "model_type": model_type,
                    "model_sha256": model_sha,
                    "evaluation_sha256": evaluation_sha,
                    "sagespec_run_id": run_id,
                    **({"mlflow_run_id": mlflow_run_id} if mlflow_run_id else {}),
                    **({"baselines_sha256": json.dumps(baselines_sha, sort_keys=True)} if baselines else {}),
                },
                "MetadataProperties": {"GeneratedBy": f"sagespec local run {run_id}"},
            }
            (partial / PACKAGE_FILE).write_text(json.dumps(document, indent=2) + "\n")

        version, path = _publish(partial, folder, write_document)
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(partial)
        raise
    return RegisteredPackage(group, version, path)
