"""The spec: pydantic models of one sagespec YAML file (``spec_version: 1``).

Structure and single-field rules live here; rules that relate fields to each other live in
:mod:`sagespec.spec.checks`, so that every problem in a spec is reported at once with its location.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints, field_validator

from .aws_values import (
    ContainerArgument,
    bounded,
    check_no_cfn_reference,
    check_no_sub_placeholder,
    check_one_line,
    package_problem,
    text,
)
from .fields import (
    REGION_PATTERN,
    SLUG_PATTERN,
    ClassLabel,
    InstanceType,
    Int32,
    NonEmpty,
    OneLine,
    S3Uri,
    SageMakerName,
    StrictModel,
    TrainingSeconds,
    _check_tags,
)
from .models_delivery import CI, Studio
from .models_deployment import Deployment
from .models_labeling import Labeling
from .models_monitoring import Batch, Monitoring
from .models_tracking import Tracking

SPEC_VERSION = 1


def _check_slug(slug: str) -> str:
    problem = package_problem(slug.replace("-", "_"))
    if problem:
        raise ValueError(
            f"the pipeline's Python package would be pipelines.{slug.replace('-', '_')}: {problem}; "
            "choose another slug"
        )
    return slug


# --- project
class Project(StrictModel):
    """Who the generated project is."""

    name: Annotated[OneLine, AfterValidator(check_no_cfn_reference)] = Field(
        description="Human-readable project name, shown in READMEs and the Studio template's description."
    )
    slug: Annotated[str, StringConstraints(pattern=SLUG_PATTERN), AfterValidator(_check_slug)] = Field(
        description="Lower-case id (2-32 chars, letters, digits, '-'): names the pipeline, its package "
        "pipelines/<slug with '_'>, and the AWS resources. 32 is SageMaker Projects' limit. The package "
        "name must not be a Python keyword, a standard library module or a module of the generated project."
    )
    description: str = ""
    region: Annotated[str, StringConstraints(pattern=REGION_PATTERN)] = "us-east-1"
    tags: dict[
        Annotated[str, StringConstraints(min_length=1, max_length=128)],
        Annotated[str, StringConstraints(max_length=256)],
    ] = Field(
        default_factory=dict,
        description="Tags put on every AWS resource the project creates (AWS's tag characters: letters, "
        "digits, spaces and _ . : / = + - @; no 'aws:' keys).",
    )

    _tags = field_validator("tags")(_check_tags)

    @property
    def package(self) -> str:
        """The Python package name of the pipeline: the slug with '-' as '_'."""
        return self.slug.replace("-", "_")


# --- dataset
class Split(StrictModel):
    train: float = Field(0.8, gt=0, lt=1)
    validation: float = Field(0.1, gt=0, lt=1)
    test: float = Field(0.1, gt=0, lt=1)


class Dataset(StrictModel):
    """Where the data is and how to turn it into labelled text."""

    source: Annotated[NonEmpty, AfterValidator(check_no_sub_placeholder)] = Field(
        description="A local path (relative to the spec file) or an s3:// URI of the raw dataset."
    )
    format: Literal["csv", "parquet"] = "csv"
    text_column: ContainerArgument
    label_column: ContainerArgument
    label_mapping: dict[ClassLabel, ClassLabel] = Field(
        min_length=2,
        description="Raw label value -> class label, e.g. star ratings {1: -1, 2: -1, 3: 0, 4: 1, 5: 1}. "
        "Every raw value in the data must be mapped; rows whose value is unmapped are an error.",
    )
    facet_columns: list[ContainerArgument] = Field(
        default_factory=list, description="Columns kept beside text and label for the bias check."
    )
    split: Split = Field(default_factory=Split)
    balance: Literal["none", "downsample"] = Field(
        "none", description="'downsample' keeps as many rows of each class as the rarest class has."
    )
    seed: Int32 = 42

    @property
    def classes(self) -> list[ClassLabel]:
        """Class labels in a stable order: first appearance in the mapping."""
        return list(dict.fromkeys(self.label_mapping.values()))


# --- bias
BiasMetricName = Literal["CI", "DPL", "KL", "JS", "LP", "TVD", "KS", "CDDL"]


class BiasMetric(StrictModel):
    threshold: float = Field(gt=0, description="A breach is |value| > threshold.")


class Facet(StrictModel):
    column: ContainerArgument
    values: list[ClassLabel] = Field(
        default_factory=list,
        description="The sensitive group's values; empty means every value of the column in turn.",
    )


class Bias(StrictModel):
    """Pre-training bias checks (SageMaker Clarify) on the processed data."""

    enabled: bool = True
    facets: list[Facet] = Field(default_factory=list)
    positive_labels: list[ClassLabel] = Field(
        default_factory=list, description="Class labels Clarify treats as the positive outcome."
    )
    group_column: ContainerArgument | None = Field(None, description="Group variable for CDDL.")
    metrics: dict[BiasMetricName, BiasMetric] = Field(default_factory=dict)
    fail_on_violation: bool = Field(
        True, description="Whether a breached threshold stops the pipeline (ClarifyCheckStep)."
    )
    instance_type: InstanceType = "ml.m5.xlarge"


# --- model
class Spot(StrictModel):
    enabled: bool = False
    max_wait_seconds: TrainingSeconds = 172_800


class Debugger(StrictModel):
    """SageMaker Debugger and Profiler for the training job, and the same locally (a profiler report)."""

    profiler: bool = Field(
        False,
        description="Sample system utilisation (CPU, memory, GPU) while training and write the profiler "
        "report: SageMaker's ProfilerConfig and ProfilerReport rule; locally profiler-report.html.",
    )
    system_monitor_interval_ms: Literal[100, 200, 500, 1000, 5000, 60000] = Field(
        500, description="How often system utilisation is sampled (the values SageMaker accepts)."
    )
    rules: dict[NonEmpty, dict[NonEmpty, Any]] = Field(
        default_factory=dict,
        description="Built-in Debugger rule name -> its parameters ({} for the defaults). The rules that "
        "read the losses are supported: LossNotDecreasing, Overfit, Overtraining, StalledTrainingRule.",
    )
    stop_training_on: list[NonEmpty] = Field(
        default_factory=list,
        description="Rules (from rules) whose firing stops the training job (the StopTraining action).",
    )
    tensorboard: bool = Field(
        False, description="Write TensorBoard logs; SageMaker uploads them (TensorBoardOutputConfig)."
    )

    @property
    def enabled(self) -> bool:
        """Whether anything here asks for work: the profiler, a rule or TensorBoard."""
        return self.profiler or bool(self.rules) or self.tensorboard


class _ModelBase(StrictModel):
    instance_count: int = Field(1, ge=1, le=64)
    volume_size_gb: bounded(int, 1, 16_384, "SageMaker's largest training volume, 16 TiB") = 30
    max_runtime_seconds: TrainingSeconds = 86_400
    hyperparameters: dict[str, Any] = Field(
        default_factory=dict, description="Overrides of the algorithm's defaults (see the catalog)."
    )


class BlazingTextModel(_ModelBase):
    """SageMaker's built-in BlazingText in supervised mode (fastText-compatible text classification)."""

    type: Literal["blazingtext"]
    instance_type: InstanceType = "ml.c5.2xlarge"
    debugger: Debugger | None = Field(
        None, description="Not available: BlazingText is a built-in algorithm with no script to hook."
    )


