"""Experiment tracking in the generated project: tracking.py and the MLflow pins only when the spec has a
`tracking` section, the jobs' environment in settings.py, `make mlflow`, and an IAM statement that lets
the pipeline's role use that one tracking server (and its artifact store)."""

from __future__ import annotations

import json
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


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form intrinsics (!Sub, !Ref, ...) as plain values."""


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: loader.construct_scalar(node))


def _statements(project: Path) -> dict[str, dict]:
    template = yaml.load((project / "studio" / "project-template.yaml").read_text(), Loader=_CfnLoader)
    role = template["Resources"]["SageMakerPipelineRole"]["Properties"]
    return {s["Sid"]: s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]}


def _tracking_environment(project: Path, package: Path, **environ: str) -> object:
    """settings.TRACKING_ENVIRONMENT as the generated project computes it under ``environ``."""
    module = f"pipelines.{package.name}.settings"
    script = f"import json, {module} as s; print(json.dumps(s.TRACKING_ENVIRONMENT))"
    variables = {k: v for k, v in os.environ.items() if not k.startswith("SAGEMAKER_PROJECT_")}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=project,
        env={**variables, **environ},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


@pytest.mark.parametrize("experiment", ["", "    experiment: reviews-sentiment\n"])
def test_inside_a_sagemaker_project_the_experiment_is_the_projects(tmp_path, experiment):
    """Projects launched from one Studio template share its spec: each logs to an experiment of its own
    (pipelines/project_names.py), whether the spec names one or not; outside a project the spec's stays."""
    extra = TRACKING.replace("    experiment: reviews-sentiment\n", experiment)
    project, package = _generate(tmp_path, "womens-clothing-blazingtext.yaml", extra)
    outside = _tracking_environment(project, package)
    assert outside["MLFLOW_EXPERIMENT_NAME"] == ("reviews-sentiment" if experiment else "reviews-blazingtext")
    for name, project_id in (("reviews", "p-1a2b3c4d5e6f"), ("Reviews-staging", "p-9z8y7x6w5v4u")):
        inside = _tracking_environment(
            project, package, SAGEMAKER_PROJECT_NAME=name, SAGEMAKER_PROJECT_ID=project_id
        )
        assert inside == {"MLFLOW_TRACKING_URI": ARN, "MLFLOW_EXPERIMENT_NAME": f"{name}-{project_id}"}


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
    assert _tracking_environment(project, package) == {
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
