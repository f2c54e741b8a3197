"""Model Monitor's baseline steps (pipelines/<pkg>/monitoring.py), built offline: each reads its CSV from
EvaluateModel's monitoring output on Model Monitor's own image, and RegisterModel records what they
compute as the model package's drift-check baselines."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.offline_pipeline import Built, build_offline

MONITORING_OUTPUT = "Steps.EvaluateModel.ProcessingOutputConfig.Outputs['monitoring'].S3Output.S3Uri"
# Which ModelMetrics / DriftCheckBaselines entry each monitor's baseline fills.
ENTRIES = {"data-quality": "ModelDataQuality", "model-quality": "ModelQuality"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    with build_offline(tmp_path_factory.mktemp("sagemaker")) as result:
        yield result


def _checks(built: Built) -> list[dict[str, Any]]:
    return built.settings.QUALITY_CHECKS


def test_each_monitor_has_a_baseline_step_on_model_monitors_image(
    built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sagemaker.core import image_uris

    region = built.settings.DEFAULT_REGION
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    image = image_uris.retrieve("model-monitor", region)
    assert _checks(built), "the spec monitors nothing"
    for check in _checks(built):
        step = built.step(check["step"])
        assert step["Type"] == "QualityCheck"
        assert step["CheckType"] == check["check"].upper().replace("-", "_")
        # Every run computes its own baselines and checks nothing against the last run's.
        assert step["RegisterNewBaseline"] is True and step["SkipCheck"] is True
        arguments = step["Arguments"]
        assert arguments["AppSpecification"]["ImageUri"] == image
        cluster = arguments["ProcessingResources"]["ClusterConfig"]
        assert cluster["InstanceType"] == check["instance_type"]
        assert arguments["StoppingCondition"]["MaxRuntimeInSeconds"] == check["max_runtime_seconds"]
        (dataset,) = arguments["ProcessingInputs"]
        assert dataset["S3Input"]["S3Uri"] == {
            "Std:Join": {"On": "/", "Values": [{"Get": MONITORING_OUTPUT}, check["baseline"]]}
        }
        environment = arguments["Environment"]
        assert environment["dataset_source"] == dataset["S3Input"]["LocalPath"]
        assert '"header": true' in environment["dataset_format"]


def test_the_model_quality_baseline_reads_the_prediction_and_label_columns(built: Built) -> None:
    settings = built.settings
    (check,) = [c for c in _checks(built) if c["check"] == "model-quality"] or [None]
    if check is None:
        pytest.skip("the spec has no model-quality monitor")
    environment = built.step(check["step"])["Arguments"]["Environment"]
    assert environment["analysis_type"] == "MODEL_QUALITY"
    assert environment["problem_type"] == settings.MODEL_QUALITY_PROBLEM_TYPE == "MulticlassClassification"
    assert environment["inference_attribute"] == settings.MODEL_QUALITY_INFERENCE_ATTRIBUTE
    assert environment["ground_truth_attribute"] == settings.MODEL_QUALITY_GROUND_TRUTH_ATTRIBUTE


def test_the_model_package_carries_the_baselines(built: Built) -> None:
    arguments = built.step("RegisterModel")["Arguments"]
    drift, metrics = arguments["DriftCheckBaselines"], arguments["ModelMetrics"]
    for check in _checks(built):
        entry, step = ENTRIES[check["check"]], check["step"]
        for kind in ("Statistics", "Constraints"):
            source = drift[entry][kind]
            assert source == {
                "ContentType": "application/json",
                "S3Uri": {"Get": f"Steps.{step}.BaselineUsedForDriftCheck{kind}"},
            }
        calculated = {"Get": f"Steps.{step}.CalculatedBaselineConstraints"}
        assert metrics[entry]["Constraints"]["S3Uri"] == calculated
    if "ModelQuality" in metrics:
        # The model's statistics stay evaluate.py's report.
        assert "Std:Join" in metrics["ModelQuality"]["Statistics"]["S3Uri"]
