"""Spec -> the template context: every name, ARN piece, argument list and hyperparameter map the
templates print, computed here in Python where it can be tested. Templates only present it."""

from __future__ import annotations

import posixpath
import shlex
from typing import Any

from .. import __version__
from ..plan import (
    build_plan,
    evaluate_arguments,
    metric_definitions,
    preprocess_arguments,
    training_hyperparameters,
)
from ..spec.models import BertModel, Spec, camel_words
from .context_deploy import deployment_context
from .context_explore import explore_context, feature_store_context
from .context_labeling import labeling_context
from .context_studio import studio_context
from .context_tuning import tuning_context
from .data_paths import dataset_file_name, default_data_key
from .origin import Origin, detect_origin

# Container images the pipeline uses; the TF version matches the local TensorFlow (tf-keras pins to it).
TENSORFLOW_VERSION = "2.21"
TENSORFLOW_PY_VERSION = "py312"
SKLEARN_FRAMEWORK_VERSION = "1.4-2"
SAGEMAKER_SDK_VERSION = "3.27.0"
MIN_PYTHON_VERSION = "3.11"


def local_data_path(spec: Spec) -> str | None:
    """Where the generated repo keeps its copy of a local dataset (None for s3:// sources)."""
    if spec.dataset.source.startswith("s3://"):
        return None
    return posixpath.join("data", dataset_file_name(spec))


def data_upload_command(spec: Spec) -> str | None:
    """The shell command CI runs to put the repo's dataset where the pipeline's InputDataUrl defaults."""
    path = local_data_path(spec)
    if path is None:
        return None
    key = default_data_key(spec)
    return f'aws s3 cp --no-progress {shlex.quote(path)} "s3://${{ARTIFACT_BUCKET}}/"{shlex.quote(key)}'


def build_context(
    spec: Spec, facet_values: dict[str, list[str]] | None = None, origin: Origin | None = None
) -> dict[str, Any]:
    """The template context. ``facet_values`` lists each unlisted bias facet's values in the data;
    ``origin`` is where the project installs sagespec from (default: where this sagespec came from)."""
    model = spec.model
    plan = build_plan(spec)
    slug = spec.project.slug
    bias = spec.bias
    is_bert = isinstance(model, BertModel)
    return {
        "sagespec_version": __version__,
        "sagespec_origin": origin or detect_origin(),
        # The oldest Python the generated code supports (sagespec's own floor); CI runs python_version.
        "min_python_version": MIN_PYTHON_VERSION,
        "sagemaker_sdk_version": SAGEMAKER_SDK_VERSION,
        "spec": spec,
        "plan": plan,
        # project
        "project_name": spec.project.name,
        "project_description": spec.project.description,
        "slug": slug,
        "pkg": spec.project.package,
        "region": spec.project.region,
        "tags": dict(spec.project.tags),
        "pipeline_name": f"{camel_words(slug)}Pipeline",
        "base_job_prefix": slug,
        "model_package_group": spec.model_package_group,
        "endpoint_name": spec.endpoint_name,
        # data
        "local_data_path": local_data_path(spec),
        "default_data_key": default_data_key(spec),
        "data_upload_command": data_upload_command(spec),
        "text_column": spec.dataset.text_column,
        "label_column": spec.dataset.label_column,
        "classes": [str(c) for c in spec.dataset.classes],
        # steps
        "preprocess_arguments": preprocess_arguments(spec),
        "evaluate_arguments": evaluate_arguments(spec),
        "processing_instance_type": "ml.m5.xlarge",
        "evaluation_instance_type": spec.evaluation.instance_type,
        "bias_instance_type": bias.instance_type,
        # bias
        "bias_enabled": bias.enabled,
        "bias_metrics": list(bias.metrics),
        "bias_thresholds": {name: m.threshold for name, m in bias.metrics.items()},
        "bias_fail_on_violation": bias.fail_on_violation,
        "positive_labels": [str(v) for v in bias.positive_labels],
        "facets": [{"column": f.column, "values": [str(v) for v in f.values]} for f in bias.facets],
        "facet_columns": list(spec.dataset.facet_columns),
        "bias_facet_values": dict(facet_values or {}),
        "group_column": bias.group_column,
        # The header of preprocess.py's bias/bias.csv: label, facet columns, then the group column.
        "bias_headers": ["label", *spec.dataset.facet_columns]
        + (
            [bias.group_column]
            if bias.group_column and bias.group_column not in spec.dataset.facet_columns
            else []
        ),
        # training
        "model_type": model.type,
        "is_bert": is_bert,
        "training_instance_type": model.instance_type,
        "training_instance_count": model.instance_count,
        "volume_size_gb": model.volume_size_gb,
        "max_runtime_seconds": model.max_runtime_seconds,
        "hyperparameters": training_hyperparameters(spec),
        "metric_definitions": metric_definitions(spec),
        "pretrained_model": model.pretrained_model if is_bert else None,
        "spot_enabled": model.spot.enabled if is_bert else False,
        "spot_max_wait_seconds": model.spot.max_wait_seconds if is_bert else None,
        "checkpoint_s3_uri": model.checkpoint_s3_uri if is_bert else None,
        "tensorflow_version": TENSORFLOW_VERSION,
        "tensorflow_py_version": TENSORFLOW_PY_VERSION,
        "sklearn_framework_version": SKLEARN_FRAMEWORK_VERSION,
        # evaluation and registry
        "evaluation_metric": spec.evaluation.metric,
        "evaluation_threshold": spec.evaluation.threshold,
        "evaluation_json_path": plan.condition.json_path,
        "approval_status": spec.registry.approval_status,
        "inference_instance_types": list(spec.registry.inference_instance_types),
        # ci
        "python_version": spec.ci.python_version,
        "github_actions": spec.ci.github_actions.enabled,
        "github_role_arn": spec.ci.github_actions.role_arn,
        "github_branch": spec.ci.github_actions.branch,
        "codebuild": spec.ci.codebuild.enabled,
        "codebuild_image": spec.ci.codebuild.image,
        "tuning_enabled": spec.tuning_enabled,
        **deployment_context(spec),
        **explore_context(spec),
        **feature_store_context(spec),
        **labeling_context(spec),
        **studio_context(spec),
        **tuning_context(spec),
    }
