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
from collections.abc import Callable, Iterator

from .aws_values import CONTAINER_ARGUMENT_MAX, UI_TEMPLATE_MAX, check_s3_uri, control_character
from .catalog import algorithm_for, is_gpu_instance
from .checks_debugger import check_debugger, check_debugger_with_tuning
from .checks_monitoring import check_batch, check_monitoring, check_shadow_variants, check_variant_model
from .checks_tuning import check_tuning
from .findings import Finding, SectionUnavailable, error, warning
from .labeling import TEXT_CLASSIFICATION_LAMBDAS
from .models import (
    AutopilotModel,
    BertModel,
    BlazingTextModel,
    Spec,
)

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


# The columns of PrepareData's row parts (prepare.py) beside the facet and group columns.
PREPARED_COLUMNS = ("text", "label", "key", "record_id")


def check_dataset(spec: Spec) -> Iterator[Finding]:
    ds = spec.dataset
    total = ds.split.train + ds.split.validation + ds.split.test
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        yield error("dataset.split", f"train + validation + test must sum to 1, got {total:g}")
    if len(ds.classes) < 2:
        yield error("dataset.label_mapping", "must map to at least 2 distinct class labels")
    for raw, label in ds.label_mapping.items():
        if control_character(str(label)) is not None:
            yield error(
                f"dataset.label_mapping.{raw}",
                f"class label {label!r} must not contain control characters or line breaks",
            )
    named = [ds.text_column, ds.label_column]
    for i, column in enumerate(ds.facet_columns):
        if column in named:
            yield error(f"dataset.facet_columns.{i}", f"{column!r} is the text or label column")
        elif column in PREPARED_COLUMNS:
            yield error(
                f"dataset.facet_columns.{i}",
                f"{column!r} is a column name the data steps use for their own: "
                f"{', '.join(PREPARED_COLUMNS)}; rename the column in the data",
            )
    if ds.text_column == ds.label_column:
        yield error("dataset.label_column", "must differ from text_column")
    if not ds.source.startswith("s3://") and "://" in ds.source:
        yield error("dataset.source", "must be a local path or an s3:// URI")
    elif ds.source.startswith("s3://"):
        try:
            check_s3_uri(ds.source)
        except ValueError as exc:
            yield error("dataset.source", str(exc))
    # The preprocessing step receives these as single JSON container arguments.
    for field, argument in (
        ("label_mapping", {str(k): str(v) for k, v in ds.label_mapping.items()}),
        ("facet_columns", list(ds.facet_columns)),
    ):
        size = len(json.dumps(argument))
        if size > CONTAINER_ARGUMENT_MAX:
            yield error(
                f"dataset.{field}",
                f"as JSON it must be at most {CONTAINER_ARGUMENT_MAX} characters (SageMaker's limit on one "
                f"container argument), got {size}",
            )


def check_bias(spec: Spec) -> Iterator[Finding]:
    bias = spec.bias
    if not bias.enabled:
        return
    if not bias.facets:
        yield error("bias.facets", "list at least one facet column, or set bias.enabled: false")
    if not bias.metrics:
        yield error("bias.metrics", "name at least one metric: CI, DPL, KL, JS, LP, TVD, KS, CDDL")
    for i, facet in enumerate(bias.facets):
        if facet.column not in spec.dataset.facet_columns:
            yield error(
                f"bias.facets.{i}.column",
                f"{facet.column!r} is not in dataset.facet_columns {spec.dataset.facet_columns}",
            )
    classes = spec.dataset.classes
    if not bias.positive_labels:
        yield error("bias.positive_labels", f"name the positive class label(s), some of {classes}")
    for i, label in enumerate(bias.positive_labels):
        if label not in classes:
            yield error(f"bias.positive_labels.{i}", f"{label!r} is not a class label; classes: {classes}")
    for name, metric in bias.metrics.items():
        bound = BIAS_METRIC_BOUNDS[name]
        if not metric.threshold <= bound:
            yield error(
                f"bias.metrics.{name}.threshold",
                f"{name} lies within [-{bound:.3g}, {bound:.3g}]; a threshold of {metric.threshold:g} "
                "can never be breached",
            )
    if "CDDL" in bias.metrics:
        if not bias.group_column:
            yield error("bias.group_column", "CDDL needs a group column")
        elif bias.group_column not in spec.dataset.facet_columns:
            yield error("bias.group_column", f"{bias.group_column!r} is not in dataset.facet_columns")


