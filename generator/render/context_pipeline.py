"""The pipeline's groups of the template context, one per step: ``prepare``, ``preprocess``, ``bias``,
``training``, ``evaluation`` and ``registry``. Step names, arguments, inputs (and how the instances of
a job share them), hyperparameters and the condition are read from the plan
(:func:`sagespec.plan.build_plan`), which the local runner walks too; the rest is the spec's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..plan import EVALUATE_STEP, PREPARE_STEP, PREPROCESS_STEP, Plan, Step, StepInput, metric_definitions
from ..spec.models import BertModel, Spec

# The instance the data steps (PrepareData, PreprocessData) run on (the spec does not choose it).
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
class DataInput:
    """One S3 input of a data step, as the plan gives it."""

    name: str
    # The output of the step before that the input reads; None: the InputDataUrl parameter.
    output: str | None
    local_path: str
    # SageMaker's S3DataDistributionType: "ShardedByS3Key" (each instance gets its share of the files)
    # or "FullyReplicated" (every instance gets them all).
    distribution: str


@dataclass(frozen=True)
class DataStepGroup:
    """``prepare.*``: a data step of the plan (PrepareData), its script, arguments, inputs and outputs."""

    step_name: str
    script: str
    arguments: list[str]
    inputs: list[DataInput]
    outputs: dict[str, str]  # output name -> the container path the script writes it to


@dataclass(frozen=True)
class PreprocessGroup(DataStepGroup):
    """``preprocess.*``: the PreprocessData step, and the instance type of both data steps."""

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
    # The columns of preprocess.py's headerless bias/bias-<part>.csv files (Spec.bias_columns).
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
    outputs: dict[str, str]  # output name -> the container path evaluate.py writes it to
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


def _data_input(step: Step, item: StepInput) -> DataInput:
    kind, _, source = item.source.partition(":")
    # pipeline.py hands a data step either the InputDataUrl parameter or the step before's outputs.
    if kind == "param" and source != "InputDataUrl":
        raise ValueError(f"{step.name} reads a parameter pipeline.py does not have: {item.source}")
    output = None if kind == "param" else source.rsplit("/", 1)[1]
    return DataInput(item.name, output, item.destination, item.distribution)


def _data_step(plan: Plan, name: str) -> dict[str, Any]:
    """The fields of a data step's group, read from the plan."""
    step = plan.step(name)
    return {
        "step_name": step.name,
        "script": step.script or "",
        "arguments": list(step.arguments),
        "inputs": [_data_input(step, item) for item in step.inputs],
        "outputs": {output.name: output.source for output in step.outputs},
    }


def prepare_group(plan: Plan) -> DataStepGroup:
    return DataStepGroup(**_data_step(plan, PREPARE_STEP))


def preprocess_group(plan: Plan) -> PreprocessGroup:
    return PreprocessGroup(**_data_step(plan, PREPROCESS_STEP), instance_type=PROCESSING_INSTANCE_TYPE)


def bias_group(spec: Spec, facet_values: dict[str, list[str]] | None) -> BiasGroup:
    bias = spec.bias
    return BiasGroup(
        enabled=bias.enabled,
        instance_type=bias.instance_type,
        metrics=list(bias.metrics),
        thresholds={name: m.threshold for name, m in bias.metrics.items()},
        fail_on_violation=bias.fail_on_violation,
        positive_labels=[str(v) for v in bias.positive_labels],
        facets=[{"column": f.column, "values": [str(v) for v in f.values]} for f in bias.facets],
        facet_values=dict(facet_values or {}),
        group_column=bias.group_column,
        headers=spec.bias_columns,
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
    step = plan.step(EVALUATE_STEP)
    return EvaluationGroup(
        arguments=list(step.arguments),
        outputs={output.name: output.source for output in step.outputs},
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
