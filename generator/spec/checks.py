"""Rules that relate fields of a spec to each other.

Each check yields ``(path, message, severity)``; the loader attaches file positions. Checks never stop
at the first problem: a user fixes a spec in one pass. They also run when some top-level sections failed
structural validation: those sections are :class:`BrokenSection` stand-ins, and a check that reads one is
skipped (its findings would rest on data already reported as wrong), while the others report as usual.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping

from .aws_values import CONTAINER_ARGUMENT_MAX, UI_TEMPLATE_MAX, check_s3_uri, control_character
from .catalog import ALGORITHMS, hyperparameter_text, is_gpu_instance
from .labeling import TEXT_CLASSIFICATION_LAMBDAS
from .models import (
    BertModel,
    BlazingTextModel,
    CategoricalRange,
    ContinuousRange,
    IntegerRange,
    Range,
    Spec,
)

Finding = tuple[str, str, str]  # (dotted path, message, "error" | "warning")

# CreateHyperParameterTuningJob's limits: values of one categorical range, and tuning job names.
MAX_CATEGORICAL_VALUES = 30
TUNING_JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}$")
# Hyperparameters that one step before training also reads, so they cannot vary per training job.
NOT_TUNABLE: dict[str, dict[str, str]] = {
    "bert": {
        "max_seq_length": "PreprocessData tokenizes to this length once for every training job; "
        "set it in model.hyperparameters",
    },
}

# The largest |value| each Clarify pre-training metric can take; a threshold above it can never breach.
BIAS_METRIC_BOUNDS: dict[str, float] = {
    "CI": 1.0,
    "DPL": 1.0,
    "KL": math.inf,
    "JS": math.log(2),
    "LP": math.sqrt(2),  # the L2 norm of the difference of two distributions
    "TVD": 1.0,
    "KS": 1.0,
    "CDDL": 1.0,
}


class SectionUnavailable(Exception):  # noqa: N818 - control flow, never shown to a user
    """A check read a top-level section that failed structural validation."""


class BrokenSection:
    """Stands in for a top-level section that failed validation: reading any attribute stops the check.

    The exception is deliberately not an AttributeError, so ``hasattr``/``getattr(..., default)`` in a
    check cannot swallow it and carry on with a default.
    """

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> object:
        raise SectionUnavailable(self._name)

    def __repr__(self) -> str:
        return f"BrokenSection({self._name!r})"


def _error(path: str, message: str) -> Finding:
    return (path, message, "error")


def _warning(path: str, message: str) -> Finding:
    return (path, message, "warning")


def check_dataset(spec: Spec) -> Iterator[Finding]:
    ds = spec.dataset
    total = ds.split.train + ds.split.validation + ds.split.test
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        yield _error("dataset.split", f"train + validation + test must sum to 1, got {total:g}")
    if len(ds.classes) < 2:
        yield _error("dataset.label_mapping", "must map to at least 2 distinct class labels")
    for raw, label in ds.label_mapping.items():
        if control_character(str(label)) is not None:
            yield _error(
                f"dataset.label_mapping.{raw}",
                f"class label {label!r} must not contain control characters or line breaks",
            )
    named = [ds.text_column, ds.label_column]
    for i, column in enumerate(ds.facet_columns):
        if column in named:
            yield _error(f"dataset.facet_columns.{i}", f"{column!r} is the text or label column")
    if ds.text_column == ds.label_column:
        yield _error("dataset.label_column", "must differ from text_column")
    if not ds.source.startswith("s3://") and "://" in ds.source:
        yield _error("dataset.source", "must be a local path or an s3:// URI")
    elif ds.source.startswith("s3://"):
        try:
            check_s3_uri(ds.source)
        except ValueError as exc:
            yield _error("dataset.source", str(exc))
    # The preprocessing step receives these as single JSON container arguments.
    for field, argument in (
        ("label_mapping", {str(k): str(v) for k, v in ds.label_mapping.items()}),
        ("facet_columns", list(ds.facet_columns)),
    ):
        size = len(json.dumps(argument))
        if size > CONTAINER_ARGUMENT_MAX:
            yield _error(
                f"dataset.{field}",
                f"as JSON it must be at most {CONTAINER_ARGUMENT_MAX} characters (SageMaker's limit on one "
                f"container argument), got {size}",
            )


def check_bias(spec: Spec) -> Iterator[Finding]:
    bias = spec.bias
    if not bias.enabled:
        return
    if not bias.facets:
        yield _error("bias.facets", "list at least one facet column, or set bias.enabled: false")
    if not bias.metrics:
        yield _error("bias.metrics", "name at least one metric: CI, DPL, KL, JS, LP, TVD, KS, CDDL")
    for i, facet in enumerate(bias.facets):
        if facet.column not in spec.dataset.facet_columns:
            yield _error(
                f"bias.facets.{i}.column",
                f"{facet.column!r} is not in dataset.facet_columns {spec.dataset.facet_columns}",
            )
    classes = spec.dataset.classes
    if not bias.positive_labels:
        yield _error("bias.positive_labels", f"name the positive class label(s), some of {classes}")
    for i, label in enumerate(bias.positive_labels):
        if label not in classes:
            yield _error(f"bias.positive_labels.{i}", f"{label!r} is not a class label; classes: {classes}")
    for name, metric in bias.metrics.items():
        bound = BIAS_METRIC_BOUNDS[name]
        if not metric.threshold <= bound:
            yield _error(
                f"bias.metrics.{name}.threshold",
                f"{name} lies within [-{bound:.3g}, {bound:.3g}]; a threshold of {metric.threshold:g} "
                "can never be breached",
            )
    if "CDDL" in bias.metrics:
        if not bias.group_column:
            yield _error("bias.group_column", "CDDL needs a group column")
        elif bias.group_column not in spec.dataset.facet_columns:
            yield _error("bias.group_column", f"{bias.group_column!r} is not in dataset.facet_columns")


def check_model(spec: Spec) -> Iterator[Finding]:
    model = spec.model
    algorithm = ALGORITHMS[model.type]
    for name, value in model.hyperparameters.items():
        path = f"model.hyperparameters.{name}"
        if name in algorithm.reserved:
            yield _error(path, f"is set by the generated pipeline for {model.type}; remove it")
            continue
        hp = algorithm.hyperparameters.get(name)
        if hp is None:
            allowed = ", ".join(sorted(algorithm.hyperparameters))
            yield _error(path, f"unknown hyperparameter for {model.type}; allowed: {allowed}")
            continue
        problem = hp.check(value)
        if problem:
            yield _error(path, problem)
    if isinstance(model, BlazingTextModel) and model.instance_count != 1:
        yield _error(
            "model.instance_count",
            "BlazingText supervised mode trains on a single instance (CPU or one GPU); use 1",
        )
    if isinstance(model, BertModel):
        if not is_gpu_instance(model.instance_type):
            yield _warning(
                "model.instance_type",
                f"{model.instance_type} has no GPU; fine-tuning BERT on CPU is very slow "
                "(use e.g. ml.g5.xlarge)",
            )
        if model.spot.enabled and model.spot.max_wait_seconds < model.max_runtime_seconds:
            yield _error(
                "model.spot.max_wait_seconds",
                f"must be >= model.max_runtime_seconds ({model.max_runtime_seconds}) for spot training",
            )
        if model.debugger.profiler:
            # ModelTrainer in SageMaker Python SDK 3.27 (the pinned version) has no profiler settings
            # (no ProfilerConfig argument or with_* method), so the pipeline cannot pass them on.
            yield _warning(
                "model.debugger.profiler",
                "has no effect yet: SageMaker Python SDK 3.27's ModelTrainer takes no profiler config",
            )
        if model.mixed_precision in ("float16", "bfloat16") and not is_gpu_instance(model.instance_type):
            yield _warning("model.mixed_precision", "has no effect on a CPU instance")


def check_tuning(spec: Spec) -> Iterator[Finding]:
    tuning = spec.tuning
    if tuning is None or not tuning.enabled:
        return
    algorithm = ALGORITHMS[spec.model.type]
    if tuning.objective.metric not in algorithm.metrics:
        yield _error(
            "tuning.objective.metric",
            f"{spec.model.type} never emits {tuning.objective.metric!r}; it emits "
            + ", ".join(algorithm.metrics),
        )
    else:
        expected = algorithm.metrics[tuning.objective.metric].direction
        if tuning.objective.direction != expected:
            yield _warning(
                "tuning.objective.direction",
                f"{tuning.objective.metric} is usually {expected}d, not {tuning.objective.direction}d",
            )
    if tuning.max_parallel_jobs > tuning.max_jobs:
        yield _error("tuning.max_parallel_jobs", f"must not exceed max_jobs ({tuning.max_jobs})")
    for name, rng in tuning.ranges.items():
        path = f"tuning.ranges.{name}"
        hp = algorithm.hyperparameters.get(name)
        if hp is None:
            allowed = ", ".join(sorted(algorithm.hyperparameters))
            yield _error(path, f"{spec.model.type} has no hyperparameter {name!r}; allowed: {allowed}")
            continue
        if name in spec.model.hyperparameters:
            yield _error(path, f"is also fixed in model.hyperparameters.{name}; keep one")
        if name in NOT_TUNABLE.get(spec.model.type, {}):
            yield _error(path, NOT_TUNABLE[spec.model.type][name])
        if tuning.strategy == "Grid" and not isinstance(rng, CategoricalRange):
            yield _error(f"{path}.type", "Grid search takes only categorical ranges")
        if isinstance(rng, ContinuousRange | IntegerRange):
            if isinstance(rng, ContinuousRange) and hp.kind == "int":
                yield _error(f"{path}.type", f"{name} is an integer; use an integer range")
            if hp.kind in ("bool", "str"):
                yield _error(f"{path}.type", f"{name} is not numeric; use a categorical range")
            if not rng.min < rng.max:
                yield _error(f"{path}.min", f"must be below max ({rng.max:g})")
            if rng.scaling == "Logarithmic" and not rng.min > 0:
                yield _error(f"{path}.scaling", "Logarithmic scaling needs min > 0")
            if rng.scaling == "ReverseLogarithmic":
                if isinstance(rng, IntegerRange):
                    yield _error(f"{path}.scaling", "ReverseLogarithmic scaling is for continuous ranges")
                elif not (rng.min >= 0 and rng.max < 1):
                    yield _error(f"{path}.scaling", "ReverseLogarithmic scaling needs 0 <= min and max < 1")
            for bound in ("min", "max"):
                problem = hp.check(getattr(rng, bound))
                if problem and hp.kind in ("int", "float"):
                    yield _error(f"{path}.{bound}", problem)
        if isinstance(rng, CategoricalRange):
            if len(rng.values) > MAX_CATEGORICAL_VALUES:
                yield _error(f"{path}.values", f"SageMaker takes at most {MAX_CATEGORICAL_VALUES} values")
            seen: list[str] = []
            for i, value in enumerate(rng.values):
                problem = hp.check(value)
                if problem:
                    yield _error(f"{path}.values.{i}", problem)
                    continue
                # The job parses a float hyperparameter's text: 1 and 1.0 are the same choice.
                text = hyperparameter_text(float(value) if hp.kind == "float" else value)
                if text in seen:
                    yield _error(f"{path}.values.{i}", f"{value!r} is listed twice")
                seen.append(text)
    if tuning.strategy == "Hyperband":
        if tuning.early_stopping != "Off":
            yield _error("tuning.early_stopping", "Hyperband stops trials itself; set it to Off")
        objective = algorithm.metrics.get(tuning.objective.metric)
        if objective is not None and not objective.per_epoch:
            yield _error(
                "tuning.strategy",
                f"Hyperband needs a metric reported every epoch; {spec.model.type} reports "
                f"{tuning.objective.metric} only at the end",
            )
    if tuning.strategy == "Grid":
        if tuning.early_stopping != "Off":
            yield _error("tuning.early_stopping", "Grid search does not support early stopping")
        grid = grid_size(tuning.ranges)
        if "max_jobs" in tuning.model_fields_set and grid and tuning.max_jobs != grid:
            yield _warning(
                "tuning.max_jobs",
                f"Grid search trains every combination of the categorical values ({grid} jobs); "
                "max_jobs is not used",
            )
    if tuning.strategy == "Hyperband" and "epochs" in tuning.ranges:
        yield _warning(
            "tuning.ranges.epochs", "Hyperband decides how many epochs each job trains; tune other values"
        )
    if tuning.warm_start is not None:
        if tuning.strategy not in ("Bayesian", "Random"):
            yield _error("tuning.warm_start", "warm start works with Bayesian or Random search only")
        for i, name in enumerate(tuning.warm_start.parent_jobs):
            if not TUNING_JOB_NAME.match(name):
                yield _error(
                    f"tuning.warm_start.parent_jobs.{i}",
                    f"{name!r} is not a tuning job name (1-32 letters, digits and '-')",
                )


def grid_size(ranges: Mapping[str, Range]) -> int:
    """How many jobs a Grid search runs: the product of the categorical ranges' sizes (0: not a grid)."""
    if not ranges or not all(isinstance(r, CategoricalRange) for r in ranges.values()):
        return 0
    return math.prod(len(r.values) for r in ranges.values() if isinstance(r, CategoricalRange))


