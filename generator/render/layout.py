"""Which template files a spec turns on, and where each lands in the generated tree.

Conventions of ``template/``:
- a file ending in ``.j2`` is rendered with Jinja2 and loses the suffix; any other file is copied as is;
- a path segment ``__pkg__`` becomes the pipeline's Python package name;
- a leading ``dot_`` becomes ``.`` (``dot_github`` -> ``.github``), so packaging keeps dotfiles.
Optional features switch whole files on or off here, not through ``{% if %}`` sprawl inside them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..spec.models import BertModel, Spec
from .context_debugger import debugger_group
from .context_explore import negative_labels

Rule = Callable[[Spec], bool]


def has_cognito_team(spec: Spec) -> bool:
    """Labeling's work team is a Cognito user group: of an existing pool, or of one the template creates."""
    return uses_cognito_workforce(spec) or spec.labeling.workforce.create == "cognito"


def uses_cognito_workforce(spec: Spec) -> bool:
    """Labeling creates its own private work team from a Cognito user pool (no work team given)."""
    wf = spec.labeling.workforce
    return bool(wf.cognito_user_pool_id and wf.cognito_client_id and not wf.work_team_arn)


def uses_bert(spec: Spec, framework: str) -> bool:
    return isinstance(spec.model, BertModel) and spec.model.framework == framework


def has_debugger_rules(spec: Spec) -> bool:
    """The spec's Debugger rules run on SageMaker (a spec with tuning cannot have them)."""
    return isinstance(spec.model, BertModel) and bool(spec.model.debugger.rules) and not spec.tuning_enabled


# Template files generated under another name: the template holds one variant per framework.
TARGET_NAMES = {
    "pipelines/__pkg__/train_tensorflow.py": "train.py",
    "pipelines/__pkg__/train_pytorch.py": "train.py",
    "pipelines/__pkg__/model_bert_tensorflow.py": "model_bert.py",
    "pipelines/__pkg__/model_bert_pytorch.py": "model_bert.py",
}