def check_model(spec: Spec) -> Iterator[Finding]:
    model = spec.model
    algorithm = algorithm_for(model)
    for name, value in model.hyperparameters.items():
        path = f"model.hyperparameters.{name}"
        if name in algorithm.reserved:
            yield error(path, f"is set by the generated pipeline for {model.type}; remove it")
            continue
        hp = algorithm.hyperparameters.get(name)
        if hp is None:
            allowed = ", ".join(sorted(algorithm.hyperparameters))
            yield error(path, f"unknown hyperparameter for {model.type}; allowed: {allowed}")
            continue
        problem = hp.check(value)
        if problem:
            yield error(path, problem)
    if isinstance(model, BlazingTextModel) and model.instance_count != 1:
        yield error(
            "model.instance_count",
            "BlazingText supervised mode trains on a single instance (CPU or one GPU); use 1",
        )
    if isinstance(model, BertModel):
        if not is_gpu_instance(model.instance_type):
            yield warning(
                "model.instance_type",
                f"{model.instance_type} has no GPU; fine-tuning BERT on CPU is very slow "
                "(use e.g. ml.g5.xlarge)",
            )
        if model.spot.enabled and model.spot.max_wait_seconds < model.max_runtime_seconds:
            yield error(
                "model.spot.max_wait_seconds",
                f"must be >= model.max_runtime_seconds ({model.max_runtime_seconds}) for spot training",
            )
        if model.framework == "pytorch" and model.xla:
            yield error("model.xla", "is TensorFlow's; with framework pytorch use model.compile")
        if model.framework == "tensorflow" and model.compile:
            yield error("model.compile", "is PyTorch's; with framework tensorflow use model.xla")
        if model.mixed_precision in ("float16", "bfloat16") and not is_gpu_instance(model.instance_type):
            yield warning("model.mixed_precision", "has no effect on a CPU instance")


def check_autopilot(spec: Spec) -> Iterator[Finding]:
    """What a pipeline's AutoML job accepts beyond each field's own limits."""
    model = spec.model
    if not isinstance(model, AutopilotModel):
        return
    if model.mode != "ENSEMBLING":
        # SageMaker Pipelines' AutoML step refuses any other mode (the SDK's AutoMLStepInvalidModeError).
        yield error("model.mode", "a SageMaker pipeline's AutoML step runs only ENSEMBLING; use ENSEMBLING")
    if model.max_runtime_per_training_job_seconds > model.max_total_runtime_seconds:
        yield error(
            "model.max_runtime_per_training_job_seconds",
            f"must be <= model.max_total_runtime_seconds ({model.max_total_runtime_seconds})",
        )
    if spec.tuning is not None and spec.tuning.enabled:
        yield error("tuning", "Autopilot searches its own candidates; remove the tuning section")


# DeploymentConfig's CapacitySize.Value is an integer (CAPACITY_PERCENT).
WHOLE_PERCENT = "must be a whole percent: SageMaker's CapacitySize takes an integer"