class BertModel(_ModelBase):
    """A Hugging Face BERT-family model fine-tuned with TensorFlow (default) or PyTorch on SageMaker's
    training image for that framework."""

    type: Literal["bert"]
    framework: Literal["tensorflow", "pytorch"] = Field(
        "tensorflow",
        description="The training script's framework. Everything else in this section means the same in "
        "both; 'xla' is TensorFlow's, 'compile' PyTorch's.",
    )
    pretrained_model: ContainerArgument = Field(
        description="A Hugging Face model id (SageMaker downloads it) or a local folder with config, "
        "weights and tokenizer (the local runner never reaches a model hub)."
    )
    instance_type: InstanceType = "ml.g5.xlarge"
    mixed_precision: Literal["auto", "off", "float16", "bfloat16"] = Field(
        "auto", description="'auto': bfloat16 on Ampere/Hopper GPUs, float16 on older ones, off on CPU."
    )
    xla: bool = Field(False, description="TensorFlow only: compile the training step with XLA.")
    compile: bool = Field(False, description="PyTorch only: torch.compile the model (pays off on GPUs).")
    spot: Spot = Field(default_factory=Spot)
    checkpoint_s3_uri: S3Uri | None = None
    debugger: Debugger = Field(default_factory=Debugger)


# The AutoML objectives SageMaker Autopilot accepts for a multiclass problem (AutoMLJobObjective's
# MetricName). F1, AUC, Precision and Recall are binary-only; the rest of the enum is regression or
# forecasting.
AutopilotObjective = Literal["Accuracy", "BalancedAccuracy", "F1macro", "PrecisionMacro", "RecallMacro"]


