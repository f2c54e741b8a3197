"""The spec: pydantic models of one sagespec YAML file (``spec_version: 1``).

Structure and single-field rules live here; rules that relate fields to each other live in
:mod:`sagespec.spec.checks`, so that every problem in a spec is reported at once with its location.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from .aws_values import (
    FLOAT32_MAX,
    INT32_MAX,
    TARGET_VALUE_MAX,
    ContainerArgument,
    aws_pattern,
    bounded,
    check_alarm_name,
    check_no_sub_placeholder,
    check_one_line,
    check_s3_uri,
    check_s3_uri_in_sub,
    package_problem,
    text,
)
from .catalog import INSTANCE_TYPE_PATTERN

SPEC_VERSION = 1

SLUG_PATTERN = r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$"
# SageMaker resource names (pipelines, model package groups, endpoints): letters, digits and hyphens.
SAGEMAKER_NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
REGION_PATTERN = r"^[a-z]{2}(-gov)?-[a-z]+-\d$"
S3_URI_PATTERN = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$"


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# AWS tags: letters, digits and spaces in any script, and _ . : / = + - @. The aws: prefix is AWS's own.
TAG_PUNCTUATION = frozenset("_.:/=+-@")


def _tag_text_problem(text: str) -> str | None:
    for char in text:
        if unicodedata.category(char)[0] not in "LNZ" and char not in TAG_PUNCTUATION:
            return f"{char!r} is not allowed in AWS tags (letters, digits, spaces and _ . : / = + - @)"
    return None


def _check_tags(tags: dict[str, str]) -> dict[str, str]:
    for key, value in tags.items():
        problem = _tag_text_problem(key) or _tag_text_problem(value)
        if problem:
            raise ValueError(f"tag {key!r}: {problem}")
        if key.lower().startswith("aws:"):
            raise ValueError(f"tag {key!r}: keys starting with 'aws:' are reserved for AWS")
    return tags


def _check_instance_type(value: str) -> str:
    if not INSTANCE_TYPE_PATTERN.match(value):
        raise ValueError(f"{value!r} is not a SageMaker instance type (like 'ml.m5.xlarge')")
    return value


InstanceType = Annotated[
    str,
    AfterValidator(_check_instance_type),
    Field(json_schema_extra={"pattern": INSTANCE_TYPE_PATTERN.pattern}),
]
SageMakerName = Annotated[str, StringConstraints(pattern=SAGEMAKER_NAME_PATTERN, min_length=1, max_length=63)]
NonEmpty = Annotated[str, StringConstraints(min_length=1)]
ClassLabel = int | str
S3Uri = Annotated[
    str,
    AfterValidator(check_s3_uri),
    Field(json_schema_extra={"pattern": S3_URI_PATTERN, "minLength": 8, "maxLength": 1024}),
]
# Where endpoints capture data (DataCaptureConfig.DestinationS3Uri: at most 512 characters); the
# Studio project template also writes it into a CloudFormation !Sub string.
CaptureS3Uri = Annotated[
    str,
    StringConstraints(max_length=512),
    AfterValidator(check_s3_uri_in_sub),
    Field(json_schema_extra={"pattern": S3_URI_PATTERN, "minLength": 8}),
]
OneLine = Annotated[str, StringConstraints(min_length=1), AfterValidator(check_one_line)]
# A 32-bit signed integer: what the AWS APIs and the libraries that read seeds take.
Int32 = bounded(int, 0, INT32_MAX, "a 32-bit integer, as the AWS APIs and the libraries take it")
PositiveInt32 = bounded(int, 1, INT32_MAX, "a 32-bit integer, as the AWS APIs take it")
Seconds32 = bounded(int, 0, INT32_MAX, "a 32-bit integer, as the AWS APIs take it")
# SageMaker's limits on one training job.
TrainingSeconds = bounded(int, 1, 2_419_200, "28 days, SageMaker's longest training job")


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

    name: OneLine = Field(description="Human-readable project name, shown in READMEs.")
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
    profiler: bool = False
    system_monitor_interval_ms: Literal[100, 200, 500, 1000, 5000, 60000] = 500


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


class BertModel(_ModelBase):
    """A Hugging Face BERT-family model fine-tuned with TensorFlow on the SageMaker TF training image."""

    type: Literal["bert"]
    pretrained_model: ContainerArgument = Field(
        description="A Hugging Face model id (SageMaker downloads it) or a local folder with config, "
        "weights and tokenizer (the local runner never reaches a model hub)."
    )
    instance_type: InstanceType = "ml.g5.xlarge"
    mixed_precision: Literal["auto", "off", "float16", "bfloat16"] = Field(
        "auto", description="'auto': bfloat16 on Ampere/Hopper GPUs, float16 on older ones, off on CPU."
    )
    xla: bool = False
    spot: Spot = Field(default_factory=Spot)
    checkpoint_s3_uri: S3Uri | None = None
    debugger: Debugger = Field(default_factory=Debugger)


Model = Annotated[BlazingTextModel | BertModel, Field(discriminator="type")]


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


# --- deployment
class VariantModel(StrictModel):
    """Which registered model a variant serves."""

    select: Literal["latest-approved", "newest", "version"] = "latest-approved"
    version: PositiveInt32 | None = Field(None, description="With select: version.")


class Serverless(StrictModel):
    memory_size_mb: Literal[1024, 2048, 3072, 4096, 5120, 6144] = 2048
    max_concurrency: int = Field(5, ge=1, le=200)


class Variant(StrictModel):
    name: SageMakerName
    model: VariantModel = Field(default_factory=VariantModel)
    instance_type: InstanceType = "ml.m5.large"
    initial_instance_count: PositiveInt32 = 1
    initial_weight: bounded(float, 0, FLOAT32_MAX, "InitialVariantWeight is a 32-bit float") = Field(
        1.0, description="Relative share of traffic; must be positive."
    )
    serverless: Serverless | None = None


class TrafficShifting(StrictModel):
    type: Literal["all-at-once", "canary", "linear"] = "all-at-once"
    # Their ranges are cross-field checks (they depend on type), so a wrong size leaves the rest of
    # the deployment section checked.
    canary_percent: float | None = Field(
        None, description="Canary: share of capacity first shifted (a whole percent, 1-99)."
    )
    linear_step_percent: float | None = Field(
        None, description="Linear: share shifted per step (a whole percent, 1-50)."
    )
    wait_seconds: int = Field(600, ge=0, le=3600, description="Bake time between steps.")
    termination_wait_seconds: int = Field(0, ge=0, le=3600)
    rollback_alarms: list[text(255, "CloudWatch's alarm name limit", check_alarm_name)] = Field(
        default_factory=list,
        max_length=10,
        description="CloudWatch alarm names (1-255 characters each, at most 10).",
    )


class Autoscaling(StrictModel):
    variant: NonEmpty
    min_instances: PositiveInt32 = 1
    max_instances: PositiveInt32 = 2
    target_invocations_per_instance: bounded(
        float, 0, TARGET_VALUE_MAX, "Application Auto Scaling's TargetValue limit, 2^360", exclusive_low=True
    ) = 100.0
    scale_in_cooldown_seconds: Seconds32 = 300
    scale_out_cooldown_seconds: Seconds32 = 60


class DataCapture(StrictModel):
    enabled: bool = False
    sampling_percentage: int = Field(100, ge=0, le=100)
    destination: CaptureS3Uri | None = None


class Deployment(StrictModel):
    enabled: bool = True
    endpoint_name: SageMakerName | None = Field(None, description="Defaults to '<slug>'.")
    variants: list[Variant] = Field(
        default_factory=lambda: [Variant(name="AllTraffic")], min_length=1, max_length=10
    )
    traffic_shifting: TrafficShifting = Field(default_factory=TrafficShifting)
    autoscaling: list[Autoscaling] = Field(default_factory=list)
    data_capture: DataCapture = Field(default_factory=DataCapture)


# --- labeling
# CognitoConfig's UserPool (CreateWorkforce; pool ids are '<region>_<id>') and Cognito's app client ids.
COGNITO_USER_POOL_PATTERN = r"^[A-Za-z0-9_-]+_[0-9a-zA-Z]+$"
COGNITO_CLIENT_ID_PATTERN = r"^[A-Za-z0-9_+]+$"
CognitoUserPoolId = Annotated[
    str,
    AfterValidator(
        aws_pattern(COGNITO_USER_POOL_PATTERN, 55, "a Cognito user pool id such as 'us-east-1_AbC123'")
    ),
    Field(json_schema_extra={"pattern": COGNITO_USER_POOL_PATTERN, "minLength": 1, "maxLength": 55}),
]
CognitoClientId = Annotated[
    str,
    AfterValidator(
        aws_pattern(COGNITO_CLIENT_ID_PATTERN, 128, "a Cognito app client id (letters, digits, _ and +)")
    ),
    Field(json_schema_extra={"pattern": COGNITO_CLIENT_ID_PATTERN, "minLength": 1, "maxLength": 128}),
]


def check_task_title(value: str) -> str:
    """A2I's TaskTitle: tab, CR, LF and the printable characters of the Basic Multilingual Plane."""
    for char in value:
        if char not in "\t\n\r" and (ord(char) < 0x20 or 0xD800 <= ord(char) <= 0xDFFF or ord(char) > 0xFFFD):
            raise ValueError(f"{char!r} is not allowed in an A2I task title")
    return value


