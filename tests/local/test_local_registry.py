"""The local model registry: versions increment; model-package.json keeps SageMaker's fields."""

from __future__ import annotations

import json

from sagespec.local.registry import PACKAGE_FILE, latest, register_model


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
