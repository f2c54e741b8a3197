"""The pipeline's CheckDataBias step: SageMaker Clarify's pre-training bias metrics of the processed data,
checked against the spec's thresholds (see _bias_baseline_constraints for how a threshold becomes a check).
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from sagemaker.core.clarify import BiasConfig, DataConfig
from sagemaker.core.helper.pipeline_variable import PipelineVariable
from sagemaker.core.helper.session_helper import Session
from sagemaker.core.s3 import S3Uploader
from sagemaker.core.workflow.pipeline_context import PipelineSession
from sagemaker.mlops.workflow import CheckJobConfig, ClarifyCheckStep
from sagemaker.mlops.workflow.clarify_check_step import DataBiasCheckConfig

from .settings import (
    BIAS_FACET_VALUES,
    BIAS_FACETS,
    BIAS_FAIL_ON_VIOLATION,
    BIAS_GROUP_COLUMN,
    BIAS_HEADERS,
    BIAS_INSTANCE_TYPE,
    BIAS_METRICS,
    BIAS_POSITIVE_LABELS,
    BIAS_THRESHOLDS,
    TAGS,
)

logger = logging.getLogger(__name__)

# The label column of the `bias` output of PreprocessData.
BIAS_LABEL = "label"
# Pre-training bias metric names as Clarify writes them in analysis.json (smclarify's descriptions).
_BIAS_METRIC_DESCRIPTIONS = {
    "CI": "Class Imbalance (CI)",
    "DPL": "Difference in Positive Proportions in Labels (DPL)",
    "KL": "Kullback-Liebler Divergence (KL)",
    "JS": "Jensen-Shannon Divergence (JS)",
    "LP": "L-p Norm (LP)",
    "TVD": "Total Variation Distance (TVD)",
    "KS": "Kolmogorov-Smirnov Distance (KS)",
    "CDDL": "Conditional Demographic Disparity in Labels (CDDL)",
}


def _bias_baseline_constraints() -> dict[str, Any]:
    """The thresholds of the bias check, in the format of Clarify's pre-training analysis.json.

    ClarifyCheckStep compares the analysis.json its job computes with a baseline "constraints" file of
    the same format and logs a violation for each metric whose value is further from zero than the
    baseline's value of that metric for the same facet and facet value (SageMaker Developer Guide,
    "Bias drift violations"). A baseline holding the thresholds therefore fails the step exactly when
    |metric| > threshold. Facet values are keyed as Clarify writes them: the sensitive values joined
    with ",", or, when a facet lists none, each value of the column on its own.
    """
    facets: dict[str, list[dict[str, Any]]] = {}
    for facet in BIAS_FACETS:
        column = facet["column"]
        if facet["values"]:
            groups = [",".join(str(value) for value in facet["values"])]
        else:
            groups = [str(value) for value in BIAS_FACET_VALUES.get(column, [])]
            if not groups:
                # Without the column's values there is nothing to key thresholds by: Clarify still
                # computes the metrics, but this facet is reported, not enforced.
                logger.warning("Bias thresholds not enforced for facet %r: values unknown", column)
        facets[column] = [
            {
                "value_or_threshold": group,
                "metrics": [
                    {
                        "name": metric,
                        "description": _BIAS_METRIC_DESCRIPTIONS.get(metric, metric),
                        "value": threshold,
                    }
                    for metric, threshold in BIAS_THRESHOLDS.items()
                ],
            }
            for group in groups
        ]
    return {
        "version": "1.0",
        "pre_training_bias_metrics": {
            "label": BIAS_LABEL,
            "label_value_or_threshold": ",".join(str(label) for label in BIAS_POSITIVE_LABELS),
            "facets": facets,
        },
    }


def _upload_bias_baseline(sagemaker_session: Session, bucket: str, prefix: str) -> str:
    """Write the baseline constraints to S3 and return their URI.

    The key holds a hash of the content, so the pipeline definition changes only when the thresholds do.
    """
    body = json.dumps(_bias_baseline_constraints(), indent=2, sort_keys=True)
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]
    return S3Uploader.upload_string_as_file_body(
        body=body,
        desired_s3_uri=f"s3://{bucket}/{prefix}/bias-baseline/{digest}/constraints.json",
        sagemaker_session=sagemaker_session,
    )


def _bias_config() -> BiasConfig:
    """The sensitive groups: Clarify compares each facet's group with the rest of the data."""
    return BiasConfig(
        label_values_or_threshold=BIAS_POSITIVE_LABELS,
        facet_name=[facet["column"] for facet in BIAS_FACETS],
        # None for a facet means "each value of the column in turn".
        facet_values_or_threshold=[facet["values"] or None for facet in BIAS_FACETS],
        group_name=BIAS_GROUP_COLUMN,
    )


def bias_check_step(
    bias_data: PipelineVariable,
    report_uri: PipelineVariable,
    role: str,
    bucket: str,
    base_job_prefix: str,
    pipeline_session: PipelineSession,
) -> ClarifyCheckStep:
    """Clarify's pre-training bias metrics of the processed data, checked against the thresholds.

    The thresholds are the step's baseline (see _bias_baseline_constraints): with FailOnViolation, a
    breach fails the step, and so the pipeline, before training starts.
    """
    return ClarifyCheckStep(
        name="CheckDataBias",
        clarify_check_config=DataBiasCheckConfig(
            data_config=DataConfig(
                # The bias/ prefix: PreprocessData writes one CSV part per row part (bias-<part>.csv, from
                # whichever instance preprocessed it), and Clarify reads every file under the prefix.
                # The parts have no header row: `headers` names the columns.
                s3_data_input_path=bias_data,
                s3_output_path=report_uri,
                # A plain string: the SDK uploads the analysis configuration while building the step.
                s3_analysis_config_output_path=f"s3://{bucket}/{base_job_prefix}/bias-analysis-config",
                label=BIAS_LABEL,
                headers=BIAS_HEADERS,
                dataset_type="text/csv",
            ),
            data_bias_config=_bias_config(),
            methods=BIAS_METRICS,
        ),
        check_job_config=CheckJobConfig(
            role=role,
            instance_count=1,
            instance_type=BIAS_INSTANCE_TYPE,
            base_job_name=f"{base_job_prefix}-bias",
            sagemaker_session=pipeline_session,
            tags=TAGS,
        ),
        skip_check=False,
        fail_on_violation=BIAS_FAIL_ON_VIOLATION,
        register_new_baseline=False,
        supplied_baseline_constraints=_upload_bias_baseline(pipeline_session, bucket, base_job_prefix),
    )
