"""model.debugger on SageMaker: the TrainModel step's CreateTrainingJob request carries the profiler
and TensorBoard settings, botocore-valid, with the region's rule image from the SDK's tables; the
module exists only when the spec asks for them (issue 15)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import yaml

from sagespec.render import render_project
from sagespec.spec import load_spec_text

from ..conftest import SPECS

pytest.importorskip("sagemaker")
pytest.importorskip("moto")

# Runs inside the generated repo with its own offline build and request checks.
BUILD = textwrap.dedent(
    """
    import json, tempfile
    from pathlib import Path
    import botocore.session
    from tests.api_requests import request_problems
    from tests.offline_pipeline import Resolver, build_offline

    with build_offline(Path(tempfile.mkdtemp())) as built:
        step = built.step("TrainModel")
        service = botocore.session.get_session().get_service_model("sagemaker")
        request = Resolver(built.definition, service).concretize(step["Arguments"])
        request["TrainingJobName"] = "trainmodel-job"
        problems = request_problems("sagemaker", "CreateTrainingJob", request)
        print(json.dumps({"arguments": step["Arguments"], "request": request, "problems": problems}))
    """
)


def _spec_text(debugger: dict, framework: str = "tensorflow", region: str = "eu-west-1") -> str:
    spec = yaml.safe_load((SPECS / "womens-clothing-bert.yaml").read_text())
    spec["project"]["region"] = region
    spec["model"]["framework"] = framework
    spec["model"]["debugger"] = debugger
    return yaml.safe_dump(spec, sort_keys=False)


def _render(text: str, tmp_path):
    loaded = load_spec_text(text, SPECS / "womens-clothing-bert-debugger.yaml")
    out = tmp_path / loaded.spec.project.slug
    render_project(loaded).write(out)
    return out, loaded.spec.project.package


def test_debugging_module_only_when_the_spec_asks(tmp_path):
    plain, package = _render(_spec_text({"rules": {"Overfit": {}}}), tmp_path / "a")
    assert not (plain / "pipelines" / package / "debugging.py").exists()  # rules run locally only
    assert "debugged_training_step" not in (plain / "pipelines" / package / "pipeline.py").read_text()
    profiled, _ = _render(_spec_text({"profiler": True}), tmp_path / "b")
    assert (profiled / "pipelines" / package / "debugging.py").exists()
    for command in (["check", "."], ["format", "--check", "."]):  # as the generated project's CI runs it
        lint = subprocess.run(
            [sys.executable, "-m", "ruff", *command], cwd=profiled, capture_output=True, text=True
        )
        assert lint.returncode == 0, lint.stdout[-2000:]


def test_train_model_request_carries_profiler_and_tensorboard(tmp_path):
    from sagemaker.core import image_uris

    debugger = {"profiler": True, "system_monitor_interval_ms": 200, "tensorboard": True}
    out, package = _render(_spec_text(debugger), tmp_path)
    assert len((out / "pipelines" / package / "pipeline.py").read_text().splitlines()) <= 400
    result = subprocess.run(
        [sys.executable, "-c", BUILD], cwd=out, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    assert payload["problems"] == []
    request = payload["request"]
    assert request["ProfilerConfig"]["ProfilingIntervalInMilliseconds"] == 200
    assert request["ProfilerConfig"]["S3OutputPath"].startswith("s3://")
    (report,) = request["ProfilerRuleConfigurations"]
    assert report["RuleConfigurationName"] == "ProfilerReport"
    assert report["RuleEvaluatorImage"] == image_uris.retrieve("debugger", "eu-west-1")
    assert report["RuleParameters"] == {"rule_to_invoke": "ProfilerReport"}
    assert request["TensorBoardOutputConfig"]["LocalPath"] == "/opt/ml/output/tensorboard"
    assert request["Environment"]["SAGESPEC_TENSORBOARD_DIR"] == "/opt/ml/output/tensorboard"
    # Debugger rules are evaluated locally only: no rule job that could never fire.
    assert "DebugRuleConfigurations" not in request and "DebugHookConfig" not in request
