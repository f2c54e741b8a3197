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
from .pipeline_variants import MONITORED, PYTORCH_BERT, load_monitored, load_pytorch_bert

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
        # What the SDK's driver channel tells a training job's container: its distributed launcher.
        launchers = {}
        for step in definition["Steps"]:
            job = step.get("Arguments", {})
            job = job.get("TrainingJobDefinition", job)
            for channel in job.get("InputDataConfig", []):
                if channel.get("ChannelName") == "sm_drivers":  # (AutoML channels have none)
                    uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
                    bucket, prefix = uri[5:].split("/", 1)
                    read = lambda name: s3.get_object(Bucket=bucket, Key=f"{prefix}/{name}")["Body"].read()
                    launchers[step["Name"]] = {
                        "distributed": json.loads(read("distributed.json")),
                        "sm_train": read("sm_train.sh").decode(),
                    }
    print(json.dumps({"definition": definition, "scripts": scripts, "launchers": launchers}))
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


VARIANTS = {PYTORCH_BERT: load_pytorch_bert, MONITORED: load_monitored}


@pytest.fixture(
    scope="module", params=[*EXAMPLE_SPECS, PYTORCH_BERT, MONITORED], ids=lambda p: getattr(p, "stem", p)
)
def loaded(request):
    """Each example spec (the BlazingText tuning example among them), the BERT example trained with
    PyTorch on two instances, and the BlazingText example with Model Monitor's baselines."""
    return VARIANTS[request.param]() if request.param in VARIANTS else load_spec(request.param)


