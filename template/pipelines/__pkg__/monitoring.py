"""The pipeline's baseline steps for SageMaker Model Monitor, and what RegisterModel records of them.

EvaluateModel writes, under its "monitoring" output, the monitored features of the test split's texts and
predictions (data-quality-baseline.csv: monitoring_features.FEATURES, with a header) and each test
prediction beside its label (model-quality-baseline.csv: label,prediction,probability). A QualityCheckStep
per monitor turns its CSV into Model Monitor's statistics.json and constraints.json; RegisterModel records
them with the model package as its drift-check baselines, which the endpoint's monitoring schedules
compare the captured traffic with (deploy/build_config.py reads them from the approved package).

Every run computes fresh baselines (register_new_baseline) and checks nothing against the last ones
(skip_check): a new model's test predictions differ from the old model's by design, so a drift check
between pipeline runs would only fail retraining.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sagemaker.core.helper.pipeline_variable import PipelineVariable
from sagemaker.core.model_metrics import MetricsSource
from sagemaker.core.model_monitor.dataset_format import DatasetFormat
from sagemaker.core.workflow.functions import Join
from sagemaker.core.workflow.pipeline_context import PipelineSession
from sagemaker.mlops.workflow import CheckJobConfig, QualityCheckStep
from sagemaker.mlops.workflow.quality_check_step import (
    DataQualityCheckConfig,
    ModelQualityCheckConfig,
    QualityCheckConfig,
)

from .settings import (
    MODEL_QUALITY_GROUND_TRUTH_ATTRIBUTE,
    MODEL_QUALITY_INFERENCE_ATTRIBUTE,
    MODEL_QUALITY_PROBLEM_TYPE,
    QUALITY_CHECKS,
    TAGS,
)

JSON = "application/json"


def _check_config(check: dict[str, Any], dataset: Join, output_uri: Join) -> QualityCheckConfig:
    # Both CSVs have a header row: the monitor names each column by it.
    dataset_format = DatasetFormat.csv(header=True)
    if check["check"] == "data-quality":
        # The baseline already holds the features, so it needs no record preprocessor; the schedule on
        # captured traffic runs monitoring_features.py to compute the same columns (deploy/endpoint.yaml).
        return DataQualityCheckConfig(
            baseline_dataset=dataset, dataset_format=dataset_format, output_s3_uri=output_uri
        )
    return ModelQualityCheckConfig(
        baseline_dataset=dataset,
        dataset_format=dataset_format,
        output_s3_uri=output_uri,
        problem_type=MODEL_QUALITY_PROBLEM_TYPE,
        inference_attribute=MODEL_QUALITY_INFERENCE_ATTRIBUTE,
        ground_truth_attribute=MODEL_QUALITY_GROUND_TRUTH_ATTRIBUTE,
    )


def quality_check_steps(
    monitoring_uri: PipelineVariable,
    role: str,
    output_uri: Callable[[str, str], Join],
    base_job_prefix: str,
    pipeline_session: PipelineSession,
) -> list[QualityCheckStep]:
    """One baseline step per monitor of the spec, reading its CSV under ``monitoring_uri`` and writing
    under ``output_uri(<step>, "baseline")`` (pipeline.py's layout of step outputs).

    The jobs run Model Monitor's own analyzer image, which the SDK looks up for the region.
    """
    steps = []
    for check in QUALITY_CHECKS:
        # The CSV's key as an S3 prefix: only that file, not its neighbour, reaches the job.
        dataset = Join(on="/", values=[monitoring_uri, check["baseline"]])
        steps.append(
            QualityCheckStep(
                name=check["step"],
                quality_check_config=_check_config(check, dataset, output_uri(check["step"], "baseline")),
                check_job_config=CheckJobConfig(
                    role=role,
                    instance_count=1,
                    instance_type=check["instance_type"],
                    max_runtime_in_seconds=check["max_runtime_seconds"],
                    base_job_name=f"{base_job_prefix}-{check['check']}",
                    sagemaker_session=pipeline_session,
                    tags=TAGS,
                ),
                skip_check=True,
                register_new_baseline=True,
            )
        )
    return steps


def _sources(steps: list[QualityCheckStep], statistics: str, constraints: str) -> dict[str, MetricsSource]:
    """ModelMetrics / DriftCheckBaselines arguments: each step's statistics and constraints files."""
    names = {"data-quality": "model_data", "model-quality": "model"}
    sources = {}
    for check, step in zip(QUALITY_CHECKS, steps, strict=True):
        name = names[check["check"]]
        sources[f"{name}_statistics"] = MetricsSource(
            s3_uri=getattr(step.properties, statistics), content_type=JSON
        )
        sources[f"{name}_constraints"] = MetricsSource(
            s3_uri=getattr(step.properties, constraints), content_type=JSON
        )
    return sources


def calculated_baselines(steps: list[QualityCheckStep]) -> dict[str, MetricsSource]:
    """The model package's metrics: the baselines this run computed.

    The model-quality statistics stay evaluate.py's report (pipeline.py), so only the constraints of
    that monitor are added there.
    """
    sources = _sources(steps, "CalculatedBaselineStatistics", "CalculatedBaselineConstraints")
    sources.pop("model_statistics", None)
    return sources


def drift_check_baselines(steps: list[QualityCheckStep]) -> dict[str, MetricsSource]:
    """The model package's drift-check baselines: what the endpoint's monitors compare traffic with."""
    return _sources(steps, "BaselineUsedForDriftCheckStatistics", "BaselineUsedForDriftCheckConstraints")
