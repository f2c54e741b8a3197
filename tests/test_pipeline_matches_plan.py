"""One source of truth for the DAG: the SageMaker pipeline the generated repo builds runs the same
steps, in the same order, with the same scripts, arguments, hyperparameters and condition as the plan
the local runner executes (sagespec.plan). Builds the real definition offline (SDK v3 + moto)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import pytest

from sagespec.plan import build_plan
from sagespec.render import render_project
from sagespec.spec import load_spec

from .conftest import EXAMPLE_SPECS

pytest.importorskip("sagemaker")
pytest.importorskip("moto")

# Runs inside the generated repo: build the definition under moto and read back, for each processing
# step, which script its uploaded entry point (runproc.sh) runs.
BUILD = textwrap.dedent(
    """
    import json, re
    import boto3
    from pipelines import run_pipeline as rp

    with rp.offline_aws("us-east-1"):
        module = rp.import_pipeline_module(None)
        rp.validate_sdk_config_once()
        session = module.get_pipeline_session("us-east-1", None, rp.OFFLINE_SAGEMAKER_CONFIG)
        pipeline = module.get_pipeline(role=rp.OFFLINE_ROLE_ARN, sagemaker_session=session)
        definition = json.loads(pipeline.definition())
        s3 = boto3.client("s3")
        scripts = {}
        for step in definition["Steps"]:
            for item in step.get("Arguments", {}).get("ProcessingInputs", []):
                if item["InputName"] == "entrypoint":
                    bucket, key = item["S3Input"]["S3Uri"][5:].split("/", 1)
                    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
                    scripts[step["Name"]] = re.findall(r"[\\w-]+\\.py", body)
    print(json.dumps({"definition": definition, "scripts": scripts}))
    """
)


def ordered_steps(definition):
    """Steps in execution order: top-level steps, then the condition's branches (true first)."""
    names = []
    for step in definition["Steps"]:
        names.append((step["Name"], step))
        if step["Type"] == "Condition":
            for branch in ("IfSteps", "ElseSteps"):
                names += [(s["Name"], s) for s in step["Arguments"][branch]]
    return names


@pytest.fixture(scope="module", params=EXAMPLE_SPECS, ids=lambda p: p.stem)
def loaded(request):
    """Each example spec (the BlazingText tuning example among them)."""
    return load_spec(request.param)


@pytest.fixture(scope="module")
def built(loaded, tmp_path_factory):
    out = tmp_path_factory.mktemp("proj") / loaded.spec.project.slug
    render_project(loaded).write(out)
    result = subprocess.run(
        [sys.executable, "-c", BUILD], cwd=out, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    return build_plan(loaded.spec), payload["definition"], payload["scripts"]


def test_same_steps_in_the_same_order(built):
    plan, definition, _ = built
    assert [name for name, _ in ordered_steps(definition)] == plan.names


def test_processing_steps_run_the_same_scripts_with_the_same_arguments(built):
    plan, definition, scripts = built
    steps = dict(ordered_steps(definition))
    for step in plan.steps:
        if step.kind != "processing":
            continue
        arguments = steps[step.name]["Arguments"]["AppSpecification"]["ContainerArguments"]
        assert arguments == list(step.arguments), step.name
        assert step.script in scripts[step.name], (step.name, scripts[step.name])


def test_training_gets_the_plans_hyperparameters(built):
    plan, definition, _ = built
    (train,) = [s for s in plan.steps if s.kind in ("training", "tuning")]
    step = dict(ordered_steps(definition))[train.name]
    if train.kind == "tuning":
        assert step["Type"] == "Tuning"
        job = step["Arguments"]["TrainingJobDefinition"]  # what every training job of the search gets
        hyperparameters = job["StaticHyperParameters"]
    else:
        assert step["Type"] == "Training"
        job = step["Arguments"]
        hyperparameters = job["HyperParameters"]
    # Script mode adds the SDK's own entries (sagemaker_program, ...); every plan value must be there.
    assert {k: hyperparameters.get(k) for k in train.hyperparameters} == train.hyperparameters
    channels = sorted(c["ChannelName"] for c in job["InputDataConfig"])
    assert {i.destination for i in train.inputs} <= set(channels)


def test_tuning_searches_the_specs_ranges(built, loaded):
    """The tuning job searches exactly the spec's ranges (the local search reads the same ones), and
    none of them is also a static hyperparameter."""
    plan, definition, _ = built
    (train,) = [s for s in plan.steps if s.kind in ("training", "tuning")]
    if train.kind != "tuning":
        pytest.skip("the spec does not tune hyperparameters")
    spec = loaded.spec
    arguments = dict(ordered_steps(definition))[train.name]["Arguments"]
    config = arguments["HyperParameterTuningJobConfig"]
    names = [item["Name"] for ranges in config["ParameterRanges"].values() for item in ranges]
    assert sorted(names) == sorted(spec.tuning.ranges)
    assert not set(names) & set(arguments["TrainingJobDefinition"]["StaticHyperParameters"])
    assert not set(names) & set(train.hyperparameters)
    assert config["Strategy"] == spec.tuning.strategy
    assert config["HyperParameterTuningJobObjective"] == {
        "Type": spec.tuning.objective.direction,
        "MetricName": spec.tuning.objective.metric,
    }


def test_condition_reads_the_same_metric_against_the_same_threshold(built):
    plan, definition, _ = built
    (condition,) = [s for s in definition["Steps"] if s["Type"] == "Condition"]
    (check,) = condition["Arguments"]["Conditions"]
    assert check["Type"] == "GreaterThanOrEqualTo"
    assert check["LeftValue"]["Std:JsonGet"]["Path"] == plan.condition.json_path
    assert check["RightValue"] == {"Get": "Parameters.EvaluationThreshold"}
    threshold = next(p for p in definition["Parameters"] if p["Name"] == "EvaluationThreshold")
    assert threshold["DefaultValue"] == plan.condition.threshold
    assert [s["Name"] for s in condition["Arguments"]["IfSteps"]] == [plan.condition.if_true]
    assert [s["Name"] for s in condition["Arguments"]["ElseSteps"]] == [plan.condition.if_false]


def test_preprocess_reads_the_input_data_parameter(built):
    plan, definition, _ = built
    step = dict(ordered_steps(definition))["PreprocessData"]
    inputs = {i["InputName"]: i for i in step["Arguments"]["ProcessingInputs"]}
    data = [i for i in inputs.values() if i["S3Input"]["S3Uri"] == {"Get": "Parameters.InputDataUrl"}]
    assert len(data) == 1
    assert data[0]["S3Input"]["LocalPath"] == plan.step("PreprocessData").inputs[0].destination
    outputs = {
        o["OutputName"]: o["S3Output"]["LocalPath"]
        for o in step["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    }
    assert outputs == {o.name: o.source for o in plan.step("PreprocessData").outputs}
    assert re.match(
        r"^s3://", next(p for p in definition["Parameters"] if p["Name"] == "InputDataUrl")["DefaultValue"]
    )