class AutopilotModel(StrictModel):
    """SageMaker Autopilot (an AutoML job, CreateAutoMLJob) on the processed text,label CSV: it tries
    candidate models itself and the best candidate is evaluated and registered. Locally, a search over
    text-classification families (TF-IDF + linear models, fastText, gradient boosting) stands in."""

    type: Literal["autopilot"]
    max_candidates: bounded(int, 1, 750, "Autopilot's MaxCandidates") = Field(
        3, description="How many candidate models the AutoML job may train."
    )
    objective: AutopilotObjective = Field(
        "Accuracy", description="The validation metric candidates are ranked by (multiclass objectives)."
    )
    mode: Literal["ENSEMBLING", "HYPERPARAMETER_TUNING", "AUTO"] = Field(
        "ENSEMBLING",
        description="Autopilot's training mode. A SageMaker pipeline's AutoML step runs ENSEMBLING only.",
    )
    max_runtime_per_training_job_seconds: TrainingSeconds = Field(
        1200, description="The longest one candidate's training may run."
    )
    max_total_runtime_seconds: bounded(int, 1, 2_592_000, "30 days") = Field(
        7200, description="The longest the whole AutoML job may run."
    )

    # Autopilot chooses its own instances and volumes; the rest of the project reads these of any model.
    @property
    def instance_type(self) -> str:
        return "ml.m5.xlarge"

    @property
    def instance_count(self) -> int:
        return 1

    @property
    def volume_size_gb(self) -> int:
        return 30

    @property
    def max_runtime_seconds(self) -> int:
        return self.max_total_runtime_seconds

    @property
    def hyperparameters(self) -> dict[str, Any]:
        return {}


Model = Annotated[BlazingTextModel | BertModel | AutopilotModel, Field(discriminator="type")]


# --- tuning
class ContinuousRange(StrictModel):
    type: Literal["continuous"]
    min: float
    max: float
    scaling: Literal["Auto", "Linear", "Logarithmic", "ReverseLogarithmic"] = "Auto"


class IntegerRange(StrictModel):
    type: Literal["integer"]
    min: int
    max: int
    scaling: Literal["Auto", "Linear", "Logarithmic", "ReverseLogarithmic"] = "Auto"


class CategoricalRange(StrictModel):
    type: Literal["categorical"]
    values: list[int | float | str | bool] = Field(min_length=1)


Range = Annotated[ContinuousRange | IntegerRange | CategoricalRange, Field(discriminator="type")]


class Objective(StrictModel):
    metric: text(255, "SageMaker's metric name limit", check_one_line)
    direction: Literal["Maximize", "Minimize"] = "Maximize"


class WarmStart(StrictModel):
    parent_jobs: list[NonEmpty] = Field(min_length=1, max_length=5)
    type: Literal["IdenticalDataAndAlgorithm", "TransferLearning"] = "IdenticalDataAndAlgorithm"


class Tuning(StrictModel):
    """Hyperparameter tuning: the training step becomes a TuningStep."""

    enabled: bool = True
    strategy: Literal["Random", "Bayesian", "Hyperband", "Grid"] = "Bayesian"
    objective: Objective
    max_jobs: int = Field(10, ge=1, le=750)
    max_parallel_jobs: int = Field(1, ge=1, le=100)
    early_stopping: Literal["Off", "Auto"] = "Off"
    ranges: dict[str, Range] = Field(min_length=1)
    warm_start: WarmStart | None = None


# --- evaluation, registry
class Evaluation(StrictModel):
    """The condition step: register only when the test metric reaches the threshold."""

    metric: Literal["accuracy", "macro_f1", "weighted_f1"] = "accuracy"
    threshold: float = Field(0.5, ge=0, le=1)
    instance_type: InstanceType = "ml.m5.xlarge"


class Registry(StrictModel):
    model_package_group: SageMakerName | None = Field(None, description="Defaults to '<slug>-models'.")
    approval_status: Literal["PendingManualApproval", "Approved", "Rejected"] = "PendingManualApproval"
    inference_instance_types: list[InstanceType] = Field(default_factory=lambda: ["ml.m5.large"])


