"""The pipeline's groups of the template context, one per step: ``preprocess``, ``bias``, ``training``,
``evaluation`` and ``registry``. Step names, arguments, hyperparameters and the condition are read from
the plan (:func:`sagespec.plan.build_plan`), which the local runner walks too; the rest is the spec's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..plan import EVALUATE_STEP, PREPROCESS_STEP, Plan, metric_definitions
from ..spec.models import BertModel, Spec

# The instance the preprocessing job runs on (the spec does not choose it).
PROCESSING_INSTANCE_TYPE = "ml.m5.xlarge"

# A PyTorch BERT project's images (see template/pipelines/__pkg__/model_bert_pytorch.py for why these):
# SageMaker's PyTorch training image, the newest sagemaker 3.27 lists (CPU and GPU builds), for the
# preprocessing, training and evaluation jobs; Hugging Face's PyTorch inference image with the newest
# transformers 4 it lists, for serving.
PYTORCH_VERSION = "2.10.0"
PYTORCH_PY_VERSION = "py313"
HUGGINGFACE_INFERENCE_TRANSFORMERS_VERSION = "4.51.3"
HUGGINGFACE_INFERENCE_PYTORCH_VERSION = "pytorch2.6.0"
HUGGINGFACE_INFERENCE_PY_VERSION = "py312"


@dataclass(frozen=True)
class PreprocessGroup:
    """``preprocess.*``: the PreprocessData step."""

    arguments: list[str]
    instance_type: str


@dataclass(frozen=True)
class BiasGroup:
    """``bias.*``: the CheckDataBias step (SageMaker Clarify), from ``spec.bias``."""

    enabled: bool
    instance_type: str
    metrics: list[str]
    thresholds: dict[str, float]
    fail_on_violation: bool
    positive_labels: list[str]
    facets: list[dict[str, Any]]  # {"column": ..., "values": [...]} per facet
    # Each unlisted facet's values in the data (the generator reads them from the dataset).
    facet_values: dict[str, list[str]]
    group_column: str | None
    # The header of preprocess.py's bias/bias.csv: label, facet columns, then the group column.
    headers: list[str]


@dataclass(frozen=True)
class TrainingGroup:
    """``training.*``: the training step (TrainModel, or TuneModel around it), from ``spec.model``."""

    step_name: str
    model_type: str
    is_bert: bool
    framework: str | None  # BERT only: "tensorflow" or "pytorch"
    instance_type: str
    instance_count: int
    volume_size_gb: int
    max_runtime_seconds: int
    hyperparameters: dict[str, str]  # the static ones: tuned hyperparameters are the tuner's
    metric_definitions: list[dict[str, str]]
    pretrained_model: str | None  # BERT only, as are the spot and checkpoint settings
    spot_enabled: bool
    spot_max_wait_seconds: int | None
    checkpoint_s3_uri: str | None
    # The images of a PyTorch BERT project (the constants above).
    pytorch_version: str = PYTORCH_VERSION
    pytorch_py_version: str = PYTORCH_PY_VERSION
    huggingface_inference_transformers_version: str = HUGGINGFACE_INFERENCE_TRANSFORMERS_VERSION
    huggingface_inference_pytorch_version: str = HUGGINGFACE_INFERENCE_PYTORCH_VERSION
    huggingface_inference_py_version: str = HUGGINGFACE_INFERENCE_PY_VERSION


@dataclass(frozen=True)
class EvaluationGroup:
    """``evaluation.*``: the EvaluateModel step and the condition on its report."""

    arguments: list[str]
    instance_type: str
    metric: str
    threshold: float
    json_path: str  # where evaluate.py writes the metric in evaluation.json


@dataclass(frozen=True)
class RegistryGroup:
    """``registry.*``: the RegisterModel step's model package group and approval."""

    model_package_group: str
    approval_status: str
    inference_instance_types: list[str]


def preprocess_group(plan: Plan) -> PreprocessGroup:
    step = plan.step(PREPROCESS_STEP)
    return PreprocessGroup(arguments=list(step.arguments), instance_type=PROCESSING_INSTANCE_TYPE)


def bias_group(spec: Spec, facet_values: dict[str, list[str]] | None) -> BiasGroup:
    bias = spec.bias
    facet_columns = list(spec.dataset.facet_columns)
    group = bias.group_column
    return BiasGroup(
        enabled=bias.enabled,
        instance_type=bias.instance_type,
        metrics=list(bias.metrics),
        thresholds={name: m.threshold for name, m in bias.metrics.items()},
        fail_on_violation=bias.fail_on_violation,
        positive_labels=[str(v) for v in bias.positive_labels],
        facets=[{"column": f.column, "values": [str(v) for v in f.values]} for f in bias.facets],
        facet_values=dict(facet_values or {}),
        group_column=group,
        headers=["label", *facet_columns] + ([group] if group and group not in facet_columns else []),
    )


def training_group(spec: Spec, plan: Plan) -> TrainingGroup:
    model = spec.model
    step = next(s for s in plan.steps if s.kind in ("training", "tuning"))
    bert = model if isinstance(model, BertModel) else None
    return TrainingGroup(
        step_name=step.name,
        model_type=model.type,
        is_bert=bert is not None,
        framework=bert.framework if bert else None,
        instance_type=model.instance_type,
        instance_count=model.instance_count,
        volume_size_gb=model.volume_size_gb,
        max_runtime_seconds=model.max_runtime_seconds,
        hyperparameters=dict(step.hyperparameters),
        metric_definitions=metric_definitions(spec),
        pretrained_model=bert.pretrained_model if bert else None,
        spot_enabled=bert.spot.enabled if bert else False,
        spot_max_wait_seconds=bert.spot.max_wait_seconds if bert else None,
        checkpoint_s3_uri=bert.checkpoint_s3_uri if bert else None,
    )


def evaluation_group(spec: Spec, plan: Plan) -> EvaluationGroup:
    return EvaluationGroup(
        arguments=list(plan.step(EVALUATE_STEP).arguments),
        instance_type=spec.evaluation.instance_type,
        metric=plan.condition.metric,
        threshold=plan.condition.threshold,
        json_path=plan.condition.json_path,
    )


def registry_group(spec: Spec) -> RegistryGroup:
    return RegistryGroup(
        model_package_group=spec.model_package_group,
        approval_status=spec.registry.approval_status,
        inference_instance_types=list(spec.registry.inference_instance_types),
    )
