"""Experiment tracking in the generated project: tracking.py and the MLflow pins only when the spec has a
`tracking` section, the jobs' environment in settings.py, `make mlflow`, and an IAM statement that lets
the pipeline's role use that one tracking server (and its artifact store)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sagespec.render import generate
from sagespec.render.context_tracking import MLFLOW_VERSION, SAGEMAKER_MLFLOW_VERSION
from sagespec.spec import load_spec_text

from ..conftest import SPECS

REPO = Path(__file__).resolve().parents[2]
IAC_BIN = Path(os.environ.get("SAGESPEC_IAC_BIN", REPO / ".venv-iac" / "bin"))
ARN = "arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/reviews"
TRACKING = f"""
tracking:
  mlflow:
    tracking_server_arn: {ARN}
    experiment: reviews-sentiment
    artifact_store_uri: s3://reviews-mlflow/artifacts
"""


def _generate(tmp_path: Path, name: str, extra: str = "") -> tuple[Path, Path]:
    """The project of specs/<name> (+ ``extra``) and its pipeline package folder."""
    loaded = load_spec_text((SPECS / name).read_text() + extra, SPECS / name)
    out = tmp_path / "project"
    generate(loaded, out)
    return out, out / "pipelines" / loaded.spec.project.package


def _constant(path: Path, name: str) -> object:
    """The literal value a module assigns to ``name``."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return ast.literal_eval(node.value)
    raise AssertionError(f"{path} assigns no {name}")


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form intrinsics (!Sub, !Ref, ...) as plain values."""


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: loader.construct_scalar(node))


def _statements(project: Path) -> dict[str, dict]:
    template = yaml.load((project / "studio" / "project-template.yaml").read_text(), Loader=_CfnLoader)
    role = template["Resources"]["SageMakerPipelineRole"]["Properties"]
    return {s["Sid"]: s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]}


def test_without_tracking_nothing_of_mlflow_is_generated(tmp_path):
    project, package = _generate(tmp_path, "womens-clothing-blazingtext.yaml")
    assert not (package / "tracking.py").exists()
    for path in (package / "requirements.txt", project / "requirements-dev.txt", package / "settings.py"):
        assert "mlflow" not in path.read_text().lower(), path
    assert "MLFLOW" not in (package / "pipeline.py").read_text()
    assert "mlflow:" not in (project / "Makefile").read_text()
    assert "MlflowTracking" not in _statements(project)


def test_with_tracking_the_jobs_get_the_module_the_pins_and_the_environment(tmp_path):
    project, package = _generate(tmp_path, "womens-clothing-blazingtext.yaml", TRACKING)
    assert (package / "tracking.py").is_file()
    requirements = (package / "requirements.txt").read_text().splitlines()
    assert f"mlflow-skinny=={MLFLOW_VERSION}" in requirements
    assert f"sagemaker-mlflow=={SAGEMAKER_MLFLOW_VERSION}" in requirements
    assert any(
        line.startswith(f"mlflow=={MLFLOW_VERSION}")
        for line in (project / "requirements-dev.txt").read_text().splitlines()
    )
    assert _constant(package / "settings.py", "TRACKING_ENVIRONMENT") == {
        "MLFLOW_TRACKING_URI": ARN,
        "MLFLOW_EXPERIMENT_NAME": "reviews-sentiment",
    }
    makefile = (project / "Makefile").read_text()
    assert "mlflow ui --backend-store-uri sqlite:///.sagespec-runs/mlflow.db" in makefile
    for check in (["check"], ["format", "--check"]):  # the project's own ruff settings
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *check, "."], cwd=project, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_pipeline_role_may_use_that_tracking_server_and_its_artifact_store_only(tmp_path):
    project, _ = _generate(tmp_path, "womens-clothing-blazingtext.yaml", TRACKING)
    statement = _statements(project)["MlflowTracking"]
    actions = statement["Action"]
    assert not [action for action in actions if "*" in action]
    assert {a.split(":")[0] for a in actions} == {"sagemaker-mlflow", "s3"}
    assert statement["Resource"] == [
        ARN,
        "arn:${AWS::Partition}:s3:::reviews-mlflow",
        "arn:${AWS::Partition}:s3:::reviews-mlflow/artifacts/*",
    ]
    cfn_lint = IAC_BIN / "cfn-lint"
    if cfn_lint.exists():
        result = subprocess.run(
            [cfn_lint, project / "studio" / "project-template.yaml"], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_without_an_artifact_store_only_the_server_is_granted(tmp_path):
    extra = TRACKING.replace("    artifact_store_uri: s3://reviews-mlflow/artifacts\n", "")
    project, _ = _generate(tmp_path, "womens-clothing-blazingtext.yaml", extra)
    statement = _statements(project)["MlflowTracking"]
    assert statement["Resource"] == [ARN]
    assert all(action.startswith("sagemaker-mlflow:") for action in statement["Action"])


@pytest.mark.parametrize("name", ["womens-clothing-blazingtext-tuning.yaml", "womens-clothing-bert.yaml"])
def test_the_pipeline_module_stays_under_400_lines_with_tracking(tmp_path, name):
    _, package = _generate(tmp_path, name, TRACKING)
    assert len((package / "pipeline.py").read_text().splitlines()) <= 400
