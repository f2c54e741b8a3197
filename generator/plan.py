"""The pipeline's step list, computed once from the spec.

Both the SageMaker pipeline (rendered into ``pipelines/<pkg>/pipeline.py``) and the local runner
(``sagespec local run``) take their steps from :func:`build_plan`, so the two cannot drift apart:
same steps, same order, same scripts, same arguments, hyperparameters and condition.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

from .spec.catalog import algorithm_for, hyperparameter_text
from .spec.checks_tuning import grid_size
from .spec.models import AutopilotModel, BertModel, CategoricalRange, IntegerRange, Spec

StepKind = Literal[
    "processing", "bias-check", "training", "tuning", "quality-check", "condition", "register", "fail"
]
QualityCheck = Literal["data-quality", "model-quality"]

PROCESSING_ROOT = "/opt/ml/processing"
INPUT_DATA_DIR = f"{PROCESSING_ROOT}/input/data"
PREPROCESS_OUTPUT_DIR = f"{PROCESSING_ROOT}/output"
# PrepareData's outputs (cleaned rows as Parquet parts; per-class key histograms), PreprocessData's inputs.
PREPARED_OUTPUTS = ("rows", "counts")
# Where a local run's PreprocessData writes the feature group's records instead of ingesting them
# (`--offline-store-dir`); the local runner maps it into the step's folder like every container path.
LOCAL_OFFLINE_STORE_DIR = f"{PREPROCESS_OUTPUT_DIR}/feature-store"
SPLITS = ("train", "validation", "test")

# The steps' names: the pipeline definition's step names, the local run's step folders.
PREPARE_STEP = "PrepareData"
PREPROCESS_STEP = "PreprocessData"
BIAS_STEP = "CheckDataBias"
TRAIN_STEP = "TrainModel"
TUNE_STEP = "TuneModel"  # the training step, when the spec tunes
EVALUATE_STEP = "EvaluateModel"
CONDITION_STEP = "CheckEvaluation"
REGISTER_STEP = "RegisterModel"
FAIL_STEP = "FailPipeline"
# With monitoring: the baselines Model Monitor compares the endpoint's traffic with, registered with the
# model package as its drift-check baselines.
DATA_QUALITY_STEP = "BaselineDataQuality"
MODEL_QUALITY_STEP = "BaselineModelQuality"
EVALUATION_REPORT = "evaluation.json"
# What EvaluateModel writes for the baselines (with monitoring), under its "monitoring" output: the
# monitored features of the test split's texts and predictions; each test prediction beside its label.
MONITORING_OUTPUT_DIR = f"{PROCESSING_ROOT}/monitoring"
DATA_QUALITY_BASELINE = "data-quality-baseline.csv"
MODEL_QUALITY_BASELINE = "model-quality-baseline.csv"


Distribution = Literal["FullyReplicated", "ShardedByS3Key"]


@dataclass(frozen=True)
class StepInput:
    name: str
    source: str  # "param:<Name>" or "step:<StepName>/<output name>" ("model" = the trained artifact)
    destination: str  # container path (processing) or channel name (training)
    # ShardedByS3Key: each instance of the job gets its own share of the files (SageMaker's
    # S3DataDistributionType); FullyReplicated: every instance gets them all.
    distribution: Distribution = "FullyReplicated"


@dataclass(frozen=True)
class StepOutput:
    name: str
    source: str  # container path the script writes


@dataclass(frozen=True)
class Step:
    name: str
    kind: StepKind
    script: str | None = None  # file name inside pipelines/<pkg>/
    arguments: tuple[str, ...] = ()
    inputs: tuple[StepInput, ...] = ()
    outputs: tuple[StepOutput, ...] = ()
    hyperparameters: dict[str, str] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    check: QualityCheck | None = None  # quality-check steps: which baseline


@dataclass(frozen=True)
class Condition:
    """Register when ``metric`` read from evaluation.json is >= the EvaluationThreshold parameter."""

    metric: str
    json_path: str
    threshold: float
    if_true: str
    if_false: str


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    condition: Condition
    fail_message: str

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.steps]


def _class_strings(spec: Spec) -> list[str]:
    return [str(c) for c in spec.dataset.classes]


def prepare_arguments(spec: Spec) -> list[str]:
    """prepare.py: read the raw files, keep the labelled rows, key them for the split (one pass, sharded)."""
    ds = spec.dataset
    args = [
        "--input-dir", INPUT_DATA_DIR,
        "--output-dir", PREPROCESS_OUTPUT_DIR,
        "--text-column", ds.text_column,
        "--label-column", ds.label_column,
        "--label-mapping", json.dumps({str(k): str(v) for k, v in ds.label_mapping.items()}),
        "--facet-columns", json.dumps(list(ds.facet_columns)),
        "--seed", str(ds.seed),
    ]  # fmt: skip
    if spec.bias.enabled and spec.bias.group_column:
        args += ["--group-column", spec.bias.group_column]
    fs = spec.feature_store
    if fs is not None and fs.enabled and isinstance(spec.model, BertModel):
        args += ["--record-identifier", fs.record_identifier]
    return args


def preprocess_arguments(spec: Spec) -> list[str]:
    """preprocess.py: balance, split and write the training format, from PrepareData's rows and counts."""
    ds = spec.dataset
    args = [
        "--input-dir", f"{PROCESSING_ROOT}/input/rows",
        "--counts-dir", f"{PROCESSING_ROOT}/input/counts",
        "--output-dir", PREPROCESS_OUTPUT_DIR,
        "--train-ratio", f"{ds.split.train:g}",
        "--validation-ratio", f"{ds.split.validation:g}",
        "--test-ratio", f"{ds.split.test:g}",
        "--balance", ds.balance,
    ]  # fmt: skip
    if isinstance(spec.model, BertModel):
        hps = training_hyperparameters(spec)
        args += [
            # Each framework's training script reads its own input format.
            "--output-format", "token-arrays" if spec.model.framework == "pytorch" else "tfrecord",
            "--tokenizer", spec.model.pretrained_model,
            "--max-seq-length", hps["max_seq_length"],
        ]  # fmt: skip
        args += feature_store_arguments(spec)
    else:
        # Autopilot reads CSV with a header row and the label as its target column.
        args += ["--output-format", "csv" if isinstance(spec.model, AutopilotModel) else "blazingtext"]
    return args