# Template paths (relative, as in template/) that only some specs get.
FEATURE_RULES: dict[str, Rule] = {
    # One BERT training script per framework; either is generated as train.py (TARGET_NAMES).
    "pipelines/__pkg__/train_tensorflow.py": lambda s: uses_bert(s, "tensorflow"),
    "pipelines/__pkg__/train_pytorch.py": lambda s: uses_bert(s, "pytorch"),
    # How the checkpoint pools a text, which either framework's classifier reads.
    "pipelines/__pkg__/checkpoint_pooling.py": lambda s: isinstance(s.model, BertModel),
    # The TensorFlow train.py's modules: its input pipelines, its model.
    "pipelines/__pkg__/tfrecord_batches.py": lambda s: uses_bert(s, "tensorflow"),
    "pipelines/__pkg__/keras_classifier.py": lambda s: uses_bert(s, "tensorflow"),
    # The PyTorch train.py's modules: its batches, its model, one process's training loop.
    "pipelines/__pkg__/token_batches.py": lambda s: uses_bert(s, "pytorch"),
    "pipelines/__pkg__/text_classifier.py": lambda s: uses_bert(s, "pytorch"),
    "pipelines/__pkg__/training_loop.py": lambda s: uses_bert(s, "pytorch"),
    # ... and its training job and images (model_bert.py).
    "pipelines/__pkg__/model_bert_tensorflow.py": lambda s: uses_bert(s, "tensorflow"),
    "pipelines/__pkg__/model_bert_pytorch.py": lambda s: uses_bert(s, "pytorch"),
    "pipelines/__pkg__/model_blazingtext.py": lambda s: s.model.type == "blazingtext",
    "pipelines/__pkg__/model_autopilot.py": lambda s: s.model.type == "autopilot",
    # evaluate.py's predictions, by the model the spec trains (evaluation_inputs.py, what they share, is
    # in every project).
    "pipelines/__pkg__/predict_blazingtext.py": lambda s: s.model.type == "blazingtext",
    "pipelines/__pkg__/predict_autopilot.py": lambda s: s.model.type == "autopilot",
    "pipelines/__pkg__/predict_tensorflow.py": lambda s: uses_bert(s, "tensorflow"),
    "pipelines/__pkg__/predict_pytorch.py": lambda s: uses_bert(s, "pytorch"),
    # preprocess.py's optional parts: the training-format writers (BlazingText's lines; BERT's TFRecords or
    # token arrays) and the Feature Store ingestion.
    # (predict_autopilot.py tokenizes with it for an AutoML search's fastText candidate too.)
    "pipelines/__pkg__/blazingtext_format.py": lambda s: s.model.type in ("blazingtext", "autopilot"),
    "pipelines/__pkg__/tfrecord_format.py": lambda s: uses_bert(s, "tensorflow"),
    "pipelines/__pkg__/token_arrays_format.py": lambda s: uses_bert(s, "pytorch"),
    "pipelines/__pkg__/feature_store.py": lambda s: s.feature_store_enabled,
    "pipelines/__pkg__/tuning.py.j2": lambda s: s.tuning_enabled,
    # The TrainModel step's profiler and TensorBoard settings (model.debugger).
    "pipelines/__pkg__/debugging.py.j2": lambda s: debugger_group(s) is not None,
    # The losses the spec's Debugger rules read, written by train.py (model.debugger.rules).
    "pipelines/__pkg__/debug_tensors.py": has_debugger_rules,
    # MLflow logging of the step scripts (they run without it when the module is absent).
    "pipelines/__pkg__/tracking.py": lambda s: s.tracking is not None,
    # Model Monitor's baseline steps (monitoring.* of the spec).
    "pipelines/__pkg__/monitoring.py": lambda s: s.monitoring.enabled,
    # The monitored features: evaluate.py's baselines, Model Monitor's record preprocessor, `local monitor`.
    "pipelines/__pkg__/monitoring_features.py.j2": lambda s: s.monitoring.enabled,
    "tests/test_monitoring_features.py": lambda s: s.monitoring.enabled,
    "dot_github": lambda s: s.ci.github_actions.enabled,
    "codebuild-buildspec.yml.j2": lambda s: s.ci.codebuild.enabled,
    "deploy": lambda s: s.deployment.enabled,
    # Batch scoring on SageMaker: a transform job with a registered model (the spec's `batch` section).
    "deploy/batch.py": lambda s: s.batch is not None,
    "tests/test_batch.py": lambda s: s.deployment.enabled and s.batch is not None,
    "pipelines/__pkg__/inference.py": lambda s: s.deployment.enabled,
    "tests/test_deploy.py": lambda s: s.deployment.enabled,
    "tests/test_autopilot.py": lambda s: s.model.type == "autopilot",
    "tests/test_monitoring.py": lambda s: s.monitoring.enabled,
    "tests/test_model_quality_labels.py": lambda s: (
        s.labeling.enabled and s.monitoring.model_quality is not None
    ),
    "tests/test_smoke_test.py": lambda s: s.deployment.enabled,
    "tests/test_payload.py": lambda s: s.deployment.enabled,
    "studio": lambda s: s.studio.enabled and s.ci.codebuild.enabled,  # the template runs the buildspec
    "labeling": lambda s: s.labeling.enabled,
    "labeling/ground_truth.py.j2": lambda s: s.labeling.ground_truth.enabled,
    # Model Monitor's ground truth from people's labels (monitoring.model_quality).
    "labeling/model_quality_labels.py": lambda s: (
        s.labeling.enabled and s.monitoring.model_quality is not None
    ),
    "labeling/workforce.py": lambda s: s.labeling.enabled and uses_cognito_workforce(s),
    # Inviting reviewers into a Cognito work team: one from an existing pool, or the template's own.
    "labeling/workers.py": lambda s: s.labeling.enabled and has_cognito_team(s),
    "tests/test_workers.py": lambda s: s.labeling.enabled and has_cognito_team(s),
    "tests/test_labeling.py.j2": lambda s: s.labeling.enabled,
    # Facet questions need facet columns; the negative share also needs to know which labels are negative.
    "explore/queries/rows_per_facet.sql.j2": lambda s: bool(s.dataset.facet_columns),
    "explore/queries/label_share_per_facet.sql.j2": lambda s: bool(s.dataset.facet_columns),
    "explore/queries/top_facets_by_negative_share.sql.j2": lambda s: bool(
        s.dataset.facet_columns and negative_labels(s)
    ),
    "features": lambda s: s.feature_store_enabled,
    "tests/test_features.py": lambda s: s.feature_store_enabled,
}

IGNORED_NAMES = {"__pycache__", ".DS_Store", ".pytest_cache", ".ruff_cache"}


@dataclass(frozen=True)
class TemplateFile:
    source: PurePosixPath  # relative to the template root
    target: PurePosixPath  # relative to the output folder
    render: bool


def _enabled(rel: PurePosixPath, spec: Spec) -> bool:
    for prefix, rule in FEATURE_RULES.items():
        parts = PurePosixPath(prefix).parts
        if rel.parts[: len(parts)] == parts and not rule(spec):
            return False
    return True


def target_path(rel: PurePosixPath, package: str) -> PurePosixPath:
    if rel.as_posix() in TARGET_NAMES:
        rel = rel.with_name(TARGET_NAMES[rel.as_posix()])
    parts = []
    for part in rel.parts:
        part = part.replace("__pkg__", package)
        if part.startswith("dot_"):
            part = "." + part[len("dot_") :]
        parts.append(part)
    target = PurePosixPath(*parts)
    return target.with_name(target.name[: -len(".j2")]) if target.name.endswith(".j2") else target


def template_files(root: Path, spec: Spec) -> Iterator[TemplateFile]:
    for path in sorted(root.rglob("*")):
        rel = PurePosixPath(path.relative_to(root).as_posix())
        if path.is_dir() or IGNORED_NAMES.intersection(rel.parts) or path.suffix == ".pyc":
            continue
        if not _enabled(rel, spec):
            continue
        yield TemplateFile(rel, target_path(rel, spec.project.package), rel.name.endswith(".j2"))
