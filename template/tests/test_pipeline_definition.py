"""The pipeline definition, built offline and checked against the SageMaker API's own request shapes.

The harness (the offline build, the network guard, the resolver of pipeline expressions) is
tests/offline_pipeline.py; what is left here are the checks.
"""

from __future__ import annotations

import importlib
import io
import json
import re
import socket
import tarfile
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import botocore.session
import pytest
from botocore.model import ServiceModel

from tests.api_requests import request_problems
from tests.offline_pipeline import BUCKET, Built, Resolver, build_offline, expressions

PARAMETERS = [
    ("InputDataUrl", "String"),
    ("ProcessingInstanceType", "String"),
    ("ProcessingInstanceCount", "Integer"),
    ("TrainingInstanceType", "String"),
    ("TrainingInstanceCount", "Integer"),
    ("EvaluationThreshold", "Float"),
    ("ModelApprovalStatus", "String"),
]
STEPS = [
    ("PrepareData", "Processing"),
    ("PreprocessData", "Processing"),
    ("CheckDataBias", "ClarifyCheck"),
    ("TrainModel", "Training"),  # ("TuneModel", "Tuning") when the spec tunes hyperparameters
    ("EvaluateModel", "Processing"),
    ("CheckEvaluation", "Condition"),
]
TUNING_STEP = ("TuneModel", "Tuning")
# Autopilot: an AutoML job trains, then the best candidate predicts the test split (test_autopilot.py).
AUTOPILOT_STEPS = [("TrainModel", "AutoML"), ("CreateBestModel", "Model"), ("PredictTestSplit", "Transform")]
BEST_CANDIDATE = "Steps.TrainModel.BestCandidate.InferenceContainers[0]"
IF_STEPS = [("RegisterModel", "RegisterModel")]
ELSE_STEPS = [("FailPipeline", "Fail")]

