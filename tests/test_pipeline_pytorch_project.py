"""The generated project's own pipeline-definition tests pass on a PyTorch BERT project, trained on two
instances, with and without hyperparameter tuning (the tuning job's training jobs start train.py with
torchrun too)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sagespec.render import render_project
from sagespec.spec import load_spec_text

from .conftest import SPECS, run_in_project
from .pipeline_variants import PYTORCH_BERT, pytorch_bert_text
from .test_bert_tuning_pipeline import TUNING

pytestmark = pytest.mark.slow


def _tuned(text: str) -> str:
    for fixed in ("    epochs: 3\n", "    learning_rate: 0.00003\n"):  # tuned now
        assert fixed in text
        text = text.replace(fixed, "")
    return text + TUNING


@pytest.mark.parametrize("tuned", [False, True], ids=["train", "tune"])
def test_the_pipeline_definition_tests_pass(tuned: bool, tmp_path: Path):
    text = _tuned(pytorch_bert_text()) if tuned else pytorch_bert_text()
    loaded = load_spec_text(text, SPECS / f"{PYTORCH_BERT}.yaml")
    project = tmp_path / "project"
    render_project(loaded).write(project)
    result = run_in_project(
        project, "pytest", "-q", "-p", "no:cacheprovider", "-rs", "tests/test_pipeline_definition.py"
    )
    tail = (result.stdout + result.stderr)[-4000:]
    assert result.returncode == 0, tail
    # The PyTorch checks ran rather than skipped; the tuning test runs only where the spec tunes.
    assert "does not train with PyTorch" not in result.stdout, tail
    assert ("does not tune hyperparameters" in result.stdout) is not tuned, tail