# --- feature store
# SageMaker Feature Store's naming rules (CreateFeatureGroup): 1-64 characters, separators inside only.
FEATURE_GROUP_NAME_PATTERN = r"^[a-zA-Z0-9]([_-]*[a-zA-Z0-9]){0,63}$"
FEATURE_NAME_PATTERN = r"^[a-zA-Z0-9]([-_]*[a-zA-Z0-9]){0,63}$"
FeatureName = Annotated[str, StringConstraints(pattern=FEATURE_NAME_PATTERN, min_length=1, max_length=64)]


class FeatureStore(StrictModel):
    """SageMaker Feature Store: the preprocessing step also stores each example's BERT features (BERT only).

    One record per example: the record identifier, input_ids and attention_mask (JSON arrays in String
    features), label, split and event time.
    """

    enabled: bool = True
    feature_group_name: (
        Annotated[str, StringConstraints(pattern=FEATURE_GROUP_NAME_PATTERN, min_length=1, max_length=64)]
        | None
    ) = Field(None, description="Defaults to '<slug>-features'.")
    record_identifier: FeatureName = Field(
        "review_id",
        description="The record identifier feature: the dataset's column of that name when it has one, "
        "else the row's position in the dataset file.",
    )
    event_time: FeatureName = Field("event_time", description="The event time feature (ISO-8601, UTC).")
    online: bool = Field(False, description="Keep the latest record per id in the online store.")
    offline: bool = Field(
        True, description="Keep every record in the offline store (S3, queried with Athena)."
    )
    offline_store_s3_uri: S3Uri | None = Field(
        None, description="Where the offline store writes its Parquet files; required with offline: true."
    )


# --- root
class Spec(StrictModel):
    """One sagespec project."""

    spec_version: Literal[1] = Field(description="The spec format version; only 1 exists.")
    project: Project
    dataset: Dataset
    bias: Bias = Field(default_factory=Bias)
    model: Model
    tuning: Tuning | None = None
    feature_store: FeatureStore | None = None
    evaluation: Evaluation = Field(default_factory=Evaluation)
    registry: Registry = Field(default_factory=Registry)
    deployment: Deployment = Field(default_factory=Deployment)
    labeling: Labeling = Field(default_factory=Labeling)
    ci: CI = Field(default_factory=CI)
    studio: Studio = Field(default_factory=Studio)
    tracking: Tracking | None = Field(
        None, description="Experiment tracking with MLflow; without it nothing is logged."
    )
    monitoring: Monitoring = Field(default_factory=Monitoring)
    batch: Batch | None = Field(
        None, description="Batch scoring of an S3 prefix with the registered model, without an endpoint."
    )

    @property
    def model_package_group(self) -> str:
        return self.registry.model_package_group or f"{self.project.slug}-models"

    @property
    def endpoint_name(self) -> str:
        return self.deployment.endpoint_name or self.project.slug

    @property
    def tuning_enabled(self) -> bool:
        return self.tuning is not None and self.tuning.enabled

    @property
    def mlflow_experiment(self) -> str | None:
        """The MLflow experiment the runs log to (None: the spec tracks nothing)."""
        if self.tracking is None:
            return None
        return self.tracking.mlflow.experiment or self.project.slug

    @property
    def feature_store_enabled(self) -> bool:
        return self.feature_store is not None and self.feature_store.enabled

    @property
    def feature_group_name(self) -> str:
        configured = self.feature_store.feature_group_name if self.feature_store else None
        return configured or f"{self.project.slug}-features"

    @property
    def bias_columns(self) -> list[str]:
        """The columns of PreprocessData's bias CSV parts, in order: label, the facet columns, then the
        group column (unless it is a facet already). The parts have no header row: Clarify is given these
        names as its ``headers`` and the local CheckDataBias step reads them back with them."""
        facets = list(self.dataset.facet_columns)
        group = self.bias.group_column
        return ["label", *facets] + ([group] if group and group not in facets else [])


def camel_words(text: str) -> str:
    """'reviews-bert' -> 'ReviewsBert' (for names that must be CamelCase)."""
    return "".join(part.capitalize() for part in re.split(r"[^a-zA-Z0-9]+", text) if part)
