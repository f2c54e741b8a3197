"""On SageMaker, every job of a tracking project's pipeline logs to the MLflow tracking server: the real
definition (SDK v3 under moto) gives each processing, training and tuning job the server as
MLFLOW_TRACKING_URI, the experiment, and the pipeline execution id that names the execution's run, the
registered model package names that experiment and execution, and each step's request stays one
botocore accepts (the generated project's own definition test)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from sagespec.render import render_project
from sagespec.spec import load_spec_text

from .conftest import SPECS, run_in_project

pytest.importorskip("sagemaker")
pytest.importorskip("moto")

ARN = "arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/reviews"
TRACKING = f"\ntracking:\n  mlflow:\n    tracking_server_arn: {ARN}\n"
BUILD = textwrap.dedent(
    """
    import json
    from pipelines import run_pipeline as rp

    with rp.offline_aws("us-east-1"):
        module = rp.import_pipeline_module(None)
        rp.validate_sdk_config_once()
        session = module.get_pipeline_session("us-east-1", None, rp.OFFLINE_SAGEMAKER_CONFIG)
        pipeline = module.get_pipeline(role=rp.OFFLINE_ROLE_ARN, sagemaker_session=session)
        print(json.dumps(json.loads(pipeline.definition())))
    """
)
# The jobs whose code is ours: Clarify's processing job (CheckDataBias) runs AWS's analyzer.
JOB_STEPS = {"Processing", "Training", "Tuning"}


TRAINING = "womens-clothing-blazingtext.yaml"
TUNING = "womens-clothing-blazingtext-tuning.yaml"


def _render(name, tmp_path_factory):
    loaded = load_spec_text((SPECS / name).read_text() + TRACKING, SPECS / name)
    out = tmp_path_factory.mktemp("tracking") / loaded.spec.project.slug
    render_project(loaded).write(out)
    return out, loaded.spec


@pytest.fixture(scope="module", params=[TRAINING, TUNING])
def project(request, tmp_path_factory):
    """The BlazingText example with tracking: with a training step, and with a tuning step."""
    return _render(request.param, tmp_path_factory)


def test_every_job_logs_to_the_tracking_server_within_its_execution(project):
    out, spec = project
    result = subprocess.run(
        [sys.executable, "-c", BUILD], cwd=out, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    definition = json.loads(result.stdout.strip().splitlines()[-1])
    jobs = {}
    for step in definition["Steps"]:
        if step["Type"] in JOB_STEPS:
            arguments = step["Arguments"]
            jobs[step["Name"]] = arguments.get("TrainingJobDefinition", arguments).get("Environment")
    training = "TuneModel" if spec.tuning_enabled else "TrainModel"
    assert set(jobs) == {"PrepareData", "PreprocessData", training, "EvaluateModel"}
    for name, environment in jobs.items():
        assert environment == {
            "MLFLOW_TRACKING_URI": ARN,
            "MLFLOW_EXPERIMENT_NAME": spec.project.slug,
            "PIPELINE_EXECUTION_ID": {"Get": "Execution.PipelineExecutionId"},
        }, name
    # The registered model package leads back to the execution's MLflow run (tagged with its id).
    (register,) = [step for step in _all_steps(definition["Steps"]) if step["Name"] == "RegisterModel"]
    assert register["Arguments"]["CustomerMetadataProperties"] == {
        "mlflow_experiment": spec.project.slug,
        "pipeline_execution_id": {"Get": "Execution.PipelineExecutionId"},
    }


def _all_steps(steps: list[dict]) -> list[dict]:
    """The steps and, within condition steps, the steps of both branches."""
    found = []
    for step in steps:
        found.append(step)
        arguments = step.get("Arguments", {})
        found += _all_steps(arguments.get("IfSteps", []) + arguments.get("ElseSteps", []))
    return found


def test_the_step_requests_stay_valid_api_requests(tmp_path_factory):
    """The tuning project: its processing jobs are the training project's, and its tuning job's training
    job definition carries the environment too."""
    out, _ = _render(TUNING, tmp_path_factory)
    result = run_in_project(
        out, "pytest", "tests/test_pipeline_definition.py", "-q", "-p", "no:cacheprovider", timeout=600
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