def check_deployment(spec: Spec) -> Iterator[Finding]:
    dep = spec.deployment
    seen: dict[str, int] = {}
    for i, variant in enumerate(dep.variants):
        path = f"deployment.variants.{i}"
        if variant.name in seen:
            yield error(
                f"{path}.name", f"duplicate variant name {variant.name!r} (also variant {seen[variant.name]})"
            )
        seen.setdefault(variant.name, i)
        if not variant.initial_weight > 0:
            yield error(f"{path}.initial_weight", f"must be positive, got {variant.initial_weight:g}")
        yield from check_variant_model(path, variant.model)
    serverless = {v.name for v in dep.variants if v.serverless is not None}
    for i, scaling in enumerate(dep.autoscaling):
        path = f"deployment.autoscaling.{i}"
        if scaling.variant not in seen:
            yield error(f"{path}.variant", f"no variant named {scaling.variant!r}; variants: {list(seen)}")
        elif scaling.variant in serverless:
            yield error(f"{path}.variant", f"{scaling.variant!r} is serverless; it scales by itself")
        if scaling.min_instances > scaling.max_instances:
            yield error(f"{path}.min_instances", f"must not exceed max_instances ({scaling.max_instances})")
    names = [s.variant for s in dep.autoscaling]
    for i, name in enumerate(names):
        if names.index(name) != i:
            yield error(f"deployment.autoscaling.{i}.variant", f"{name!r} already has an autoscaling policy")
    ts = dep.traffic_shifting
    path = "deployment.traffic_shifting"
    if ts.type == "canary":
        if ts.canary_percent is None or not 0 < ts.canary_percent < 100:
            yield error(f"{path}.canary_percent", "canary needs a size between 0 and 100 (exclusive)")
        elif not ts.canary_percent.is_integer():
            yield error(f"{path}.canary_percent", WHOLE_PERCENT)
    elif ts.canary_percent is not None:
        yield error(f"{path}.canary_percent", "only applies with type: canary")
    if ts.type == "linear":
        if ts.linear_step_percent is None or not 0 < ts.linear_step_percent <= 50:
            yield error(f"{path}.linear_step_percent", "linear needs a step between 0 (exclusive) and 50")
        elif not ts.linear_step_percent.is_integer():
            yield error(f"{path}.linear_step_percent", WHOLE_PERCENT)
    elif ts.linear_step_percent is not None:
        yield error(f"{path}.linear_step_percent", "only applies with type: linear")
    if ts.type != "all-at-once" and serverless:
        yield error(
            f"{path}.type", "blue/green canary or linear shifting is not available for serverless variants"
        )
    if dep.data_capture.enabled and serverless:
        yield error(
            "deployment.data_capture.enabled", "data capture is not available for serverless variants"
        )


# What the worker task template's own markup leaves of A2I's 128,000 characters for the spec's text.
UI_TEXT_MAX = UI_TEMPLATE_MAX - 8_000


def _ui_size(text: str) -> int:
    """Characters ``text`` takes in the worker task template: HTML-escaped, each line its own <p>."""
    return len(html.escape(text)) + 16 * text.count("\n")


def _check_workforce(spec: Spec) -> Iterator[Finding]:
    """Exactly one source of reviewers; a team the project template creates needs the template."""
    wf = spec.labeling.workforce
    existing_pool = bool(wf.cognito_user_pool_id or wf.cognito_client_id)
    given = [bool(wf.work_team_arn), wf.create is not None, existing_pool].count(True)
    if given != 1:
        yield error(
            "labeling.workforce",
            "give exactly one of work_team_arn, create: cognito (the Studio project template creates the "
            "team), or cognito_user_pool_id and cognito_client_id (an existing pool)",
        )
    elif existing_pool and not (wf.cognito_user_pool_id and wf.cognito_client_id):
        yield error("labeling.workforce", "give both cognito_user_pool_id and cognito_client_id")
    if wf.create and not (spec.studio.enabled and spec.ci.codebuild.enabled):
        yield error(
            "labeling.workforce.create",
            "the Studio project template creates the team: needs studio.enabled and ci.codebuild.enabled",
        )