# The API a step of each type calls with its Arguments, and the field of the request that the
# pipeline service fills in at run time (so the definition leaves it out).
REQUEST_OPERATIONS = {
    "Processing": ("CreateProcessingJob", "ProcessingJobName"),
    "ClarifyCheck": ("CreateProcessingJob", "ProcessingJobName"),
    "QualityCheck": ("CreateProcessingJob", "ProcessingJobName"),
    "Training": ("CreateTrainingJob", "TrainingJobName"),
    "Tuning": ("CreateHyperParameterTuningJob", "HyperParameterTuningJobName"),
    "RegisterModel": ("CreateModelPackage", None),
    "AutoML": ("CreateAutoMLJob", "AutoMLJobName"),
    "Model": ("CreateModel", "ModelName"),
    "Transform": ("CreateTransformJob", "TransformJobName"),
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    with build_offline(tmp_path_factory.mktemp("sagemaker")) as result:
        yield result


@pytest.fixture(scope="module")
def service() -> ServiceModel:
    return botocore.session.get_session().get_service_model("sagemaker")


def _enum(service: ServiceModel, shape_name: str) -> list[str]:
    return list(service.shape_for(shape_name).enum)


def _training_step_name(settings: ModuleType) -> str:
    return TUNING_STEP[0] if settings.TUNING_ENABLED else "TrainModel"


def _tuning(built: Built) -> ModuleType:
    """The pipeline's tuning.py (the TuneModel step's settings); skips the test without tuning."""
    if not built.settings.TUNING_ENABLED:
        pytest.skip("the spec does not tune hyperparameters")
    return importlib.import_module(built.module.__name__.rsplit(".", 1)[0] + ".tuning")


def _training_job(built: Built) -> dict[str, Any]:
    """The training job's request: TrainModel's Arguments, or the TuneModel tuning job's
    TrainingJobDefinition, with its StaticHyperParameters under the training job's name for them."""
    step = built.step(_training_step_name(built.settings))
    if step["Type"] == "Training":
        return step["Arguments"]
    definition = dict(step["Arguments"]["TrainingJobDefinition"])
    definition["HyperParameters"] = definition.pop("StaticHyperParameters", {})
    return definition


def _autopilot(built: Built) -> bool:
    return built.settings.MODEL_TYPE == "autopilot"


def _require_training_job(built: Built) -> None:
    if _autopilot(built):
        pytest.skip("an AutoML job trains this project's model (see test_autopilot.py)")


def _evaluated_uri(built: Built) -> dict[str, Any]:
    """What EvaluateModel reads as the model: the model, or (Autopilot) its test split predictions."""
    if _autopilot(built):
        return {"Get": "Steps.PredictTestSplit.TransformOutput.S3OutputPath"}
    return _model_uri(built)


def _model_uri(built: Built) -> dict[str, Any]:
    """Where the model EvaluateModel and RegisterModel use comes from: the training job, or the best
    training job of the tuning job (the first of its TrainingJobSummaries), under the trainer's output
    path; for Autopilot, the best candidate's model data."""
    if _autopilot(built):
        return {"Get": f"{BEST_CANDIDATE}.ModelDataUrl"}
    if not built.settings.TUNING_ENABLED:
        return {"Get": "Steps.TrainModel.ModelArtifacts.S3ModelArtifacts"}
    output_path = _training_job(built)["OutputDataConfig"]["S3OutputPath"]
    assert output_path == f"s3://{BUCKET}/{built.settings.DEFAULT_BASE_JOB_PREFIX}/models"
    best_job = {"Get": f"Steps.{TUNING_STEP[0]}.TrainingJobSummaries[0].TrainingJobName"}
    values = [
        "s3:/",
        BUCKET,
        f"{built.settings.DEFAULT_BASE_JOB_PREFIX}/models",
        best_job,
        "output/model.tar.gz",
    ]
    return {"Std:Join": {"On": "/", "Values": values}}


# ------------------------------------------------------------------------------------------ tests
def test_definition_is_json(built: Built) -> None:
    assert isinstance(built.definition, dict)
    assert built.definition["Version"] == "2020-12-01"
    # What upsert sends: the definition must survive a JSON round trip unchanged.
    assert json.loads(json.dumps(built.definition)) == built.definition


def test_build_stays_offline(built: Built) -> None:
    assert built.refused == [], "building the pipeline tried to reach the network"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("192.0.2.1", 443), timeout=1)  # the guard itself works


def test_parameters(built: Built) -> None:
    settings = built.settings
    parameters = {parameter["Name"]: parameter for parameter in built.definition["Parameters"]}
    assert [(p["Name"], p["Type"]) for p in built.definition["Parameters"]] == PARAMETERS
    defaults = {name: parameter.get("DefaultValue") for name, parameter in parameters.items()}
    assert defaults == {
        "InputDataUrl": f"s3://{BUCKET}/{settings.DEFAULT_DATA_KEY}",
        "ProcessingInstanceType": settings.PROCESSING_INSTANCE_TYPE,
        "ProcessingInstanceCount": 1,
        "TrainingInstanceType": settings.TRAINING_INSTANCE_TYPE,
        "TrainingInstanceCount": settings.TRAINING_INSTANCE_COUNT,
        "EvaluationThreshold": settings.EVALUATION_THRESHOLD,
        "ModelApprovalStatus": settings.MODEL_APPROVAL_STATUS,
    }


def test_steps_names_order_and_types(built: Built) -> None:
    steps = built.definition["Steps"]
    expected = [step for step in STEPS if built.settings.BIAS_CHECK_ENABLED or step[0] != "CheckDataBias"]
    if built.settings.TUNING_ENABLED:
        expected = [TUNING_STEP if step[0] == "TrainModel" else step for step in expected]
    if _autopilot(built):
        at = expected.index(("TrainModel", "Training"))
        expected[at : at + 1] = AUTOPILOT_STEPS
    # With monitoring, Model Monitor's baselines (monitoring.py) come between evaluation and the condition.
    at = expected.index(("EvaluateModel", "Processing")) + 1
    expected[at:at] = [(check["step"], "QualityCheck") for check in _quality_checks(built)]
    assert [(step["Name"], step["Type"]) for step in steps] == expected
    condition = steps[-1]["Arguments"]
    assert [(step["Name"], step["Type"]) for step in condition["IfSteps"]] == IF_STEPS
    assert [(step["Name"], step["Type"]) for step in condition["ElseSteps"]] == ELSE_STEPS