def feature_store_arguments(spec: Spec) -> list[str]:
    """What preprocess.py needs to create the feature group (if missing) and ingest the records."""
    fs = spec.feature_store
    if fs is None or not fs.enabled:
        return []
    args = [
        "--feature-group-name", spec.feature_group_name,
        "--feature-store-region", spec.project.region,
        "--record-identifier", fs.record_identifier,
        "--event-time-feature", fs.event_time,
    ]  # fmt: skip
    if fs.online:
        args.append("--online-store")
    if fs.offline and fs.offline_store_s3_uri:
        args += ["--offline-store-s3-uri", fs.offline_store_s3_uri]
    return args


def evaluate_arguments(spec: Spec) -> list[str]:
    arguments = [
        "--model-dir", f"{PROCESSING_ROOT}/model",
        "--test-dir", f"{PROCESSING_ROOT}/test",
        "--output-dir", f"{PROCESSING_ROOT}/evaluation",
        "--model-type", spec.model.type,
    ]  # fmt: skip
    if spec.monitoring.enabled:
        arguments += ["--monitoring-dir", MONITORING_OUTPUT_DIR]
    return arguments


def quality_check_steps(spec: Spec) -> list[Step]:
    """The baselines the spec's monitors need, computed from EvaluateModel's monitoring output."""
    source = f"step:{EVALUATE_STEP}/monitoring"
    checks = (
        (spec.monitoring.data_quality, DATA_QUALITY_STEP, "data-quality", DATA_QUALITY_BASELINE),
        (spec.monitoring.model_quality, MODEL_QUALITY_STEP, "model-quality", MODEL_QUALITY_BASELINE),
    )
    return [
        Step(name=name, kind="quality-check", check=check, inputs=(StepInput("baseline", source, baseline),))
        for monitor, name, check, baseline in checks
        if monitor is not None
    ]


def training_hyperparameters(spec: Spec) -> dict[str, str]:
    """Every hyperparameter the training job receives, as strings, defaults filled in."""
    model = spec.model
    if isinstance(model, AutopilotModel):
        return automl_settings(model)
    algorithm = algorithm_for(model)
    values = algorithm.defaults() | dict(model.hyperparameters)
    if spec.tuning_enabled:
        # Tuned hyperparameters are the tuner's to set; the rest stay static.
        for name in spec.tuning.ranges:  # type: ignore[union-attr]
            values.pop(name, None)
    hps = {name: hyperparameter_text(value) for name, value in values.items()}
    if model.type == "blazingtext":
        hps = {"mode": "supervised", **hps}
    if isinstance(model, BertModel):
        hps |= {
            "pretrained_model": model.pretrained_model,
            "mixed_precision": model.mixed_precision,
        }
        # Each framework's way to compile the training step.
        if model.framework == "pytorch":
            hps["compile"] = hyperparameter_text(model.compile)
        else:
            hps["xla"] = hyperparameter_text(model.xla)
    return hps


def automl_settings(model: AutopilotModel) -> dict[str, str]:
    """An AutoML job's configuration as the local stand-in receives it (its hyperparameters.json): the
    values the SageMaker pipeline puts in the CreateAutoMLJob request."""
    return {
        "max_candidates": str(model.max_candidates),
        "objective": model.objective,
        "mode": model.mode,
        "max_runtime_per_training_job_seconds": str(model.max_runtime_per_training_job_seconds),
        "max_total_runtime_seconds": str(model.max_total_runtime_seconds),
        "target": "label",
    }


def metric_definitions(spec: Spec) -> list[dict[str, str]]:
    """Regex metric definitions for script mode; built-in algorithms define their own."""
    algorithm = algorithm_for(spec.model)
    return [{"Name": m.name, "Regex": m.regex} for m in algorithm.metrics.values() if m.regex]


