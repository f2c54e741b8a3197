"""A PyTorch BERT project on SageMaker: its own pipeline-definition tests pass, trained on two instances,
with and without hyperparameter tuning (the tuning job's training jobs start train.py with torchrun too),
and its jobs install the transformers that `make local` runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.requirements import Requirement

from sagespec.render import render_project
from sagespec.spec import load_spec_text

from .conftest import SPECS, run_in_project
from .pipeline_variants import PYTORCH_BERT, pytorch_bert_text
from .test_bert_tuning_pipeline import TUNING


def _tuned(text: str) -> str:
    for fixed in ("    epochs: 3\n", "    learning_rate: 0.00003\n"):  # tuned now
        assert fixed in text
        text = text.replace(fixed, "")
    return text + TUNING


@pytest.mark.slow
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
    # Nothing skipped but the tuning test where the spec does not tune.
    # (and the monitors' baseline steps: this spec monitors nothing).
    skipped = [
        line
        for line in result.stdout.splitlines()
        if line.startswith("SKIPPED") and "monitor baseline" not in line
    ]
    assert len(skipped) == (0 if tuned else 1), tail
    assert all("does not tune hyperparameters" in line for line in skipped), tail


def _pins(text: str) -> dict[str, str]:
    """name -> version specifier of each requirement line (comments and pip options left out)."""
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    requirements = [Requirement(line) for line in lines if line and not line.startswith("-")]
    return {requirement.name: str(requirement.specifier) for requirement in requirements}


def test_the_jobs_install_the_transformers_make_local_runs(tmp_path: Path):
    """The PyTorch image has no transformers: the step requirements pin the one requirements-dev.txt pins
    (what `make local` and the project's tests run), and nothing TensorFlow."""
    project = tmp_path / "project"
    render_project(load_spec_text(pytorch_bert_text(), SPECS / f"{PYTORCH_BERT}.yaml")).write(project)
    (package,) = (project / "pipelines").glob("*/model_bert.py")
    jobs = _pins((package.parent / "requirements.txt").read_text())
    local = _pins((project / "requirements-dev.txt").read_text())
    assert jobs["transformers"] == local["transformers"] and jobs["transformers"].startswith("==")
    assert not {"tensorflow", "tf-keras"} & set(jobs)
    assert "Torchrun" in package.read_text()


def test_ci_installs_the_cpu_build_of_torch_only_for_pytorch_projects(tmp_path: Path):
    """The CI machines have no GPU: a PyTorch project's CI takes torch from PyTorch's CPU index (pip then
    prefers <version>+cpu), not PyPI's CUDA build; a TensorFlow project's CI installs no torch at all."""
    import yaml

    for text, framework in (
        (pytorch_bert_text(), "pytorch"),
        ((SPECS / "womens-clothing-bert.yaml").read_text(), "tf"),
    ):
        files = render_project(load_spec_text(text, SPECS / f"{framework}.yaml")).files
        workflow = yaml.safe_load(files[".github/workflows/ci.yml"].decode())
        (install,) = [step for step in workflow["jobs"]["test"]["steps"] if step.get("name") == "Install"]
        buildspec = yaml.safe_load(files["codebuild-buildspec.yml"].decode())
        found = {
            install["env"].get("PIP_EXTRA_INDEX_URL"),
            buildspec["env"]["variables"].get("PIP_EXTRA_INDEX_URL"),
        }
        expected = "https://download.pytorch.org/whl/cpu" if framework == "pytorch" else None
        assert found == {expected}, framework
        torch_lines = [
            line for line in files["requirements-dev.txt"].decode().splitlines() if line.startswith("torch")
        ]
        assert len(torch_lines) == (1 if framework == "pytorch" else 0), torch_lines
        assert all(line.startswith("torch==") for line in torch_lines)  # pinned: an exact version to find