# DeploymentConfig's CapacitySize.Value is an integer (CAPACITY_PERCENT).
WHOLE_PERCENT = "must be a whole percent: SageMaker's CapacitySize takes an integer"


def check_deployment(spec: Spec) -> Iterator[Finding]:
    dep = spec.deployment
    seen: dict[str, int] = {}
    for i, variant in enumerate(dep.variants):
        path = f"deployment.variants.{i}"
        if variant.name in seen:
            yield _error(
                f"{path}.name", f"duplicate variant name {variant.name!r} (also variant {seen[variant.name]})"
            )
        seen.setdefault(variant.name, i)
        if not variant.initial_weight > 0:
            yield _error(f"{path}.initial_weight", f"must be positive, got {variant.initial_weight:g}")
        if variant.model.select == "version" and variant.model.version is None:
            yield _error(f"{path}.model.version", "name the model package version to serve")
        if variant.model.select != "version" and variant.model.version is not None:
            yield _error(f"{path}.model.version", "only applies with select: version")
    serverless = {v.name for v in dep.variants if v.serverless is not None}
    for i, scaling in enumerate(dep.autoscaling):
        path = f"deployment.autoscaling.{i}"
        if scaling.variant not in seen:
            yield _error(f"{path}.variant", f"no variant named {scaling.variant!r}; variants: {list(seen)}")
        elif scaling.variant in serverless:
            yield _error(f"{path}.variant", f"{scaling.variant!r} is serverless; it scales by itself")
        if scaling.min_instances > scaling.max_instances:
            yield _error(f"{path}.min_instances", f"must not exceed max_instances ({scaling.max_instances})")
    names = [s.variant for s in dep.autoscaling]
    for i, name in enumerate(names):
        if names.index(name) != i:
            yield _error(f"deployment.autoscaling.{i}.variant", f"{name!r} already has an autoscaling policy")
    ts = dep.traffic_shifting
    path = "deployment.traffic_shifting"
    if ts.type == "canary":
        if ts.canary_percent is None or not 0 < ts.canary_percent < 100:
            yield _error(f"{path}.canary_percent", "canary needs a size between 0 and 100 (exclusive)")
        elif not ts.canary_percent.is_integer():
            yield _error(f"{path}.canary_percent", WHOLE_PERCENT)
    elif ts.canary_percent is not None:
        yield _error(f"{path}.canary_percent", "only applies with type: canary")
    if ts.type == "linear":
        if ts.linear_step_percent is None or not 0 < ts.linear_step_percent <= 50:
            yield _error(f"{path}.linear_step_percent", "linear needs a step between 0 (exclusive) and 50")
        elif not ts.linear_step_percent.is_integer():
            yield _error(f"{path}.linear_step_percent", WHOLE_PERCENT)
    elif ts.linear_step_percent is not None:
        yield _error(f"{path}.linear_step_percent", "only applies with type: linear")
    if ts.type != "all-at-once" and serverless:
        yield _error(
            f"{path}.type", "blue/green canary or linear shifting is not available for serverless variants"
        )
    if dep.data_capture.enabled and serverless:
        yield _error(
            "deployment.data_capture.enabled", "data capture is not available for serverless variants"
        )


