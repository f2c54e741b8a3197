"""model.debugger on SageMaker: the TrainModel step's CreateTrainingJob request carries the profiler,
the spec's built-in rules with the hook output train.py writes for them, and TensorBoard, botocore-valid,
with the region's rule image from the SDK's tables; the modules exist only when the spec asks for them
(issue 15)."""

from __future__ import annotations

import ast
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

    with tempfile.TemporaryDirectory() as tmp, build_offline(Path(tmp)) as built:
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


def test_debugging_modules_only_when_the_spec_asks(tmp_path):
    plain, package = _render(_spec_text({}), tmp_path / "a")
    assert not (plain / "pipelines" / package / "debugging.py").exists()
    assert "debugged_training_step" not in (plain / "pipelines" / package / "pipeline.py").read_text()
    profiled, _ = _render(_spec_text({"profiler": True}), tmp_path / "b")
    assert (profiled / "pipelines" / package / "debugging.py").exists()
    assert not (profiled / "pipelines" / package / "debug_tensors.py").exists()  # no rule reads losses
    ruled, _ = _render(_spec_text({"rules": {"Overfit": {}}}, framework="pytorch"), tmp_path / "c")
    assert (ruled / "pipelines" / package / "debugging.py").exists()
    assert (ruled / "pipelines" / package / "debug_tensors.py").exists()  # beside train.py, which imports it
    for project in (profiled, ruled):
        for command in (["check", "."], ["format", "--check", "."]):  # as the generated project's CI runs it
            lint = subprocess.run(
                [sys.executable, "-m", "ruff", *command], cwd=project, capture_output=True, text=True
            )
            assert lint.returncode == 0, lint.stdout[-2000:]


def _request(tmp_path, debugger: dict, framework: str = "tensorflow") -> dict:
    """The TrainModel step's CreateTrainingJob request, its expressions resolved, checked by botocore."""
    out, package = _render(_spec_text(debugger, framework), tmp_path)
    assert len((out / "pipelines" / package / "pipeline.py").read_text().splitlines()) <= 400
    result = subprocess.run(
        [sys.executable, "-c", BUILD], cwd=out, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    assert payload["problems"] == []
    return payload


def test_train_model_request_carries_profiler_and_tensorboard(tmp_path):
    from sagemaker.core import image_uris

    debugger = {"profiler": True, "system_monitor_interval_ms": 200, "tensorboard": True}
    request = _request(tmp_path, debugger)["request"]
    assert request["ProfilerConfig"]["ProfilingIntervalInMilliseconds"] == 200
    assert request["ProfilerConfig"]["S3OutputPath"].startswith("s3://")
    (report,) = request["ProfilerRuleConfigurations"]
    assert report["RuleConfigurationName"] == "ProfilerReport"
    assert report["RuleEvaluatorImage"] == image_uris.retrieve("debugger", "eu-west-1")
    assert report["RuleParameters"] == {"rule_to_invoke": "ProfilerReport"}
    assert request["TensorBoardOutputConfig"]["LocalPath"] == "/opt/ml/output/tensorboard"
    assert request["Environment"]["SAGESPEC_TENSORBOARD_DIR"] == "/opt/ml/output/tensorboard"
    # No rules in the spec: no hook output and no rule job.
    assert "DebugRuleConfigurations" not in request and "DebugHookConfig" not in request
    assert "SAGESPEC_DEBUG_TENSORS_DIR" not in request["Environment"]


@pytest.mark.parametrize("framework", ["tensorflow", "pytorch"])
def test_train_model_request_carries_the_rules_and_the_hook_output_they_read(tmp_path, framework):
    from sagemaker.core import image_uris

    rules = {
        "LossNotDecreasing": {"num_steps": 2, "mode": "EVAL"},
        "Overfit": {},
        "Overtraining": {"patience_train": 3, "delta": 0.05},
        "StalledTrainingRule": {"threshold": 900},
    }
    debugger = {"rules": rules, "stop_training_on": ["Overtraining", "LossNotDecreasing"]}
    payload = _request(tmp_path, debugger, framework)
    request = payload["request"]
    # train.py is told where to write the losses (debug_tensors.py); SageMaker uploads that folder.
    assert request["Environment"]["SAGESPEC_DEBUG_TENSORS_DIR"] == "/opt/ml/output/tensors"
    hook = request["DebugHookConfig"]
    assert hook["LocalPath"] == "/opt/ml/output/tensors"
    assert hook["S3OutputPath"].startswith("s3://") and hook["S3OutputPath"].endswith(
        "/debug-output/a1b2c3d4e5f6"
    )
    assert hook["CollectionConfigurations"] == [
        {"CollectionName": "losses", "CollectionParameters": {"save_interval": "1"}}
    ]
    configurations = {c["RuleConfigurationName"]: c for c in request["DebugRuleConfigurations"]}
    assert list(configurations) == list(rules)
    for name, configuration in configurations.items():
        assert configuration["RuleEvaluatorImage"] == image_uris.retrieve("debugger", "eu-west-1")
        assert configuration["RuleParameters"]["rule_to_invoke"] == name
    # The spec's parameters over sagespec's defaults, as text: what `sagespec local run` evaluates with.
    parameters = {name: dict(c["RuleParameters"]) for name, c in configurations.items()}
    for p in parameters.values():
        del p["rule_to_invoke"]
        p.pop("action_json", None)
    assert parameters == {
        "LossNotDecreasing": {"num_steps": "2", "diff_percent": "0.0", "mode": "EVAL"},
        "Overfit": {"start_step": "0", "patience": "1", "ratio_threshold": "0.1"},
        "Overtraining": {"patience_train": "3", "patience_validation": "10", "delta": "0.05"},
        "StalledTrainingRule": {"threshold": "900"},
    }
    # StopTraining for the rules in stop_training_on. The job's name is known only at run time, so the
    # definition joins the SDK's serialised action around pipelines-<execution id> ...
    in_definition = {c["RuleConfigurationName"]: c for c in payload["arguments"]["DebugRuleConfigurations"]}
    for name in ("Overtraining", "LossNotDecreasing"):
        assert "Std:Join" in in_definition[name]["RuleParameters"]["action_json"]
        # ... and the rule image reads the text as a Python string literal holding JSON (the SDK's
        # validate_action_str does the same to check it).
        action = json.loads(ast.literal_eval(f'"{configurations[name]["RuleParameters"]["action_json"]}"'))
        assert action == [{"name": "stoptraining", "training_job_prefix": "pipelines-a1b2c3d4e5f6"}]
    assert "action_json" not in configurations["Overfit"]["RuleParameters"]
    assert "action_json" not in configurations["StalledTrainingRule"]["RuleParameters"]
