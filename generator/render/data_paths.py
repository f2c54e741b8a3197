"""Where a generated project keeps its dataset: the file's name, and its key in the default bucket.

Both the pipeline's default InputDataUrl (render.context) and the Studio template's policies
(render.context_studio) name that key, so it is computed once, here.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from ..spec.models import Spec


def dataset_file_name(spec: Spec) -> str:
    """The dataset's file name, as the generated repo's data/ folder and S3 key carry it."""
    name = PurePosixPath(spec.dataset.source.replace("\\", "/")).name
    return name or f"dataset.{spec.dataset.format}"


def default_data_key(spec: Spec) -> str:
    """The dataset's key in the default bucket: where CI uploads it and the pipeline reads it."""
    return f"{spec.project.slug}/data/{dataset_file_name(spec)}"
