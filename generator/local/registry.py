"""A local model registry: ``.sagespec-runs/registry/<model package group>/<version>/``.

Each version folder holds the model artifact, the evaluation report and ``model-package.json`` with the
fields SageMaker's model registry keeps for a model package (DescribeModelPackage's names).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .artifacts import file_digest

PACKAGE_FILE = "model-package.json"
MODEL_FILE = "model.tar.gz"
EVALUATION_FILE = "evaluation.json"
BIAS_FILE = "bias-report.json"

# What serves the artifact on SageMaker (the registered model's container).
INFERENCE_IMAGES = {
    "blazingtext": {"Image": "blazingtext:1 (SageMaker built-in algorithm)", "Framework": "BLAZINGTEXT"},
    "bert": {"Image": "tensorflow-inference (SageMaker TensorFlow Serving)", "Framework": "TENSORFLOW"},
}
CONTENT_TYPES = {"blazingtext": ["application/json", "application/jsonlines"], "bert": ["application/json"]}


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
    folder = group_dir(registry_root, group)
    if not folder.is_dir():
        return []
    return sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit())


def latest(registry_root: Path, group: str) -> RegisteredPackage | None:
    found = [
        v
        for v in versions(registry_root, group)
        if (group_dir(registry_root, group) / str(v) / PACKAGE_FILE).is_file()
    ]
    if not found:
        return None
    return RegisteredPackage(group, found[-1], group_dir(registry_root, group) / str(found[-1]))


def _new_version_dir(registry_root: Path, group: str) -> tuple[int, Path]:
    folder = group_dir(registry_root, group)
    folder.mkdir(parents=True, exist_ok=True)
    version = (versions(registry_root, group) or [0])[-1] + 1
    while True:
        path = folder / str(version)
        try:
            path.mkdir()  # atomic: two registrations never share a version
            return version, path
        except FileExistsError:
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
) -> RegisteredPackage:
    """Register ``model_artifact`` as the next version of ``group``.

    With ``reuse_identical`` a rerun that produced byte-identical model and evaluation (a cached run)
    returns the newest version instead of piling up duplicates.
    """
    model_sha = file_digest(model_artifact)
    evaluation_sha = file_digest(evaluation_report)
    newest = latest(registry_root, group)
    if reuse_identical and newest is not None:
        meta = newest.document.get("CustomerMetadataProperties", {})
        if meta.get("model_sha256") == model_sha and meta.get("evaluation_sha256") == evaluation_sha:
            return RegisteredPackage(group, newest.version, newest.path, reused=True)

    version, path = _new_version_dir(registry_root, group)
    shutil.copy2(model_artifact, path / MODEL_FILE)
    shutil.copy2(evaluation_report, path / EVALUATION_FILE)
    metrics: dict[str, Any] = {
        "ModelQuality": {
            "Statistics": {"ContentType": "application/json", "S3Uri": str(path / EVALUATION_FILE)}
        }
    }
    if bias_report is not None and bias_report.is_file():
        shutil.copy2(bias_report, path / BIAS_FILE)
        metrics["Bias"] = {
            "PreTrainingReport": {"ContentType": "application/json", "S3Uri": str(path / BIAS_FILE)}
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
            "Containers": [{**INFERENCE_IMAGES.get(model_type, {}), "ModelDataUrl": str(path / MODEL_FILE)}],
            "SupportedContentTypes": CONTENT_TYPES.get(model_type, ["application/json"]),
            "SupportedResponseMIMETypes": ["application/json"],
            "SupportedRealtimeInferenceInstanceTypes": list(inference_instance_types),
        },
        "ModelMetrics": metrics,
        "Evaluation": json.loads(evaluation_report.read_text()),
        "CustomerMetadataProperties": {
            "model_type": model_type,
            "model_sha256": model_sha,
            "evaluation_sha256": evaluation_sha,
            "sagespec_run_id": run_id,
        },
        "MetadataProperties": {"GeneratedBy": f"sagespec local run {run_id}"},
    }
    tmp = path / (PACKAGE_FILE + ".tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n")
    tmp.replace(path / PACKAGE_FILE)
    return RegisteredPackage(group, version, path)