def check_labeling(spec: Spec) -> Iterator[Finding]:
    lab = spec.labeling
    if not lab.enabled:
        return
    classes = spec.dataset.classes
    if not lab.labels:
        yield error("labeling.labels", f"name a label shown to people for each class {classes}")
    mapped = list(lab.labels.values())
    for name, label in lab.labels.items():
        if label not in classes:
            yield error(f"labeling.labels.{name}", f"{label!r} is not a class label; classes: {classes}")
    if lab.labels and sorted(map(str, mapped)) != sorted(map(str, classes)):
        yield error("labeling.labels", f"must map one name to each class label {classes}, got {mapped}")
    yield from _check_workforce(spec)
    if lab.task_availability_seconds < lab.task_time_limit_seconds:
        yield error("labeling.task_availability_seconds", "must be at least task_time_limit_seconds")
    if len(classes) > 1 and not lab.confidence_threshold > 1 / len(classes):
        yield warning(
            "labeling.confidence_threshold",
            f"with {len(classes)} classes the top probability is at least {1 / len(classes):.2f}: "
            "no prediction would go to review",
        )
    shown = _ui_size(lab.instructions.short) + _ui_size(lab.instructions.full)
    shown += 2 * sum(_ui_size(json.dumps(name)) for name in lab.labels)  # the categories, and a list
    if shown > UI_TEXT_MAX:
        yield error(
            "labeling.instructions",
            f"instructions and label names must be at most {UI_TEXT_MAX:,} characters together (A2I's worker "
            f"task template is at most {UI_TEMPLATE_MAX:,} characters, its markup included), got {shown:,}",
        )
    if lab.workers_per_item > 3:
        yield error("labeling.workers_per_item", "an A2I flow definition takes at most 3 reviewers per item")
    manifest = lab.ground_truth.input_manifest
    if manifest is not None and not manifest.startswith("s3://"):
        yield error("labeling.ground_truth.input_manifest", "must be an s3:// URI")
    region = spec.project.region
    if lab.ground_truth.enabled and region not in TEXT_CLASSIFICATION_LAMBDAS:
        yield error(
            "labeling.ground_truth.enabled",
            f"Ground Truth's built-in text classification is not offered in {region}; "
            f"regions: {', '.join(sorted(TEXT_CLASSIFICATION_LAMBDAS))}",
        )
    if not spec.deployment.enabled:
        yield error(
            "labeling.enabled",
            "human review scores reviews through the project's endpoint: set deployment.enabled: true",
        )


def check_evaluation(spec: Spec) -> Iterator[Finding]:
    if spec.evaluation.threshold == 0:
        yield warning("evaluation.threshold", "0 registers every model, however poor")


def check_studio(spec: Spec) -> Iterator[Finding]:
    studio = spec.studio
    if not studio.enabled:
        return
    if not spec.ci.codebuild.enabled:
        yield warning(
            "studio.enabled",
            "the Studio project template runs codebuild-buildspec.yml, which ci.codebuild.enabled: false "
            "turns off; no template is generated (set studio.enabled: false to say so)",
        )
    if studio.repository == "codecommit":
        for name in ("connection_arn", "repository_id"):
            if getattr(studio, name) is not None:
                yield warning(f"studio.{name}", "is only used with repository: codeconnections")


# Names the offline store adds to every record (its Glue table's columns), and the features the
# preprocessing step writes beside the record identifier and event time.
FEATURE_STORE_RESERVED_NAMES = ("is_deleted", "write_time", "api_invocation_time")
FEATURE_STORE_FIXED_FEATURES = ("input_ids", "attention_mask", "label", "split")


def check_feature_store(spec: Spec) -> Iterator[Finding]:
    fs = spec.feature_store
    if fs is None or not fs.enabled:
        return
    if not isinstance(spec.model, BertModel):
        yield error(
            "feature_store.enabled",
            f"the feature group stores BERT token features (input_ids, attention_mask); {spec.model.type} "
            "trains on plain text and has none to store: use model.type: bert or set enabled: false",
        )
    if not fs.online and not fs.offline:
        yield error("feature_store.offline", "enable the offline store, the online store, or both")
    if fs.offline and fs.offline_store_s3_uri is None:
        yield error(
            "feature_store.offline_store_s3_uri", "the offline store needs an s3:// URI to write its files to"
        )
    if not fs.offline and fs.offline_store_s3_uri is not None:
        yield warning("feature_store.offline_store_s3_uri", "is only used with offline: true")
    # The offline store's Glue table and Athena compare column names in lower case.
    taken = {name: "a feature the preprocessing step writes" for name in FEATURE_STORE_FIXED_FEATURES}
    taken |= {name: "a column the offline store adds" for name in FEATURE_STORE_RESERVED_NAMES}
    for field in ("record_identifier", "event_time"):
        name = getattr(fs, field)
        if name.lower() in taken:
            yield error(f"feature_store.{field}", f"{name!r} is {taken[name.lower()]}; choose another name")
    if fs.record_identifier.lower() == fs.event_time.lower():
        yield error("feature_store.event_time", "must differ from record_identifier")


CHECKS: tuple[Callable[[Spec], Iterator[Finding]], ...] = (
    check_dataset,
    check_bias,
    check_model,
    check_debugger,
    check_debugger_with_tuning,
    check_tuning,
    check_autopilot,
    check_feature_store,
    check_deployment,
    check_shadow_variants,
    check_monitoring,
    check_batch,
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
