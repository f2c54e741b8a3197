"""The local model registry: versions increment; model-package.json keeps SageMaker's fields."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from sagespec.local import registry
from sagespec.local.registry import PACKAGE_FILE, latest, register_model, versions


def _register(root, model, evaluation, **kwargs):
    options = {
        "group": "demo-models",
        "model_artifact": model,
        "evaluation_report": evaluation,
        "approval_status": "Approved",
        "model_type": "blazingtext",
        "region": "eu-west-1",
        "inference_instance_types": ["ml.m5.large"],
        "run_id": "20260101-000000",
    } | kwargs
    return register_model(root, **options)


def test_versions_increment_and_identical_models_are_not_duplicated(tmp_path):
    root = tmp_path / "registry"
    model, evaluation = tmp_path / "model.tar.gz", tmp_path / "evaluation.json"
    model.write_bytes(b"first")
    evaluation.write_text(json.dumps({"metrics": {"accuracy": {"value": 0.7}}}))
    first = _register(root, model, evaluation)
    assert (first.version, first.reused) == (1, False)
    same = _register(root, model, evaluation)
    assert (same.version, same.reused) == (1, True)
    forced = _register(root, model, evaluation, reuse_identical=False)
    assert forced.version == 2
    model.write_bytes(b"second")
    third = _register(root, model, evaluation)
    assert third.version == 3 and latest(root, "demo-models").version == 3
    assert (third.path / "model.tar.gz").read_bytes() == b"second"


def test_model_package_document(tmp_path):
    model, evaluation, bias = (
        tmp_path / "model.tar.gz",
        tmp_path / "evaluation.json",
        tmp_path / "report.json",
    )
    model.write_bytes(b"m")
    evaluation.write_text(json.dumps({"metrics": {"accuracy": {"value": 0.7}}}))
    bias.write_text("{}")
    package = _register(tmp_path / "registry", model, evaluation, bias_report=bias)
    document = json.loads((package.path / PACKAGE_FILE).read_text())
    assert package.path == tmp_path / "registry" / "demo-models" / "1"
    assert document["ModelPackageGroupName"] == "demo-models"
    assert document["ModelPackageVersion"] == 1
    assert document["ModelApprovalStatus"] == "Approved"
    assert (
        document["ModelPackageArn"] == "arn:aws:sagemaker:eu-west-1:000000000000:model-package/demo-models/1"
    )
    assert document["InferenceSpecification"]["SupportedRealtimeInferenceInstanceTypes"] == ["ml.m5.large"]
    assert document["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == str(
        package.path / "model.tar.gz"
    )
    assert document["ModelMetrics"]["Bias"]["PreTrainingReport"]["S3Uri"] == str(
        package.path / "bias-report.json"
    )
    assert document["Evaluation"] == {"metrics": {"accuracy": {"value": 0.7}}}
    assert document["CreationTime"].endswith("+00:00")


def _files(tmp_path):
    model, evaluation = tmp_path / "model.tar.gz", tmp_path / "evaluation.json"
    model.write_bytes(b"weights")
    evaluation.write_text(json.dumps({"metrics": {"accuracy": {"value": 0.7}}}))
    return model, evaluation


def test_a_registration_that_fails_midway_leaves_nothing(tmp_path, monkeypatch):
    root = tmp_path / "registry"
    model, evaluation = _files(tmp_path)
    copies = []

    def copy_then_fail(source, target):
        copies.append(target)
        if len(copies) == 2:  # the model is in place, the evaluation report is not
            raise OSError(28, "No space left on device")
        return shutil.copy2(source, target)

    monkeypatch.setattr(registry.shutil, "copy2", copy_then_fail)
    with pytest.raises(OSError, match="No space left"):
        _register(root, model, evaluation)
    monkeypatch.undo()
    assert list((root / "demo-models").iterdir()) == []
    assert versions(root, "demo-models") == [] and latest(root, "demo-models") is None
    assert _register(root, model, evaluation).version == 1


def test_a_registration_killed_midway_is_cleaned_up_by_the_next(tmp_path):
    """SIGKILL while the model is copied: no clean-up runs. The next registration is version 1."""
    root = tmp_path / "registry"
    model, evaluation = _files(tmp_path)
    script = f"""
import os, signal, shutil
from pathlib import Path
from sagespec.local import registry

def copy_then_die(source, target):
    shutil.copyfile(source, target)
    os.kill(os.getpid(), signal.SIGKILL)

registry.shutil.copy2 = copy_then_die
registry.register_model(
    Path({str(root)!r}), group="demo-models", model_artifact=Path({str(model)!r}),
    evaluation_report=Path({str(evaluation)!r}), approval_status="Approved", model_type="blazingtext",
    region="eu-west-1", inference_instance_types=["ml.m5.large"], run_id="killed",
)
"""
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    (left,) = (root / "demo-models").iterdir()  # the hidden partial folder, holding only the model
    assert left.name.startswith(".partial-") and [p.name for p in left.iterdir()] == ["model.tar.gz"]
    assert versions(root, "demo-models") == []
    # An older sagespec registered in place: a numbered folder holding only the model is no version.
    (root / "demo-models" / "1").mkdir()
    shutil.copyfile(model, root / "demo-models" / "1" / "model.tar.gz")
    assert versions(root, "demo-models") == []

    package = _register(root, model, evaluation)
    assert package.version == 1 and package.document["ModelPackageVersion"] == 1
    assert sorted(p.name for p in (root / "demo-models").iterdir()) == ["1"]
    assert package.document["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == str(
        package.path / "model.tar.gz"
    )
    assert _register(root, model, evaluation, reuse_identical=False).version == 2


def test_a_version_published_meanwhile_is_not_overwritten(tmp_path, monkeypatch):
    """Two registrations at once: the one that renames second takes the next number."""
    root = tmp_path / "registry"
    model, evaluation = _files(tmp_path)
    first = _register(root, model, evaluation)
    real_rename = os.rename
    raced = []

    def rename_after_a_rival(source, target):
        if not raced:  # a rival registration publishes version 2 first
            raced.append(target)
            shutil.copytree(first.path, root / "demo-models" / "2")
        return real_rename(source, target)

    monkeypatch.setattr(registry.os, "rename", rename_after_a_rival)
    package = _register(root, model, evaluation, reuse_identical=False)
    assert package.version == 3 and package.document["ModelPackageVersion"] == 3
    assert json.loads((root / "demo-models" / "2" / PACKAGE_FILE).read_text())["ModelPackageVersion"] == 1
