"""The SageMaker pipeline definition of each example spec, pinned.

Generate the example, build its pipeline definition offline (``python -m pipelines.run_pipeline
definition``, the generated repo's own command) and compare it with the JSON committed under
tests/snapshots/. A change to the templates that moves code around must leave these definitions as
they are; a change meant to alter the pipeline updates the snapshot in the same commit:

    SAGESPEC_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/test_pipeline_definition_snapshot.py
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sagespec.render import render_project
from sagespec.spec import load_spec
from sagespec.spec.loader import LoadedSpec

from .conftest import EXAMPLE_SPECS, SPECS
from .pipeline_variants import PYTORCH_BERT, load_pytorch_bert

pytestmark = pytest.mark.slow

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
# The SDK names the S3 folders of uploaded code and of training jobs after the time it built them.
_TIMESTAMPS = re.compile(r"-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-\d{3}\b|-\d{14}\b")


def normalise(definition: Any) -> Any:
    """The definition with the build-time timestamps in its S3 keys replaced by ``-<timestamp>``."""
    if isinstance(definition, dict):
        return {key: normalise(value) for key, value in definition.items()}
    if isinstance(definition, list):
        return [normalise(value) for value in definition]
    if isinstance(definition, str):
        return _TIMESTAMPS.sub("-<timestamp>", definition)
    return definition


def build_definition(loaded: LoadedSpec, out: Path) -> dict[str, Any]:
    render_project(loaded).write(out)
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.run_pipeline", "definition"],
        cwd=out,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    # `make -s definition > pipeline.json` says nothing else: the SDK's logging about moto's stand-in
    # (dummy credentials, the bucket it made, job names popped) is not news to whoever runs it.
    assert result.stderr == "", result.stderr[-4000:]
    return json.loads(result.stdout)


def test_normalise_replaces_only_timestamps():
    keys = [
        "s3://b/reviews-bert-preprocess-2026-11-30-15-20-05-241/source/",
        "s3://b/reviews-bert-train/reviews-bert-train-20261130152005/input/code",
        "s3://b/reviews-bert/bias-baseline/a81e17e846164218/constraints.json",
    ]
    assert normalise({"a": keys, "n": 3}) == {
        "a": [
            "s3://b/reviews-bert-preprocess-<timestamp>/source/",
            "s3://b/reviews-bert-train/reviews-bert-train-<timestamp>/input/code",
            keys[2],
        ],
        "n": 3,
    }


@pytest.mark.parametrize("name", [*(path.stem for path in EXAMPLE_SPECS), PYTORCH_BERT])
def test_pipeline_definition_matches_snapshot(name: str, tmp_path: Path):
    """Each example spec's definition, and that of the BERT example trained with PyTorch."""
    loaded = load_pytorch_bert() if name == PYTORCH_BERT else load_spec(SPECS / f"{name}.yaml")
    definition = normalise(build_definition(loaded, tmp_path / "project"))
    snapshot = SNAPSHOTS / f"{name}.pipeline.json"
    if os.environ.get("SAGESPEC_UPDATE_SNAPSHOTS"):
        snapshot.write_text(json.dumps(definition, indent=2, sort_keys=True) + "\n")
    assert definition == json.loads(snapshot.read_text()), (
        f"the pipeline definition of {name} differs from tests/snapshots/{snapshot.name}"
    )