def _quality_checks(built: Built) -> list[dict[str, Any]]:
    """Model Monitor's baseline steps (settings.QUALITY_CHECKS): none when the spec monitors nothing."""
    return getattr(built.settings, "QUALITY_CHECKS", [])


@pytest.mark.parametrize(
    "step_name",
    [
        "PrepareData",
        "PreprocessData",
        "CheckDataBias",
        "TrainModel",
        "EvaluateModel",
        "BaselineDataQuality",
        "BaselineModelQuality",
        "RegisterModel",
    ],
)
def test_step_arguments_are_valid_api_requests(built: Built, service: ServiceModel, step_name: str) -> None:
    """Each step's Arguments are a valid request of the API it calls (TrainModel stands for the
    training step: a CreateHyperParameterTuningJob request when the spec tunes hyperparameters)."""
    if step_name == "CheckDataBias":
        _require_bias_check(built)
    if step_name.startswith("Baseline") and step_name not in [c["step"] for c in _quality_checks(built)]:
        pytest.skip(f"the spec has no {step_name} monitor baseline")
    if step_name == "TrainModel":
        step_name = _training_step_name(built.settings)
    step = built.step(step_name)
    operation, name_field = REQUEST_OPERATIONS[step["Type"]]
    request = Resolver(built.definition, service).concretize(step["Arguments"])
    assert not list(expressions(request)), "an expression survived resolution"
    if name_field:
        assert name_field not in step["Arguments"], f"the pipeline service names the job, not {name_field}"
        request[name_field] = f"{step_name.lower()}-job"

    problems = request_problems("sagemaker", operation, request)
    assert not problems, f"{step_name} is not a valid {operation} request:\n" + "\n".join(problems)


def test_instance_types_are_known_to_the_api(built: Built, service: ServiceModel) -> None:
    settings = built.settings
    processing_types = _enum(service, "ProcessingInstanceType")
    assert settings.PROCESSING_INSTANCE_TYPE in processing_types
    assert settings.EVALUATION_INSTANCE_TYPE in processing_types
    assert settings.BIAS_INSTANCE_TYPE in processing_types
    assert settings.TRAINING_INSTANCE_TYPE in _enum(service, "TrainingInstanceType")
    inference_types = _enum(service, "ProductionVariantInstanceType")
    assert settings.INFERENCE_INSTANCE_TYPES
    assert set(settings.INFERENCE_INSTANCE_TYPES) <= set(inference_types)
    spec = built.step("RegisterModel")["Arguments"]["InferenceSpecification"]
    assert spec["SupportedRealtimeInferenceInstanceTypes"] == settings.INFERENCE_INSTANCE_TYPES


def _inputs(step: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["InputName"]: item["S3Input"] for item in step["Arguments"]["ProcessingInputs"]}