@pytest.fixture(scope="module")
def built(loaded, tmp_path_factory):
    out = tmp_path_factory.mktemp("proj") / loaded.spec.project.slug
    render_project(loaded).write(out)
    result = subprocess.run(
        [sys.executable, "-c", BUILD], cwd=out, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    return build_plan(loaded.spec), payload["definition"], payload["scripts"], payload["launchers"]


# Steps only the SageMaker pipeline of an Autopilot project runs: its best candidate is a container, so it
# becomes a model that predicts the test split for EvaluateModel; locally the AutoML search's best
# candidate is a model evaluate.py loads itself.
AUTOPILOT_SAGEMAKER_STEPS = ["CreateBestModel", "PredictTestSplit"]


def test_same_steps_in_the_same_order(built, loaded):
    plan, definition, *_ = built
    names = [name for name, _ in ordered_steps(definition)]
    if loaded.spec.model.type == "autopilot":
        at = names.index("TrainModel") + 1
        assert names[at : at + 2] == AUTOPILOT_SAGEMAKER_STEPS
        del names[at : at + 2]
    assert names == plan.names


def test_processing_steps_run_the_same_scripts_with_the_same_arguments(built):
    plan, definition, scripts, _ = built
    steps = dict(ordered_steps(definition))
    for step in plan.steps:
        if step.kind != "processing":
            continue
        arguments = steps[step.name]["Arguments"]["AppSpecification"]["ContainerArguments"]
        assert arguments == list(step.arguments), step.name
        assert step.script in scripts[step.name], (step.name, scripts[step.name])


def test_training_gets_the_plans_hyperparameters(built):
    plan, definition, *_ = built
    (train,) = [s for s in plan.steps if s.kind in ("training", "tuning")]
    step = dict(ordered_steps(definition))[train.name]
    if step["Type"] == "AutoML":
        # The AutoML job's settings are the plan's (what the local search receives as hyperparameters).
        arguments = step["Arguments"]
        criteria = arguments["AutoMLJobConfig"]["CompletionCriteria"]
        assert {
            "max_candidates": str(criteria["MaxCandidates"]),
            "objective": arguments["AutoMLJobObjective"]["MetricName"],
            "mode": arguments["AutoMLJobConfig"]["Mode"],
            "max_runtime_per_training_job_seconds": str(criteria["MaxRuntimePerTrainingJobInSeconds"]),
            "max_total_runtime_seconds": str(criteria["MaxAutoMLJobRuntimeInSeconds"]),
            "target": arguments["InputDataConfig"][0]["TargetAttributeName"],
        } == train.hyperparameters
        channels = {
            c["ChannelType"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in arguments["InputDataConfig"]
        }
        assert channels == {
            "training": {
                "Get": "Steps.PreprocessData.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"
            },
            "validation": {
                "Get": "Steps.PreprocessData.ProcessingOutputConfig.Outputs['validation'].S3Output.S3Uri"
            },
        }
        return
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
    plan, definition, *_ = built
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
    plan, definition, *_ = built
    (condition,) = [s for s in definition["Steps"] if s["Type"] == "Condition"]
    (check,) = condition["Arguments"]["Conditions"]
    assert check["Type"] == "GreaterThanOrEqualTo"
    assert check["LeftValue"]["Std:JsonGet"]["Path"] == plan.condition.json_path
    assert check["RightValue"] == {"Get": "Parameters.EvaluationThreshold"}
    threshold = next(p for p in definition["Parameters"] if p["Name"] == "EvaluationThreshold")
    assert threshold["DefaultValue"] == plan.condition.threshold
    assert [s["Name"] for s in condition["Arguments"]["IfSteps"]] == [plan.condition.if_true]
    assert [s["Name"] for s in condition["Arguments"]["ElseSteps"]] == [plan.condition.if_false]


def _expected_uri(source: str):
    """The definition's S3Uri for a plan input's source; None for a trained model (its URI is the
    training or tuning step's own expression, checked by the generated project's tests)."""
    kind, _, name = source.partition(":")
    if kind == "param":
        return {"Get": f"Parameters.{name}"}
    step, output = name.split("/")
    if output == "model":
        return None
    return {"Get": f"Steps.{step}.ProcessingOutputConfig.Outputs['{output}'].S3Output.S3Uri"}


def test_processing_steps_read_and_write_what_the_plan_says(built):
    """Each processing step's inputs (source, container path, how its instances share the files) and
    outputs are the plan's, so the local runner shards exactly what SageMaker shards."""
    plan, definition, *_ = built
    steps = dict(ordered_steps(definition))
    checked = set()
    for step in plan.steps:
        if step.kind != "processing":
            continue
        arguments = steps[step.name]["Arguments"]
        inputs = {i["InputName"]: i["S3Input"] for i in arguments["ProcessingInputs"]}
        for item in step.inputs:
            s3_input = inputs[item.name]
            assert s3_input["LocalPath"] == item.destination, (step.name, item.name)
            assert s3_input["S3DataDistributionType"] == item.distribution, (step.name, item.name)
            assert s3_input["S3DataType"] == "S3Prefix" and s3_input["S3InputMode"] == "File"
            if (expected := _expected_uri(item.source)) is not None:
                assert s3_input["S3Uri"] == expected, (step.name, item.name)
            checked.add(item.distribution)
        # The SDK adds the job's code and entrypoint; every other input is the plan's.
        assert set(inputs) - {"code", "entrypoint"} == {item.name for item in step.inputs}, step.name
        outputs = {
            o["OutputName"]: o["S3Output"]["LocalPath"]
            for o in arguments["ProcessingOutputConfig"]["Outputs"]
        }
        assert outputs == {o.name: o.source for o in step.outputs}, step.name
        cluster = arguments["ProcessingResources"]["ClusterConfig"]
        if any(item.distribution == "ShardedByS3Key" for item in step.inputs):
            # A sharded step runs on as many instances as the ProcessingInstanceCount parameter says.
            assert cluster["InstanceCount"] == {"Get": "Parameters.ProcessingInstanceCount"}, step.name
    assert checked == {"ShardedByS3Key", "FullyReplicated"}


def test_the_data_steps_shard_the_raw_files_and_the_rows_and_replicate_the_counts(built):
    """What issue 21 asks of the definition, spelled out: PrepareData reads the InputDataUrl parameter
    sharded by S3 key and writes rows and counts; PreprocessData reads the rows sharded, the counts
    replicated, and runs after PrepareData."""
    _, definition, *_ = built
    steps = dict(ordered_steps(definition))
    names = [name for name, _ in ordered_steps(definition)]
    assert names.index("PrepareData") < names.index("PreprocessData")

    def inputs(name):
        return {i["InputName"]: i["S3Input"] for i in steps[name]["Arguments"]["ProcessingInputs"]}

    raw = inputs("PrepareData")["input-data"]
    assert raw["S3Uri"] == {"Get": "Parameters.InputDataUrl"}
    assert raw["S3DataDistributionType"] == "ShardedByS3Key"
    prepared = inputs("PreprocessData")
    for name, distribution in (("rows", "ShardedByS3Key"), ("counts", "FullyReplicated")):
        assert prepared[name]["S3Uri"] == {
            "Get": f"Steps.PrepareData.ProcessingOutputConfig.Outputs['{name}'].S3Output.S3Uri"
        }
        assert prepared[name]["S3DataDistributionType"] == distribution
    assert re.match(
        r"^s3://", next(p for p in definition["Parameters"] if p["Name"] == "InputDataUrl")["DefaultValue"]
    )


def _sdk_image(monkeypatch, framework: str, region: str, **kwargs) -> str:
    """The image URI from the SDK's own tables (sagemaker.core.image_uris), never a literal."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    from sagemaker.core import image_uris

    return image_uris.retrieve(framework, region, **kwargs)


def test_pytorch_bert_runs_on_pytorch_images_and_trains_under_torchrun(built, loaded, monkeypatch):
    """A PyTorch BERT project: its jobs run on SageMaker's PyTorch training image (the GPU build for the
    training instance, the CPU build for the processing jobs), the model package names Hugging Face's
    PyTorch inference image, and the training job starts train.py with torchrun on every instance.
    The other projects' training jobs have no distributed launcher."""
    from sagespec.render import context_pipeline as versions

    plan, definition, _, launchers = built
    spec = loaded.spec
    (train,) = [s for s in plan.steps if s.kind in ("training", "tuning")]
    if getattr(spec.model, "framework", None) != "pytorch":
        assert all(launcher["distributed"] == {} for launcher in launchers.values()), launchers
        return
    steps = dict(ordered_steps(definition))
    region = spec.project.region
    pytorch = {"version": versions.PYTORCH_VERSION, "py_version": versions.PYTORCH_PY_VERSION}
    job = steps[train.name]["Arguments"]
    job = job.get("TrainingJobDefinition", job)
    assert job["AlgorithmSpecification"]["TrainingImage"] == _sdk_image(
        monkeypatch,
        "pytorch",
        region,
        instance_type=spec.model.instance_type,
        image_scope="training",
        **pytorch,
    )
    for name, instance_type in (
        ("PrepareData", versions.PROCESSING_INSTANCE_TYPE),
        ("PreprocessData", versions.PROCESSING_INSTANCE_TYPE),
        ("EvaluateModel", spec.evaluation.instance_type),
    ):
        image = steps[name]["Arguments"]["AppSpecification"]["ImageUri"]
        expected = _sdk_image(
            monkeypatch, "pytorch", region, instance_type=instance_type, image_scope="training", **pytorch
        )
        assert image == expected and "-cpu-" in image, name
    (container,) = steps["RegisterModel"]["Arguments"]["InferenceSpecification"]["Containers"]
    assert container["Image"] == _sdk_image(
        monkeypatch,
        "huggingface",
        region,
        version=versions.HUGGINGFACE_INFERENCE_TRANSFORMERS_VERSION,
        base_framework_version=versions.HUGGINGFACE_INFERENCE_PYTORCH_VERSION,
        py_version=versions.HUGGINGFACE_INFERENCE_PY_VERSION,
        instance_type=spec.registry.inference_instance_types[0],
        image_scope="inference",
    )
    # torchrun on every instance of the job: the instance count reaches the request, and the driver
    # channel holds Torchrun's config (no process count: one process per GPU) and starts its driver.
    count = next(p for p in definition["Parameters"] if p["Name"] == "TrainingInstanceCount")
    assert spec.model.instance_count > 1 and count["DefaultValue"] == spec.model.instance_count
    assert job["ResourceConfig"]["InstanceCount"] == {"Get": "Parameters.TrainingInstanceCount"}
    launcher = launchers[train.name]
    assert launcher["distributed"] == {"process_count_per_node": None, "smp": None}
    assert "distributed_drivers/torchrun_driver.py" in launcher["sm_train"]


def _sample_values(value):
    """The request with every pipeline expression replaced by an S3 URI (all those here are S3 URIs)."""
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in ("Get", "Std:Join"):
            return "s3://bucket/runtime/value"
        return {key: _sample_values(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_sample_values(item) for item in value]
    return value


def test_quality_check_steps_read_the_plans_baselines(built, loaded, monkeypatch):
    """With monitoring, each of the plan's quality-check steps is a QualityCheck step of its kind that
    reads the plan's input (the CSV under EvaluateModel's monitoring output) on Model Monitor's image,
    its job a valid CreateProcessingJob request; RegisterModel records the baselines it computes as the
    model package's drift-check baselines."""
    from sagespec.aws.requests import operation_model, request_problems

    plan, definition, *_ = built
    checks = [s for s in plan.steps if s.kind == "quality-check"]
    if not checks:
        assert not [s for s in definition["Steps"] if s["Type"] == "QualityCheck"]
        pytest.skip("the spec monitors nothing")
    steps = dict(ordered_steps(definition))
    image = _sdk_image(monkeypatch, "model-monitor", loaded.spec.project.region)
    drift = steps["RegisterModel"]["Arguments"]["DriftCheckBaselines"]
    for check in checks:
        step = steps[check.name]
        assert step["Type"] == "QualityCheck"
        assert step["CheckType"] == check.check.upper().replace("-", "_")  # DATA_QUALITY, MODEL_QUALITY
        arguments = step["Arguments"]
        assert arguments["AppSpecification"]["ImageUri"] == image
        (baseline,) = check.inputs
        (dataset,) = arguments["ProcessingInputs"]
        kind, _, source = baseline.source.partition(":")
        producer, output = source.split("/")
        assert kind == "step" and dataset["S3Input"]["S3Uri"] == {
            "Std:Join": {
                "On": "/",
                "Values": [
                    {"Get": f"Steps.{producer}.ProcessingOutputConfig.Outputs['{output}'].S3Output.S3Uri"},
                    baseline.destination,
                ],
            }
        }
        # The producing step declares that output, at the plan's container folder.
        outputs = steps[producer]["Arguments"]["ProcessingOutputConfig"]["Outputs"]
        assert output in [o["OutputName"] for o in outputs]
        entry = {"data-quality": "ModelDataQuality", "model-quality": "ModelQuality"}[check.check]
        for kind in ("Statistics", "Constraints"):
            used = {"Get": f"Steps.{check.name}.BaselineUsedForDriftCheck{kind}"}
            assert drift[entry][kind]["S3Uri"] == used
        request = {**_sample_values(arguments), "ProcessingJobName": f"{check.name.lower()}-job"}
        problems = request_problems(operation_model("sagemaker", "CreateProcessingJob"), request)
        assert not problems, problems
    # RegisterModel waits for the baselines, as the plan says.
    register = plan.step("RegisterModel")
    assert set(register.depends_on) == {check.name for check in checks}
    referenced = json.dumps(steps["RegisterModel"]["Arguments"])
    assert all(f"Steps.{name}." in referenced for name in register.depends_on)
