"""BERT with hyperparameter tuning, a combination no example spec has: the generated project's pipeline
definition tests pass on it (the tuning job's training jobs run train.py from the shipped source folder
and checkpoint under the execution's own prefix, train.py adding a folder per job)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sagespec.render import render_project
from sagespec.spec import load_spec_text

from .conftest import SPECS

pytestmark = pytest.mark.slow

TUNING = """
tuning:
  strategy: Bayesian
  objective: {metric: "validation:accuracy", direction: Maximize}
  max_jobs: 4
  max_parallel_jobs: 2
  ranges:
    learning_rate: {type: continuous, min: 0.00001, max: 0.001, scaling: Logarithmic}
    epochs: {type: integer, min: 1, max: 3}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    text = (SPECS / "womens-clothing-bert.yaml").read_text()
    for fixed in ("    epochs: 3\n", "    learning_rate: 0.00003\n"):  # tuned now
        assert fixed in text
        text = text.replace(fixed, "")
    loaded = load_spec_text(text + TUNING, SPECS / "bert-tuning.yaml")
    out = tmp_path_factory.mktemp("generated") / "reviews-bert-tuning"
    render_project(loaded).write(out)
    return out


def test_the_pipeline_definition_tests_pass(project):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_pipeline_definition.py"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    tail = (result.stdout + result.stderr)[-4000:]
    assert result.returncode == 0, tail
    # The tuning test ran, not skipped: this project tunes.
    # (only the monitors' baseline steps may skip: this spec monitors nothing).
    skipped = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
    assert " passed" in result.stdout, tail
    assert all("monitor baseline" in line for line in skipped), tail