def _outputs(step: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        item["OutputName"]: item["S3Output"]
        for item in step["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    }


def _output_ref(step: str, output: str) -> dict[str, str]:
    return {"Get": f"Steps.{step}.ProcessingOutputConfig.Outputs['{output}'].S3Output.S3Uri"}


def _assert_ships_script(built: Built, step: dict[str, Any], script: str) -> None:
    """The code input holds this folder with the script, and the entrypoint runs it after pip install."""
    code = _inputs(step)["code"]["S3Uri"]
    archive = next(key for key in built.keys_under(code) if key.endswith("sourcedir.tar.gz"))
    with tarfile.open(fileobj=io.BytesIO(built.read_s3(f"s3://{BUCKET}/{archive}"))) as tar:
        assert {script, "requirements.txt"} <= set(tar.getnames())
    runproc = built.read_s3(_inputs(step)["entrypoint"]["S3Uri"]).decode()
    assert "install_requirements.py requirements.txt" in runproc
    assert f'{script} "$@"' in runproc


def _assert_on_processing_instances(step: dict[str, Any]) -> None:
    """The step runs on the ProcessingInstanceType and ProcessingInstanceCount parameters."""
    cluster = step["Arguments"]["ProcessingResources"]["ClusterConfig"]
    assert cluster["InstanceType"] == {"Get": "Parameters.ProcessingInstanceType"}
    assert cluster["InstanceCount"] == {"Get": "Parameters.ProcessingInstanceCount"}


def test_prepare_step(built: Built) -> None:
    """PrepareData reads the InputDataUrl prefix sharded by S3 key: with N instances, each gets its own
    share of the raw files."""
    step = built.step("PrepareData")
    assert step["Arguments"]["AppSpecification"]["ContainerArguments"] == built.settings.PREPARE_ARGUMENTS
    data = _inputs(step)["input-data"]
    assert data["S3Uri"] == {"Get": "Parameters.InputDataUrl"}
    assert data["LocalPath"] == "/opt/ml/processing/input/data"
    assert data["S3DataDistributionType"] == "ShardedByS3Key"
    outputs = _outputs(step)
    assert list(outputs) == ["rows", "counts"]
    assert {name: output["LocalPath"] for name, output in outputs.items()} == built.settings.PREPARE_OUTPUTS
    _assert_on_processing_instances(step)
    _assert_ships_script(built, step, "prepare.py")


def test_preprocess_step(built: Built) -> None:
    """PreprocessData reads PrepareData's row parts sharded by S3 key (each instance its share) and its
    class counts replicated (every instance all of them, to balance and split the whole data set)."""
    step = built.step("PreprocessData")
    arguments = step["Arguments"]
    assert arguments["AppSpecification"]["ContainerArguments"] == built.settings.PREPROCESS_ARGUMENTS
    inputs = _inputs(step)
    assert set(inputs) == {"rows", "counts", "code", "entrypoint"}
    for name, distribution in (("rows", "ShardedByS3Key"), ("counts", "FullyReplicated")):
        assert inputs[name]["S3Uri"] == _output_ref("PrepareData", name)
        assert inputs[name]["LocalPath"] == f"/opt/ml/processing/input/{name}"
        assert inputs[name]["S3DataDistributionType"] == distribution
    outputs = _outputs(step)
    assert list(outputs) == ["train", "validation", "test", "bias"]
    assert {name: output["LocalPath"] for name, output in outputs.items()} == {
        name: f"/opt/ml/processing/output/{name}" for name in outputs
    }
    _assert_on_processing_instances(step)
    _assert_ships_script(built, step, "preprocess.py")


def _require_bias_check(built: Built) -> None:
    if not built.settings.BIAS_CHECK_ENABLED:
        pytest.skip("the spec turns the bias check off")


def test_bias_check_configuration(built: Built) -> None:
    _require_bias_check(built)
    settings = built.settings
    step = built.step("CheckDataBias")
    assert step["CheckType"] == "DATA_BIAS"
    assert step["SkipCheck"] is False
    assert step["RegisterNewBaseline"] is False
    assert step["FailOnViolation"] is settings.BIAS_FAIL_ON_VIOLATION
    assert _inputs(step)["dataset"]["S3Uri"] == _output_ref("PreprocessData", "bias")

    config = json.loads(built.read_s3(_inputs(step)["analysis_config"]["S3Uri"]))
    assert config["dataset_type"] == "text/csv"
    assert config["label"] == "label"
    assert config["headers"] == settings.BIAS_HEADERS
    assert config["headers"][0] == "label"
    assert config["label_values_or_threshold"] == settings.BIAS_POSITIVE_LABELS
    expected_facets = []
    for facet in settings.BIAS_FACETS:
        assert facet["column"] in config["headers"]
        expected = {"name_or_index": facet["column"]}
        if facet["values"]:  # none: Clarify takes each value of the column in turn
            expected["value_or_threshold"] = facet["values"]
        expected_facets.append(expected)
    assert config["facet"] == expected_facets
    assert config.get("group_variable") == settings.BIAS_GROUP_COLUMN
    assert config["methods"]["pre_training_bias"]["methods"] == settings.BIAS_METRICS


def test_bias_thresholds_are_the_baseline(built: Built) -> None:
    """A metric breaches when |value| > the baseline's value for the same facet value (see pipeline.py)."""
    _require_bias_check(built)
    settings = built.settings
    step = built.step("CheckDataBias")
    uncomputed = set(settings.BIAS_THRESHOLDS) - set(settings.BIAS_METRICS)
    assert not uncomputed, f"thresholds on metrics the check does not compute: {uncomputed}"
    baseline = json.loads(built.read_s3(step["SuppliedBaselineConstraints"]))
    metrics = baseline["pre_training_bias_metrics"]
    assert baseline["version"] == "1.0"
    assert metrics["label"] == "label"
    # Clarify keys facet values and positive labels as smclarify writes them: str(), joined with ",".
    assert metrics["label_value_or_threshold"] == ",".join(map(str, settings.BIAS_POSITIVE_LABELS))
    assert set(metrics["facets"]) == {facet["column"] for facet in settings.BIAS_FACETS}
    for facet in settings.BIAS_FACETS:
        if facet["values"]:
            groups = [",".join(map(str, facet["values"]))]
        else:
            groups = [str(value) for value in settings.BIAS_FACET_VALUES.get(facet["column"], [])]
        assert groups, f"no baseline entries for facet {facet['column']!r}: its thresholds would not apply"
        entries = metrics["facets"][facet["column"]]
        assert [entry["value_or_threshold"] for entry in entries] == groups
        for entry in entries:
            thresholds = {metric["name"]: metric["value"] for metric in entry["metrics"]}
            assert thresholds == settings.BIAS_THRESHOLDS


def test_training_step(built: Built) -> None:
    """The training job: TrainModel's, or the one each trial of TuneModel runs."""
    _require_training_job(built)
    settings = built.settings
    step = built.step(_training_step_name(settings))
    arguments = _training_job(built)
    if settings.BIAS_CHECK_ENABLED:
        assert "CheckDataBias" in step.get("DependsOn", []), "training must wait for the bias check"
    channels = {channel["ChannelName"]: channel for channel in arguments["InputDataConfig"]}
    for name in ("train", "validation"):
        assert channels[name]["DataSource"]["S3DataSource"]["S3Uri"] == _output_ref("PreprocessData", name)
    if settings.TUNING_ENABLED:
        # The tuner adds its own entries for script mode (sagemaker_program, ...); ours are all there.
        static = arguments["HyperParameters"]
        assert {name: static.get(name) for name in settings.HYPERPARAMETERS} == settings.HYPERPARAMETERS
    else:
        assert arguments["HyperParameters"] == settings.HYPERPARAMETERS
    resources = arguments["ResourceConfig"]
    assert resources["InstanceType"] == {"Get": "Parameters.TrainingInstanceType"}
    assert resources["InstanceCount"] == {"Get": "Parameters.TrainingInstanceCount"}
    assert resources["VolumeSizeInGB"] == settings.VOLUME_SIZE_GB
    assert arguments["StoppingCondition"]["MaxRuntimeInSeconds"] == settings.MAX_RUNTIME_SECONDS
    image = arguments["AlgorithmSpecification"]["TrainingImage"]

    if settings.MODEL_TYPE == "blazingtext":
        assert re.search(r"/blazingtext:1$", image)
        assert {name: channels[name].get("ContentType") for name in ("train", "validation")} == {
            "train": "text/plain",
            "validation": "text/plain",
        }
        assert set(channels) == {"train", "validation"}
    else:
        if _is_pytorch(settings):
            assert re.search(r"/pytorch-training:[0-9.]+-(gpu|cpu)-py3[0-9]+$", image)
            assert f":{settings.PYTORCH_VERSION}-" in image
            _assert_launched_by_torchrun(built, channels)
        else:
            assert re.search(r"/tensorflow-training:[0-9.]+-(gpu|cpu)-py3[0-9]+$", image)
            assert f":{settings.TENSORFLOW_VERSION}-" in image
        assert arguments["AlgorithmSpecification"]["MetricDefinitions"] == settings.METRIC_DEFINITIONS
        assert arguments.get("EnableManagedSpotTraining", False) is settings.SPOT_ENABLED
        if settings.SPOT_ENABLED:
            wait = arguments["StoppingCondition"]["MaxWaitTimeInSeconds"]
            assert wait == settings.SPOT_MAX_WAIT_SECONDS >= settings.MAX_RUNTIME_SECONDS
        # One checkpoint prefix per execution: a new execution must not resume the last one's training.
        checkpoints = settings.CHECKPOINT_S3_URI or f"s3://{BUCKET}/{settings.PROJECT_SLUG}/checkpoints"
        assert arguments["CheckpointConfig"]["S3Uri"] == {
            "Std:Join": {"On": "/", "Values": [checkpoints, {"Get": "Execution.PipelineExecutionId"}]}
        }
        if settings.TUNING_ENABLED:
            # The tuner ships this folder as sourcedir.tar.gz; the container runs sagemaker_program in it.
            static = arguments["HyperParameters"]
            assert static["sagemaker_program"] == "train.py"
            archive = built.read_s3(static["sagemaker_submit_directory"])
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                assert {"train.py", "requirements.txt"} <= set(tar.getnames())
        else:
            # ModelTrainer uploads this folder as the "code" channel; train.py and its requirements in it.
            code = channels["code"]["DataSource"]["S3DataSource"]["S3Uri"]
            names = {key.rsplit("/", 1)[-1] for key in built.keys_under(code)}
            assert {"train.py", "requirements.txt"} <= names


def _is_pytorch(settings: ModuleType) -> bool:
    """A BERT project that trains with PyTorch (its settings name the PyTorch image's version)."""
    return hasattr(settings, "PYTORCH_VERSION")


def _assert_launched_by_torchrun(built: Built, channels: dict[str, dict[str, Any]]) -> None:
    """The SDK's driver channel (sm_drivers) starts train.py with torchrun: one process per GPU on every
    instance, RANK, WORLD_SIZE and LOCAL_RANK set. It is there for the tuning job's training jobs too."""
    drivers = channels["sm_drivers"]["DataSource"]["S3DataSource"]["S3Uri"]
    assert isinstance(drivers, str), drivers
    distributed = json.loads(built.read_s3(f"{drivers}/distributed.json"))
    # No process count: torchrun starts one process per GPU of whatever instance a run picks.
    assert distributed == {"process_count_per_node": None, "smp": None}
    train_script = built.read_s3(f"{drivers}/sm_train.sh").decode()
    assert "distributed_drivers/torchrun_driver.py" in train_script
    assert "requirements.txt" in train_script
    names = {key.removeprefix(drivers.removeprefix(f"s3://{BUCKET}/")) for key in built.keys_under(drivers)}
    assert "/distributed_drivers/torchrun_driver.py" in names
    assert json.loads(built.read_s3(f"{drivers}/sourcecode.json"))["entry_script"] == "train.py"


def test_images(built: Built) -> None:
    """The processing jobs run on the image of the model's framework (its CPU build: they run on CPU
    instances), so that evaluate.py runs the model with what trained it; the model package names the
    image that serves the model. For PyTorch that is Hugging Face's PyTorch inference image, whose
    transformers code/inference.py needs."""
    settings = built.settings
    processing = [
        built.step(name)["Arguments"]["AppSpecification"]["ImageUri"]
        for name in ("PrepareData", "PreprocessData", "EvaluateModel")
    ]
    (container,) = built.step("RegisterModel")["Arguments"]["InferenceSpecification"]["Containers"]
    if _is_pytorch(settings):
        processing_image = rf"/pytorch-training:{re.escape(settings.PYTORCH_VERSION)}-cpu-py3[0-9]+$"
        torch_version = re.escape(settings.HUGGINGFACE_INFERENCE_PYTORCH_VERSION.removeprefix("pytorch"))
        transformers_version = re.escape(settings.HUGGINGFACE_INFERENCE_TRANSFORMERS_VERSION)
        serving_image = (
            rf"/huggingface-pytorch-inference:{torch_version}-transformers{transformers_version}"
            rf"-(cpu|gpu)-{settings.HUGGINGFACE_INFERENCE_PY_VERSION}(-|$)"
        )
    elif settings.MODEL_TYPE == "bert":
        processing_image = rf"/tensorflow-training:{re.escape(settings.TENSORFLOW_VERSION)}-cpu-py3[0-9]+$"
        serving_image = r"/tensorflow-inference:[0-9.]+-(cpu|gpu)-py3[0-9]+$"
    else:
        processing_image = (
            rf"/sagemaker-scikit-learn:{re.escape(settings.SKLEARN_FRAMEWORK_VERSION)}-cpu-py3$"
        )
        serving_image = r"/blazingtext:1$"
    for image in processing:
        assert re.search(processing_image, image), image
    if _autopilot(built):  # the image Autopilot picked for its best candidate
        assert container["Image"] == {"Get": f"{BEST_CANDIDATE}.Image"}
        return
    assert re.search(serving_image, container["Image"]), container["Image"]


def test_evaluation_step(built: Built) -> None:
    step = built.step("EvaluateModel")
    arguments = step["Arguments"]
    assert arguments["AppSpecification"]["ContainerArguments"] == built.settings.EVALUATE_ARGUMENTS
    inputs = _inputs(step)
    assert inputs["model"]["S3Uri"] == _evaluated_uri(built)
    assert inputs["model"]["LocalPath"] == "/opt/ml/processing/model"
    assert inputs["test"]["S3Uri"] == _output_ref("PreprocessData", "test")
    assert inputs["test"]["LocalPath"] == "/opt/ml/processing/test"
    assert _outputs(step)["evaluation"]["LocalPath"] == "/opt/ml/processing/evaluation"
    assert step["PropertyFiles"] == [
        {"PropertyFileName": "EvaluationReport", "OutputName": "evaluation", "FilePath": "evaluation.json"}
    ]
    _assert_ships_script(built, step, "evaluate.py")


def _metric_json_get(settings: ModuleType) -> dict[str, Any]:
    return {
        "Std:JsonGet": {
            "PropertyFile": {"Get": "Steps.EvaluateModel.PropertyFiles.EvaluationReport"},
            "Path": settings.EVALUATION_JSON_PATH,
        }
    }


def test_condition_step(built: Built) -> None:
    arguments = built.step("CheckEvaluation")["Arguments"]
    assert arguments["Conditions"] == [
        {
            "Type": "GreaterThanOrEqualTo",
            "LeftValue": _metric_json_get(built.settings),
            "RightValue": {"Get": "Parameters.EvaluationThreshold"},
        }
    ]


def test_fail_step(built: Built) -> None:
    step = built.step("FailPipeline")
    message = step["Arguments"]["ErrorMessage"]["Std:Join"]
    values = message["Values"]
    assert _metric_json_get(built.settings) in values
    assert {"Get": "Parameters.EvaluationThreshold"} in values
    text = " ".join(value for value in values if isinstance(value, str))
    assert built.settings.EVALUATION_METRIC in text
    assert "not registered" in text
    assert built.settings.DEFAULT_MODEL_PACKAGE_GROUP in text
    assert "EvaluationThreshold" in text


def test_register_step(built: Built) -> None:
    settings = built.settings
    arguments = built.step("RegisterModel")["Arguments"]
    assert arguments["ModelPackageGroupName"] == settings.DEFAULT_MODEL_PACKAGE_GROUP
    assert arguments["ModelApprovalStatus"] == {"Get": "Parameters.ModelApprovalStatus"}
    spec = arguments["InferenceSpecification"]
    (container,) = spec["Containers"]
    assert container["ModelDataUrl"] == _model_uri(built)
    # inference.py's handlers (TensorFlow Serving's or PyTorch's) read JSON and CSV; the BlazingText image
    # JSON only; Autopilot's containers CSV.
    content_types = {"bert": ["application/json", "text/csv"], "autopilot": ["text/csv"]}
    assert spec["SupportedContentTypes"] == content_types.get(settings.MODEL_TYPE, ["application/json"])
    assert spec["SupportedResponseMIMETypes"] == ["text/csv" if _autopilot(built) else "application/json"]
    statistics = arguments["ModelMetrics"]["ModelQuality"]["Statistics"]
    assert statistics["ContentType"] == "application/json"
    assert statistics["S3Uri"] == {
        "Std:Join": {"On": "/", "Values": [_output_ref("EvaluateModel", "evaluation"), "evaluation.json"]}
    }


def test_tuning_step(built: Built, service: ServiceModel) -> None:
    """TuneModel searches the ranges of tuning.py with its strategy and limits, for its objective."""
    tuning = _tuning(built)
    arguments = built.step(TUNING_STEP[0])["Arguments"]
    config = arguments["HyperParameterTuningJobConfig"]
    assert config["Strategy"] == tuning.STRATEGY
    assert config["HyperParameterTuningJobObjective"] == {
        "Type": tuning.OBJECTIVE_TYPE,
        "MetricName": tuning.OBJECTIVE_METRIC,
    }
    limits = config["ResourceLimits"]
    assert limits.get("MaxNumberOfTrainingJobs") == tuning.MAX_JOBS  # absent for Grid: every combination
    assert limits["MaxParallelTrainingJobs"] == tuning.MAX_PARALLEL_JOBS
    assert config["TrainingJobEarlyStoppingType"] == tuning.EARLY_STOPPING
    assert config.get("StrategyConfig") == tuning.STRATEGY_CONFIG

    found: dict[str, dict[str, Any]] = {}
    for kind, ranges in config["ParameterRanges"].items():
        for item in ranges:
            assert item["Name"] not in found, f"{item['Name']} has two ranges"
            found[item["Name"]] = {"kind": kind, **item}
    assert set(found) == set(tuning.HYPERPARAMETER_RANGES)
    for name, expected in tuning.HYPERPARAMETER_RANGES.items():
        item = found[name]
        if expected["type"] == "categorical":
            assert item["kind"] == "CategoricalParameterRanges"
            assert item["Values"] == expected["values"]
        else:
            assert item["kind"] == f"{expected['type'].capitalize()}ParameterRanges"
            cast = int if expected["type"] == "integer" else float
            assert (cast(item["MinValue"]), cast(item["MaxValue"])) == (expected["min"], expected["max"])
            assert item["ScalingType"] == expected["scaling"]
    # A tuned hyperparameter is the tuner's to set: never also a static one.
    static = arguments["TrainingJobDefinition"]["StaticHyperParameters"]
    assert not set(static) & set(tuning.HYPERPARAMETER_RANGES)

    metric_definitions = arguments["TrainingJobDefinition"]["AlgorithmSpecification"].get("MetricDefinitions")
    if built.settings.MODEL_TYPE == "blazingtext":
        assert metric_definitions is None  # a built-in algorithm emits validation:accuracy itself
    else:
        assert metric_definitions == built.settings.METRIC_DEFINITIONS
        assert tuning.OBJECTIVE_METRIC in {item["Name"] for item in metric_definitions}

    if tuning.WARM_START is None:
        assert "WarmStartConfig" not in arguments
    else:
        warm = arguments["WarmStartConfig"]
        assert warm["WarmStartType"] == tuning.WARM_START["type"]
        parents = [p["HyperParameterTuningJobName"] for p in warm["ParentHyperParameterTuningJobs"]]
        assert parents == tuning.WARM_START["parent_jobs"]