# What the worker task template's own markup leaves of A2I's 128,000 characters for the spec's text.
UI_TEXT_MAX = UI_TEMPLATE_MAX - 8_000


def _ui_size(text: str) -> int:
    """Characters ``text`` takes in the worker task template: HTML-escaped, each line its own <p>."""
    return len(html.escape(text)) + 16 * text.count("\n")


def check_labeling(spec: Spec) -> Iterator[Finding]:
    lab = spec.labeling
    if not lab.enabled:
        return
    classes = spec.dataset.classes
    if not lab.labels:
        yield _error("labeling.labels", f"name a label shown to people for each class {classes}")
    mapped = list(lab.labels.values())
    for name, label in lab.labels.items():
        if label not in classes:
            yield _error(f"labeling.labels.{name}", f"{label!r} is not a class label; classes: {classes}")
    if lab.labels and sorted(map(str, mapped)) != sorted(map(str, classes)):
        yield _error("labeling.labels", f"must map one name to each class label {classes}, got {mapped}")
    wf = lab.workforce
    if not wf.work_team_arn and not (wf.cognito_user_pool_id and wf.cognito_client_id):
        yield _error(
            "labeling.workforce",
            "give work_team_arn, or cognito_user_pool_id and cognito_client_id for a new private workforce",
        )
    if lab.task_availability_seconds < lab.task_time_limit_seconds:
        yield _error("labeling.task_availability_seconds", "must be at least task_time_limit_seconds")
    if len(classes) > 1 and not lab.confidence_threshold > 1 / len(classes):
        yield _warning(
            "labeling.confidence_threshold",
            f"with {len(classes)} classes the top probability is at least {1 / len(classes):.2f}: "
            "no prediction would go to review",
        )
    shown = _ui_size(lab.instructions.short) + _ui_size(lab.instructions.full)
    shown += 2 * sum(_ui_size(json.dumps(name)) for name in lab.labels)  # the categories, and a list
    if shown > UI_TEXT_MAX:
        yield _error(
            "labeling.instructions",
            f"instructions and label names must be at most {UI_TEXT_MAX:,} characters together (A2I's worker "
            f"task template is at most {UI_TEMPLATE_MAX:,} characters, its markup included), got {shown:,}",
        )
    if lab.workers_per_item > 3:
        yield _error("labeling.workers_per_item", "an A2I flow definition takes at most 3 reviewers per item")
    manifest = lab.ground_truth.input_manifest
    if manifest is not None and not manifest.startswith("s3://"):
        yield _error("labeling.ground_truth.input_manifest", "must be an s3:// URI")
    region = spec.project.region
    if lab.ground_truth.enabled and region not in TEXT_CLASSIFICATION_LAMBDAS:
        yield _error(
            "labeling.ground_truth.enabled",
            f"Ground Truth's built-in text classification is not offered in {region}; "
            f"regions: {', '.join(sorted(TEXT_CLASSIFICATION_LAMBDAS))}",
        )
    if not spec.deployment.enabled:
        yield _error(
            "labeling.enabled",
            "human review scores reviews through the project's endpoint: set deployment.enabled: true",
        )