class Workforce(StrictModel):
    work_team_arn: (
        Annotated[
            str,
            StringConstraints(
                pattern=r"^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:workteam/.+$", max_length=256
            ),
        ]
        | None
    ) = None
    cognito_user_pool_id: CognitoUserPoolId | None = None
    cognito_client_id: CognitoClientId | None = None


class Instructions(StrictModel):
    """Shown to reviewers in the A2I worker task template (at most 128,000 characters in all)."""

    short: NonEmpty = "Choose the sentiment of the review."
    full: str = ""


class GroundTruth(StrictModel):
    enabled: bool = False
    input_manifest: S3Uri | None = None


class Labeling(StrictModel):
    """Human review (Amazon A2I) of low-confidence predictions, and Ground Truth labeling."""

    enabled: bool = False
    confidence_threshold: float = Field(0.7, gt=0, lt=1)
    labels: dict[
        Annotated[str, StringConstraints(min_length=1), AfterValidator(check_one_line)], ClassLabel
    ] = Field(default_factory=dict, description="Name shown to people -> the model's class label.")
    task_title: text(128, "A2I's task title limit", check_task_title) = "Review sentiment"
    task_description: text(255, "A2I's task description limit", check_one_line) = (
        "Classify the sentiment of a product review"
    )
    instructions: Instructions = Field(default_factory=Instructions)
    workers_per_item: int = Field(1, ge=1, le=9)
    task_time_limit_seconds: int = Field(3600, ge=30, le=28_800)
    task_availability_seconds: bounded(
        int, 60, 864_000, "A2I and Ground Truth keep a task available from 1 minute to 10 days"
    ) = 864_000
    workforce: Workforce = Field(default_factory=Workforce)
    output_s3_prefix: S3Uri | None = None
    ground_truth: GroundTruth = Field(default_factory=GroundTruth)


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


