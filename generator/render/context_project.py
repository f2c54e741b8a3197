"""The project-wide groups of the template context: ``sagespec`` (what this sagespec pins), ``project``
(names every file shares), ``data`` (the dataset and where the repo keeps it) and ``ci``."""

from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass

from .. import __version__
from ..spec.models import Spec, camel_words
from .data_paths import dataset_file_name, default_data_key
from .origin import Origin

# Container images the pipeline uses; the TF version matches the local TensorFlow (tf-keras pins to it).
TENSORFLOW_VERSION = "2.21"
TENSORFLOW_PY_VERSION = "py312"
SKLEARN_FRAMEWORK_VERSION = "1.4-2"
SAGEMAKER_SDK_VERSION = "3.27.0"
MIN_PYTHON_VERSION = "3.11"


@dataclass(frozen=True)
class SagespecGroup:
    """``sagespec.*``: this sagespec, where the project installs it from, and the versions it pins."""

    version: str
    origin: Origin
    # The oldest Python the generated code supports (sagespec's own floor); CI runs ci.python_version.
    min_python_version: str = MIN_PYTHON_VERSION
    sagemaker_sdk_version: str = SAGEMAKER_SDK_VERSION
    tensorflow_version: str = TENSORFLOW_VERSION
    tensorflow_py_version: str = TENSORFLOW_PY_VERSION
    sklearn_framework_version: str = SKLEARN_FRAMEWORK_VERSION


@dataclass(frozen=True)
class ProjectGroup:
    """``project.*``: the names every part of the repo shares, all from ``spec.project``."""

    name: str
    description: str
    slug: str
    pkg: str
    region: str
    tags: dict[str, str]
    pipeline_name: str
    base_job_prefix: str


@dataclass(frozen=True)
class DataGroup:
    """``data.*``: the dataset's columns and classes, and where the repo and the bucket keep it."""

    text_column: str
    label_column: str
    classes: list[str]
    facet_columns: list[str]
    local_path: str | None  # None for an s3:// source
    default_key: str
    upload_command: str | None


@dataclass(frozen=True)
class CiGroup:
    """``ci.*``: GitHub Actions and CodeBuild, from ``spec.ci``."""

    python_version: str
    github_actions: bool
    github_role_arn: str | None
    github_branch: str
    codebuild: bool
    codebuild_image: str


def sagespec_group(origin: Origin) -> SagespecGroup:
    return SagespecGroup(version=__version__, origin=origin)


def pipeline_name(spec: Spec) -> str:
    return f"{camel_words(spec.project.slug)}Pipeline"


def project_group(spec: Spec) -> ProjectGroup:
    project = spec.project
    return ProjectGroup(
        name=project.name,
        description=project.description,
        slug=project.slug,
        pkg=project.package,
        region=project.region,
        tags=dict(project.tags),
        pipeline_name=pipeline_name(spec),
        base_job_prefix=project.slug,
    )


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


def data_group(spec: Spec) -> DataGroup:
    ds = spec.dataset
    return DataGroup(
        text_column=ds.text_column,
        label_column=ds.label_column,
        classes=[str(c) for c in ds.classes],
        facet_columns=list(ds.facet_columns),
        local_path=local_data_path(spec),
        default_key=default_data_key(spec),
        upload_command=data_upload_command(spec),
    )


def ci_group(spec: Spec) -> CiGroup:
    ci = spec.ci
    return CiGroup(
        python_version=ci.python_version,
        github_actions=ci.github_actions.enabled,
        github_role_arn=ci.github_actions.role_arn,
        github_branch=ci.github_actions.branch,
        codebuild=ci.codebuild.enabled,
        codebuild_image=ci.codebuild.image,
    )