def check_evaluation(spec: Spec) -> Iterator[Finding]:
    if spec.evaluation.threshold == 0:
        yield _warning("evaluation.threshold", "0 registers every model, however poor")


def check_studio(spec: Spec) -> Iterator[Finding]:
    studio = spec.studio
    if not studio.enabled:
        return
    if not spec.ci.codebuild.enabled:
        yield _warning(
            "studio.enabled",
            "the Studio project template runs codebuild-buildspec.yml, which ci.codebuild.enabled: false "
            "turns off; no template is generated (set studio.enabled: false to say so)",
        )
    if studio.repository == "codecommit":
        for name in ("connection_arn", "repository_id"):
            if getattr(studio, name) is not None:
                yield _warning(f"studio.{name}", "is only used with repository: codeconnections")


# Names the offline store adds to every record (its Glue table's columns), and the features the
# preprocessing step writes beside the record identifier and event time.
FEATURE_STORE_RESERVED_NAMES = ("is_deleted", "write_time", "api_invocation_time")
FEATURE_STORE_FIXED_FEATURES = ("input_ids", "attention_mask", "label", "split")


def check_feature_store(spec: Spec) -> Iterator[Finding]:
    fs = spec.feature_store
    if fs is None or not fs.enabled:
        return
    if not isinstance(spec.model, BertModel):
        yield _error(
            "feature_store.enabled",
            f"the feature group stores BERT token features (input_ids, attention_mask); {spec.model.type} "
            "trains on plain text and has none to store: use model.type: bert or set enabled: false",
        )
    if not fs.online and not fs.offline:
        yield _error("feature_store.offline", "enable the offline store, the online store, or both")
    if fs.offline and fs.offline_store_s3_uri is None:
        yield _error(
            "feature_store.offline_store_s3_uri", "the offline store needs an s3:// URI to write its files to"
        )
    if not fs.offline and fs.offline_store_s3_uri is not None:
        yield _warning("feature_store.offline_store_s3_uri", "is only used with offline: true")
    # The offline store's Glue table and Athena compare column names in lower case.
    taken = {name: "a feature the preprocessing step writes" for name in FEATURE_STORE_FIXED_FEATURES}
    taken |= {name: "a column the offline store adds" for name in FEATURE_STORE_RESERVED_NAMES}
    for field in ("record_identifier", "event_time"):
        name = getattr(fs, field)
        if name.lower() in taken:
            yield _error(f"feature_store.{field}", f"{name!r} is {taken[name.lower()]}; choose another name")
    if fs.record_identifier.lower() == fs.event_time.lower():
        yield _error("feature_store.event_time", "must differ from record_identifier")


CHECKS: tuple[Callable[[Spec], Iterator[Finding]], ...] = (
    check_dataset,
    check_bias,
    check_model,
    check_tuning,
    check_feature_store,
    check_deployment,
    check_labeling,
    check_evaluation,
    check_studio,
)


def run_checks(spec: Spec) -> list[Finding]:
    """Every check's findings; a check that reads a :class:`BrokenSection` contributes none."""
    findings: list[Finding] = []
    for check in CHECKS:
        try:
            findings.extend(list(check(spec)))
        except SectionUnavailable:
            continue
    return findings