# --- ci, studio
# An IAM role ARN as the AWS APIs take it (RoleArn: 20-2048 characters, IAM's path and name characters).
ROLE_ARN_PATTERN = r"^arn:aws[a-z\-]*:iam::[0-9]{12}:role/?[a-zA-Z_0-9+=,.@\-/]+$"
RoleArn = Annotated[
    str,
    AfterValidator(
        aws_pattern(ROLE_ARN_PATTERN, 2048, "an IAM role ARN such as 'arn:aws:iam::123456789012:role/Name'")
    ),
    Field(json_schema_extra={"pattern": ROLE_ARN_PATTERN, "minLength": 20, "maxLength": 2048}),
]


def check_branch(value: str) -> str:
    """A git branch name (git check-ref-format's rules, which GitHub and CodeConnections apply)."""
    check_one_line(value)
    bad = sorted(set(value) & set(" ~^:?*[\\"))
    if bad:
        raise ValueError(f"git branch names must not contain {' '.join(map(repr, bad))}")
    if (
        ".." in value
        or "@{" in value
        or value.startswith(("-", "/", "."))
        or value.endswith(("/", ".", ".lock"))
    ):
        raise ValueError(f"{value!r} is not a valid git branch name")
    return value


class GitHubActions(StrictModel):
    enabled: bool = True
    role_arn: RoleArn | None = Field(
        None, description="Role assumed through GitHub's OIDC provider; no static keys."
    )
    branch: Annotated[str, StringConstraints(min_length=1, max_length=255), AfterValidator(check_branch)] = (
        "main"
    )


class CodeBuild(StrictModel):
    enabled: bool = True
    image: OneLine = "aws/codebuild/amazonlinux-x86_64-standard:5.0"


class CI(StrictModel):
    python_version: Literal["3.11", "3.12"] = "3.12"
    github_actions: GitHubActions = Field(default_factory=GitHubActions)
    codebuild: CodeBuild = Field(default_factory=CodeBuild)


CONNECTION_ARN_PATTERN = (
    r"^arn:aws[a-z\-]*:(codeconnections|codestar-connections):[a-z0-9\-]+:[0-9]{12}:"
    r"connection/[A-Za-z0-9\-]+$"
)
REPOSITORY_ID_PATTERN = r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)+$"


class Studio(StrictModel):
    """The SageMaker Studio project template (studio/project-template.yaml, a Service Catalog product)."""

    enabled: bool = True
    repository: Literal["codeconnections", "codecommit"] = Field(
        "codeconnections",
        description="Where a project's code lives: a GitHub repository through an AWS CodeConnections "
        "connection, or a new CodeCommit repository seeded with this code (CodeCommit is closed to new "
        "customers).",
    )
    connection_arn: Annotated[str, StringConstraints(pattern=CONNECTION_ARN_PATTERN)] | None = Field(
        None, description="Default of the template's ConnectionArn parameter (codeconnections)."
    )
    repository_id: Annotated[str, StringConstraints(pattern=REPOSITORY_ID_PATTERN)] | None = Field(
        None, description="owner/name of the GitHub repository: default of FullRepositoryId."
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
    def feature_store_enabled(self) -> bool:
        return self.feature_store is not None and self.feature_store.enabled

    @property
    def feature_group_name(self) -> str:
        configured = self.feature_store.feature_group_name if self.feature_store else None
        return configured or f"{self.project.slug}-features"


def camel_words(text: str) -> str:
    """'reviews-bert' -> 'ReviewsBert' (for names that must be CamelCase)."""
    return "".join(part.capitalize() for part in re.split(r"[^a-zA-Z0-9]+", text) if part)