def build_plan(spec: Spec) -> Plan:
    train_name = TUNE_STEP if spec.tuning_enabled else TRAIN_STEP
    # Both data steps shard their inputs by S3 key, so N processing instances each do 1/N of the work:
    # PrepareData reads its share of the raw files, PreprocessData its share of PrepareData's row parts,
    # with every part's class counts (small, replicated) to balance and split the whole data set alike.
    steps: list[Step] = [
        Step(
            name=PREPARE_STEP,
            kind="processing",
            script="prepare.py",
            arguments=tuple(prepare_arguments(spec)),
            inputs=(StepInput("input-data", "param:InputDataUrl", INPUT_DATA_DIR, "ShardedByS3Key"),),
            outputs=tuple(StepOutput(name, f"{PREPROCESS_OUTPUT_DIR}/{name}") for name in PREPARED_OUTPUTS),
        ),
        Step(
            name=PREPROCESS_STEP,
            kind="processing",
            script="preprocess.py",
            arguments=tuple(preprocess_arguments(spec)),
            inputs=(
                StepInput(
                    "rows", f"step:{PREPARE_STEP}/rows", f"{PROCESSING_ROOT}/input/rows", "ShardedByS3Key"
                ),
                StepInput("counts", f"step:{PREPARE_STEP}/counts", f"{PROCESSING_ROOT}/input/counts"),
            ),
            outputs=tuple(StepOutput(name, f"{PREPROCESS_OUTPUT_DIR}/{name}") for name in (*SPLITS, "bias")),
        ),
    ]
    if spec.bias.enabled:
        steps.append(
            Step(
                name=BIAS_STEP,
                kind="bias-check",
                inputs=(StepInput("bias", f"step:{PREPROCESS_STEP}/bias", "bias"),),
            )
        )
    steps.append(
        Step(
            name=train_name,
            kind="tuning" if spec.tuning_enabled else "training",
            script="train.py" if isinstance(spec.model, BertModel) else None,
            inputs=tuple(StepInput(s, f"step:{PREPROCESS_STEP}/{s}", s) for s in ("train", "validation")),
            hyperparameters=training_hyperparameters(spec),
            depends_on=(BIAS_STEP,) if spec.bias.enabled else (),
        )
    )
    steps.append(
        Step(
            name=EVALUATE_STEP,
            kind="processing",
            script="evaluate.py",
            arguments=tuple(evaluate_arguments(spec)),
            inputs=(
                StepInput("model", f"step:{train_name}/model", f"{PROCESSING_ROOT}/model"),
                StepInput("test", f"step:{PREPROCESS_STEP}/test", f"{PROCESSING_ROOT}/test"),
            ),
            outputs=(StepOutput("evaluation", f"{PROCESSING_ROOT}/evaluation"),)
            + ((StepOutput("monitoring", MONITORING_OUTPUT_DIR),) if spec.monitoring.enabled else ()),
        )
    )
    quality_checks = quality_check_steps(spec)
    steps += quality_checks
    condition = Condition(
        metric=spec.evaluation.metric,
        json_path=f"metrics.{spec.evaluation.metric}.value",
        threshold=spec.evaluation.threshold,
        if_true=REGISTER_STEP,
        if_false=FAIL_STEP,
    )
    steps += [
        Step(name=CONDITION_STEP, kind="condition"),
        Step(
            name=REGISTER_STEP,
            kind="register",
            inputs=(StepInput("model", f"step:{train_name}/model", "model"),),
            depends_on=tuple(step.name for step in quality_checks),
        ),
        Step(name=FAIL_STEP, kind="fail"),
    ]
    message = (
        f"Test {spec.evaluation.metric} is below the EvaluationThreshold; "
        f"the model was not registered in {spec.model_package_group}."
    )
    return Plan(steps=tuple(steps), condition=condition, fail_message=message)


# Hyperband's resource is the epoch: the pipeline's HyperbandStrategyConfig and the local search's
# HyperbandPruner stop a job after HYPERBAND_MIN_RESOURCE epochs at the earliest.
HYPERBAND_MIN_RESOURCE = 1


def hyperband_max_resource(spec: Spec) -> int:
    """The most epochs a Hyperband job trains: the static ``epochs``, or the top of a tuned epochs range."""
    tuned = spec.tuning.ranges.get("epochs") if spec.tuning is not None else None
    if isinstance(tuned, IntegerRange):
        return tuned.max
    if isinstance(tuned, CategoricalRange):
        return max(int(value) for value in tuned.values)
    return int(training_hyperparameters(spec)["epochs"])


def tuning_job_count(spec: Spec) -> int:
    """How many training jobs the tuning step runs: every combination for Grid (SageMaker counts them
    itself), else ``max_jobs``; 0 without tuning."""
    tuning = spec.tuning
    if tuning is None or not spec.tuning_enabled:
        return 0
    return grid_size(tuning.ranges) if tuning.strategy == "Grid" else tuning.max_jobs
