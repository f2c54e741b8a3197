"""The BlazingText example, generated and run end to end on a real sample of the reviews data."""

from __future__ import annotations

import json
import re
import tarfile

from sagespec.local.registry import PACKAGE_FILE
from sagespec.spec import load_spec


def test_every_step_leaves_its_artifacts(blazingtext_run):
    run = blazingtext_run.run_dir
    out = run / "PreprocessData" / "processing" / "output"
    for split in ("train", "validation", "test"):
        parts = sorted((out / split).glob(f"{split}-*.txt"))
        assert parts and all(part.read_text().startswith("__label__") for part in parts)
    assert json.loads((out / "test" / "labels.json").read_text())["classes"] == ["-1", "0", "1"]
    # Headerless parts (label, Class Name): Clarify is given the column names.
    first_row = next((out / "bias").glob("bias-*.csv")).read_text().splitlines()[0]
    assert first_row.split(",")[0] in ("-1", "0", "1") and "Class Name" not in first_row
    assert (run / "PrepareData" / "processing" / "output" / "counts").is_dir()
    assert (run / "CheckDataBias" / "report.json").is_file()
    assert (run / "CheckDataBias" / "bias-report.png").read_bytes()[:4] == b"\x89PNG"
    with tarfile.open(run / "TrainModel" / "output" / "model.tar.gz") as tar:
        assert tar.getnames() == ["model.bin"]  # BlazingText's artifact layout
    assert (run / "TrainModel" / "model" / "model.bin").stat().st_size < 20_000_000  # buckets keep it small
    hps = json.loads((run / "TrainModel" / "input" / "config" / "hyperparameters.json").read_text())
    assert hps["mode"] == "supervised" and hps["buckets"] == "20000"
    assert (run / "EvaluateModel" / "processing" / "evaluation" / "confusion_matrix.png").is_file()
    run_record = json.loads((run / "run.json").read_text())
    assert run_record["status"] == "succeeded"


def test_evaluation_metrics_are_in_range(blazingtext_run):
    path = blazingtext_run.run_dir / "EvaluateModel" / "processing" / "evaluation" / "evaluation.json"
    metrics = {name: m["value"] for name, m in json.loads(path.read_text())["metrics"].items()}
    assert set(metrics) >= {"accuracy", "macro_f1", "weighted_f1"}
    assert all(0.0 <= v <= 1.0 for v in metrics.values())
    assert metrics["accuracy"] > 0.40  # three balanced classes: chance is 1/3
    assert "validation:accuracy=" in blazingtext_run.result.out  # the stand-in prints BlazingText's metric


def test_the_model_is_registered(blazingtext_run):
    project = blazingtext_run.project
    spec = load_spec(project / "spec.yaml").spec
    package = project / ".sagespec-runs" / "registry" / spec.model_package_group / "1"
    document = json.loads((package / PACKAGE_FILE).read_text())
    assert document["ModelPackageGroupName"] == "reviews-blazingtext-models"
    assert document["ModelPackageVersion"] == 1
    assert document["ModelApprovalStatus"] == spec.registry.approval_status == "PendingManualApproval"
    assert document["CreationTime"]
    assert document["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == str(
        package / "model.tar.gz"
    )
    assert document["CustomerMetadataProperties"]["model_type"] == "blazingtext"
    evaluation = json.loads((package / "evaluation.json").read_text())
    assert document["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"] == str(package / "evaluation.json")
    assert evaluation["metrics"]["accuracy"]["value"] >= spec.evaluation.threshold
    artifact = blazingtext_run.run_dir / "TrainModel" / "output" / "model.tar.gz"
    assert (package / "model.tar.gz").read_bytes() == artifact.read_bytes()
    assert f"registered: {spec.model_package_group} version 1" in blazingtext_run.result.out


def test_the_source_tree_is_left_alone(blazingtext_run, helpers):
    assert helpers.source_files(blazingtext_run.project) == blazingtext_run.files_before


def test_summary_reports_bias_metrics_and_condition(blazingtext_run):
    out = blazingtext_run.result.out
    for metric in ("CI", "DPL", "KL", "JS"):
        assert f"Class Name     {metric}" in out
    assert "condition: accuracy" in out and "-> RegisterModel" in out
    assert "evaluation (test): accuracy" in out
    # The sample has reviews without a text: preprocess.py drops them, and the summary says so.
    assert re.search(r"^data: dropped \d+ rows with no text in 'Review Text'$", out, re.MULTILINE), out
