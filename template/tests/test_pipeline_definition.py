"""The pipeline definition, built offline and checked against the SageMaker API's own request shapes.

No AWS account is needed. Credentials are dummies, S3 is moto's (the SDK uploads the step code and
the Clarify configuration while it builds the definition), and sockets to anything but the loopback
interface are refused, so a call that escapes the mocks fails the test instead of reaching AWS.

The definition is not sent anywhere, so this test stands in for the service: each step's Arguments
are the request of the API the step calls at run time, and must validate against botocore's model of
that request once every pipeline expression in them has been replaced by a value of the type it will
have at run time (see ``_Resolver``).
"""

from __future__ import annotations

import datetime
import importlib
import io
import ipaddress
import json
import os
import re
import socket
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.model import ListShape, MapShape, ServiceModel, Shape, StructureShape
from moto import mock_aws

from tests.api_requests import request_problems

ROOT = Path(__file__).resolve().parents[1]
IMPORT_REGION = "us-east-1"  # any region will do to import the SDK; the build uses the project's
BUCKET = "sagespec-test-bucket"
ROLE_ARN = "arn:aws:iam::123456789012:role/SageMakerExecutionRole"
# Without this the SDK calls STS and sends an HTTPS telemetry request whenever it builds a job.
SAGEMAKER_CONFIG = {
    "SchemaVersion": "1.0",
    "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
}

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
    ("PreprocessData", "Processing"),
    ("CheckDataBias", "ClarifyCheck"),
    ("TrainModel", "Training"),  # ("TuneModel", "Tuning") when the spec tunes hyperparameters
    ("EvaluateModel", "Processing"),
    ("CheckEvaluation", "Condition"),
]
TUNING_STEP = ("TuneModel", "Tuning")
IF_STEPS = [("RegisterModel", "RegisterModel")]
ELSE_STEPS = [("FailPipeline", "Fail")]

# The API a step of each type calls with its Arguments, and the field of the request that the
# pipeline service fills in at run time (so the definition leaves it out).
REQUEST_OPERATIONS = {
    "Processing": ("CreateProcessingJob", "ProcessingJobName"),
    "ClarifyCheck": ("CreateProcessingJob", "ProcessingJobName"),
    "Training": ("CreateTrainingJob", "TrainingJobName"),
    "Tuning": ("CreateHyperParameterTuningJob", "HyperParameterTuningJobName"),
    "RegisterModel": ("CreateModelPackage", None),
}
# The API outputs a step's properties (``{"Get": "Steps.<name>. ..."}``) are read from.
PROPERTY_OPERATIONS = {
    "Processing": ("DescribeProcessingJob",),
    "Training": ("DescribeTrainingJob",),
    # A tuning step's properties also list its training jobs, best first (TrainingJobSummaries).
    "Tuning": ("DescribeHyperParameterTuningJob", "ListTrainingJobsForHyperParameterTuningJob"),
    "RegisterModel": ("DescribeModelPackage",),
}
# A ClarifyCheck step's properties are S3 URIs of constraints files, not an API's output.
CLARIFY_CHECK_PROPERTIES = {"CalculatedBaselineConstraints", "BaselineUsedForDriftCheckConstraints"}
EXECUTION_VARIABLES = {
    "PipelineExecutionId": "a1b2c3d4e5f6",
    "PipelineExecutionArn": "arn:aws:sagemaker:us-east-1:123456789012:pipeline/p/execution/a1b2c3d4e5f6",
    "PipelineName": "pipeline",
    "PipelineArn": "arn:aws:sagemaker:us-east-1:123456789012:pipeline/pipeline",
    "StartDateTime": "2026-01-01T00:00:00Z",
    "CurrentDateTime": "2026-01-01T00:00:00Z",
    "TrainingJobName": "training-job",
    "ProcessingJobName": "processing-job",
}
SAMPLE_BY_PARAMETER_TYPE: dict[str, Any] = {"String": "value", "Integer": 1, "Float": 0.5, "Boolean": True}
EXPRESSION_KEYS = {"Get", "Std:Join", "Std:JsonGet"}


def _pipeline_package() -> str:
    """The one package under pipelines/ with a pipeline.py: the project's pipeline."""
    packages = sorted(path.parent.name for path in (ROOT / "pipelines").glob("*/pipeline.py"))
    assert len(packages) == 1, f"expected one pipelines/<package>/pipeline.py, found {packages}"
    return packages[0]


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@dataclass
class Built:
    module: ModuleType
    definition: dict[str, Any]
    s3: Any  # moto's S3, as a boto3 client
    refused: list[Any]  # addresses the build tried to reach (the SDK swallows some failures)

    def step(self, name: str) -> dict[str, Any]:
        return _all_steps(self.definition["Steps"])[name]

    def read_s3(self, uri: str) -> bytes:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        return self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    def keys_under(self, uri: str) -> list[str]:
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        response = self.s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
        return [item["Key"] for item in response.get("Contents", [])]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    # Some SDK classes read the SDK defaults files (~/.config/sagemaker/config.yaml, ...) instead of the
    # session's configuration: point them at an empty one, so that a developer's own cannot change the
    # definition. (An empty file is also skipped rather than validated, which takes 0.5 s a time.)
    config_file = tmp_path_factory.mktemp("sagemaker") / "config.yaml"
    config_file.write_text("{}\n")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "SAGEMAKER_ADMIN_CONFIG_OVERRIDE": str(config_file),
            "SAGEMAKER_USER_CONFIG_OVERRIDE": str(config_file),
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": IMPORT_REGION,  # importing sagemaker.mlops without a region fails
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,  # keep a developer's profiles out of the test
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "SAGEMAKER_VALIDATE_ROLE": "false",  # else ModelTrainer asks IAM, which moto lacks
        }.items():
            patch.setenv(name, value)
        patch.delenv("AWS_PROFILE", raising=False)

        real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
        refused: list[Any] = []

        def guard(sock: socket.socket, address: Any) -> None:
            if sock.family != socket.AF_UNIX and not _is_loopback(str(address[0])):
                refused.append(address)
                raise ConnectionRefusedError(f"the test refuses network access to {address!r}")

        def connect(sock: socket.socket, address: Any) -> None:
            guard(sock, address)
            return real_connect(sock, address)

        def connect_ex(sock: socket.socket, address: Any) -> int:
            guard(sock, address)
            return real_connect_ex(sock, address)

        patch.setattr(socket.socket, "connect", connect)
        patch.setattr(socket.socket, "connect_ex", connect_ex)
        patch.syspath_prepend(str(ROOT))

        from sagemaker.core.config.config_manager import SageMakerConfig

        # The SDK validates its configuration against a JSON schema on each of the ~70 lookups of a
        # build (0.1-0.3 s each). The configuration never changes here: validate it once.
        validate_config = SageMakerConfig.validate_sagemaker_config
        validated: set[str] = set()

        def validate_once(sagemaker_config: dict[str, Any] | None = None) -> None:
            key = json.dumps(sagemaker_config, sort_keys=True, default=str)
            if key not in validated:
                validate_config(sagemaker_config)
                validated.add(key)

        patch.setattr(SageMakerConfig, "validate_sagemaker_config", staticmethod(validate_once))

        with mock_aws():
            module = importlib.import_module(f"pipelines.{_pipeline_package()}.pipeline")
            region = module.DEFAULT_REGION
            patch.setenv("AWS_DEFAULT_REGION", region)
            session = module.get_pipeline_session(region, BUCKET, sagemaker_config=SAGEMAKER_CONFIG)
            pipeline = module.get_pipeline(
                region=region, role=ROLE_ARN, default_bucket=BUCKET, sagemaker_session=session
            )
            text = pipeline.definition()
            assert isinstance(text, str)
            s3 = boto3.client("s3", region_name=region)
            yield Built(module=module, definition=json.loads(text), s3=s3, refused=refused)


@pytest.fixture(scope="module")
def service() -> ServiceModel:
    return botocore.session.get_session().get_service_model("sagemaker")


def _all_steps(steps: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every step by name, the condition steps' branches included."""
    found: dict[str, dict[str, Any]] = {}
    for step in steps:
        found[step["Name"]] = step
        if step["Type"] == "Condition":
            found.update(_all_steps(step["Arguments"]["IfSteps"] + step["Arguments"]["ElseSteps"]))
    return found


def _is_expression(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and (next(iter(value)) in EXPRESSION_KEYS)


def _expressions(value: Any) -> Iterator[dict[str, Any]]:
    if _is_expression(value):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _expressions(item)
    elif isinstance(value, list):
        for item in value:
            yield from _expressions(item)


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _Resolver:
    """Replaces pipeline expressions by the concrete values the service substitutes at run time.

    Each value has the type the expression really has, never the type the field wants, so that the
    request validation afterwards proves the types line up:
    - a parameter becomes its default value (an Integer parameter stays an int);
    - a step property becomes a sample of the type of that field in the output of the API the
      referenced step calls (``ModelArtifacts.S3ModelArtifacts`` of DescribeTrainingJob: a string),
      and a path that does not exist there, or names an output the step does not declare, fails;
    - an execution variable becomes a string, ``Std:Join`` the joined text of its resolved values,
      and ``Std:JsonGet`` a number (a metric read from a property file).
    """

    def __init__(self, definition: dict[str, Any], service: ServiceModel) -> None:
        self.parameters = {parameter["Name"]: parameter for parameter in definition["Parameters"]}
        self.steps = _all_steps(definition["Steps"])
        self.service = service

    def concretize(self, value: Any) -> Any:
        if _is_expression(value):
            return self.evaluate(value)
        if isinstance(value, dict):
            assert not any(key.startswith("Std:") for key in value), f"unknown pipeline function in {value}"
            return {key: self.concretize(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.concretize(item) for item in value]
        return value

    def evaluate(self, expression: dict[str, Any]) -> Any:
        ((kind, body),) = expression.items()
        if kind == "Std:Join":
            return body["On"].join(_as_text(self.concretize(item)) for item in body["Values"])
        if kind == "Std:JsonGet":
            return 0.5
        root, _, rest = body.partition(".")
        if root == "Parameters":
            assert rest in self.parameters, f"{body} names no pipeline parameter"
            parameter = self.parameters[rest]
            return parameter.get("DefaultValue", SAMPLE_BY_PARAMETER_TYPE[parameter["Type"]])
        if root == "Execution":
            assert rest in EXECUTION_VARIABLES, f"{body} is no execution variable"
            return EXECUTION_VARIABLES[rest]
        assert root == "Steps", f"cannot resolve {body}"
        return self.step_property(rest)

    def step_property(self, reference: str) -> Any:
        step_name, _, path = reference.partition(".")
        assert step_name in self.steps, f"a property of {step_name}, which is no step of the pipeline"
        step = self.steps[step_name]
        if step["Type"] == "ClarifyCheck":
            assert path in CLARIFY_CHECK_PROPERTIES, f"ClarifyCheck step {step_name} has no property {path}"
            return f"s3://{BUCKET}/runtime/{step_name}/{path}.json"
        assert step["Type"] in PROPERTY_OPERATIONS, f"{step['Type']} step {step_name} has no properties"
        name = step_name
        tokens = re.findall(r"\.?([A-Za-z0-9_]+)|\[(?:'([^']*)'|(\d+))\]", path)
        assert "".join(_token_text(*token) for token in tokens).lstrip(".") == path, f"cannot parse {path}"
        outputs = [self.service.operation_model(op).output_shape for op in PROPERTY_OPERATIONS[step["Type"]]]
        matching = [output for output in outputs if tokens and tokens[0][0] in output.members]
        assert matching, f"{step_name}.{path}: no output of {PROPERTY_OPERATIONS[step['Type']]} has it"
        shape: Shape = matching[0]
        members: list[str] = []
        for member, key, _position in tokens:
            if member:
                assert isinstance(shape, StructureShape), f"{step_name}.{path}: {shape.name} has no members"
                assert member in shape.members, f"{step_name}.{path}: {shape.name} has no member {member}"
                shape, name = shape.members[member], member
                members.append(member)
            elif isinstance(shape, MapShape):
                shape = shape.value
            else:
                assert isinstance(shape, ListShape), f"{step_name}.{path}: {shape.name} is not a list"
                if key and members == ["ProcessingOutputConfig", "Outputs"]:
                    outputs = step["Arguments"]["ProcessingOutputConfig"]["Outputs"]
                    declared = [output["OutputName"] for output in outputs]
                    assert key in declared, f"{step_name} declares no output {key!r} (only {declared})"
                shape = shape.member
        return _sample(shape, name)


def _token_text(member: str, key: str, position: str) -> str:
    if member:
        return f".{member}"
    return f"['{key}']" if key else f"[{position}]"


def _sample(shape: Shape, name: str) -> Any:
    """A run-time value of a scalar shape."""
    if shape.type_name == "string":
        if shape.enum:
            return shape.enum[0]
        return f"s3://{BUCKET}/runtime/{name}" if "S3" in name or name.endswith("Uri") else f"runtime-{name}"
    if shape.type_name in ("integer", "long"):
        return max(1, int(shape.metadata.get("min", 1)))
    if shape.type_name in ("float", "double"):
        return 0.5
    if shape.type_name == "boolean":
        return True
    if shape.type_name == "timestamp":
        return datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    raise AssertionError(f"{name} is a {shape.type_name}, not a value a step argument can take")


def _enum(service: ServiceModel, shape_name: str) -> list[str]:
    return list(service.shape_for(shape_name).enum)


def _training_step_name(module: ModuleType) -> str:
    return TUNING_STEP[0] if module.TUNING_ENABLED else "TrainModel"


def _tuning(built: Built) -> ModuleType:
    """The pipeline's tuning.py (the TuneModel step's settings); skips the test without tuning."""
    if not built.module.TUNING_ENABLED:
        pytest.skip("the spec does not tune hyperparameters")
    return importlib.import_module(built.module.__name__.rsplit(".", 1)[0] + ".tuning")


def _training_job(built: Built) -> dict[str, Any]:
    """The training job's request: TrainModel's Arguments, or the TuneModel tuning job's
    TrainingJobDefinition, with its StaticHyperParameters under the training job's name for them."""
    step = built.step(_training_step_name(built.module))
    if step["Type"] == "Training":
        return step["Arguments"]
    definition = dict(step["Arguments"]["TrainingJobDefinition"])
    definition["HyperParameters"] = definition.pop("StaticHyperParameters", {})
    return definition


def _model_uri(built: Built) -> dict[str, Any]:
    """Where the model EvaluateModel and RegisterModel use comes from: the training job, or the best
    training job of the tuning job (the first of its TrainingJobSummaries), under the trainer's output
    path."""
    if not built.module.TUNING_ENABLED:
        return {"Get": "Steps.TrainModel.ModelArtifacts.S3ModelArtifacts"}
    output_path = _training_job(built)["OutputDataConfig"]["S3OutputPath"]
    assert output_path == f"s3://{BUCKET}/{built.module.DEFAULT_BASE_JOB_PREFIX}/models"
    best_job = {"Get": f"Steps.{TUNING_STEP[0]}.TrainingJobSummaries[0].TrainingJobName"}
    values = [
        "s3:/",
        BUCKET,
        f"{built.module.DEFAULT_BASE_JOB_PREFIX}/models",
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
    module = built.module
    parameters = {parameter["Name"]: parameter for parameter in built.definition["Parameters"]}
    assert [(p["Name"], p["Type"]) for p in built.definition["Parameters"]] == PARAMETERS
    defaults = {name: parameter.get("DefaultValue") for name, parameter in parameters.items()}
    assert defaults == {
        "InputDataUrl": f"s3://{BUCKET}/{module.DEFAULT_DATA_KEY}",
        "ProcessingInstanceType": module.PROCESSING_INSTANCE_TYPE,
        "ProcessingInstanceCount": 1,
        "TrainingInstanceType": module.TRAINING_INSTANCE_TYPE,
        "TrainingInstanceCount": module.TRAINING_INSTANCE_COUNT,
        "EvaluationThreshold": module.EVALUATION_THRESHOLD,
        "ModelApprovalStatus": module.MODEL_APPROVAL_STATUS,
    }


def test_steps_names_order_and_types(built: Built) -> None:
    steps = built.definition["Steps"]
    expected = [step for step in STEPS if built.module.BIAS_CHECK_ENABLED or step[0] != "CheckDataBias"]
    if built.module.TUNING_ENABLED:
        expected = [TUNING_STEP if step[0] == "TrainModel" else step for step in expected]
    assert [(step["Name"], step["Type"]) for step in steps] == expected
    condition = steps[-1]["Arguments"]
    assert [(step["Name"], step["Type"]) for step in condition["IfSteps"]] == IF_STEPS
    assert [(step["Name"], step["Type"]) for step in condition["ElseSteps"]] == ELSE_STEPS


@pytest.mark.parametrize(
    "step_name", ["PreprocessData", "CheckDataBias", "TrainModel", "EvaluateModel", "RegisterModel"]
)
def test_step_arguments_are_valid_api_requests(built: Built, service: ServiceModel, step_name: str) -> None:
    """Each step's Arguments are a valid request of the API it calls (TrainModel stands for the
    training step: a CreateHyperParameterTuningJob request when the spec tunes hyperparameters)."""
    if step_name == "CheckDataBias":
        _require_bias_check(built)
    if step_name == "TrainModel":
        step_name = _training_step_name(built.module)
    step = built.step(step_name)
    operation, name_field = REQUEST_OPERATIONS[step["Type"]]
    request = _Resolver(built.definition, service).concretize(step["Arguments"])
    assert not list(_expressions(request)), "an expression survived resolution"
    if name_field:
        assert name_field not in step["Arguments"], f"the pipeline service names the job, not {name_field}"
        request[name_field] = f"{step_name.lower()}-job"

    problems = request_problems("sagemaker", operation, request)
    assert not problems, f"{step_name} is not a valid {operation} request:\n" + "\n".join(problems)


def test_instance_types_are_known_to_the_api(built: Built, service: ServiceModel) -> None:
    module = built.module
    processing_types = _enum(service, "ProcessingInstanceType")
    assert module.PROCESSING_INSTANCE_TYPE in processing_types
    assert module.EVALUATION_INSTANCE_TYPE in processing_types
    assert module.BIAS_INSTANCE_TYPE in processing_types
    assert module.TRAINING_INSTANCE_TYPE in _enum(service, "TrainingInstanceType")
    inference_types = _enum(service, "ProductionVariantInstanceType")
    assert module.INFERENCE_INSTANCE_TYPES
    assert set(module.INFERENCE_INSTANCE_TYPES) <= set(inference_types)
    spec = built.step("RegisterModel")["Arguments"]["InferenceSpecification"]
    assert spec["SupportedRealtimeInferenceInstanceTypes"] == module.INFERENCE_INSTANCE_TYPES


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


def test_preprocess_step(built: Built) -> None:
    step = built.step("PreprocessData")
    arguments = step["Arguments"]
    assert arguments["AppSpecification"]["ContainerArguments"] == built.module.PREPROCESS_ARGUMENTS
    data = _inputs(step)["data"]
    assert data["S3Uri"] == {"Get": "Parameters.InputDataUrl"}
    assert data["LocalPath"] == "/opt/ml/processing/input/data"
    outputs = _outputs(step)
    assert list(outputs) == ["train", "validation", "test", "bias"]
    assert {name: output["LocalPath"] for name, output in outputs.items()} == {
        name: f"/opt/ml/processing/output/{name}" for name in outputs
    }
    cluster = arguments["ProcessingResources"]["ClusterConfig"]
    assert cluster["InstanceType"] == {"Get": "Parameters.ProcessingInstanceType"}
    assert cluster["InstanceCount"] == {"Get": "Parameters.ProcessingInstanceCount"}
    _assert_ships_script(built, step, "preprocess.py")


def _require_bias_check(built: Built) -> None:
    if not built.module.BIAS_CHECK_ENABLED:
        pytest.skip("the spec turns the bias check off")


def test_bias_check_configuration(built: Built) -> None:
    _require_bias_check(built)
    module = built.module
    step = built.step("CheckDataBias")
    assert step["CheckType"] == "DATA_BIAS"
    assert step["SkipCheck"] is False
    assert step["RegisterNewBaseline"] is False
    assert step["FailOnViolation"] is module.BIAS_FAIL_ON_VIOLATION
    assert _inputs(step)["dataset"]["S3Uri"] == _output_ref("PreprocessData", "bias")

    config = json.loads(built.read_s3(_inputs(step)["analysis_config"]["S3Uri"]))
    assert config["dataset_type"] == "text/csv"
    assert config["label"] == "label"
    assert config["headers"] == module.BIAS_HEADERS
    assert config["headers"][0] == "label"
    assert config["label_values_or_threshold"] == module.BIAS_POSITIVE_LABELS
    expected_facets = []
    for facet in module.BIAS_FACETS:
        assert facet["column"] in config["headers"]
        expected = {"name_or_index": facet["column"]}
        if facet["values"]:  # none: Clarify takes each value of the column in turn
            expected["value_or_threshold"] = facet["values"]
        expected_facets.append(expected)
    assert config["facet"] == expected_facets
    assert config.get("group_variable") == module.BIAS_GROUP_COLUMN
    assert config["methods"]["pre_training_bias"]["methods"] == module.BIAS_METRICS


def test_bias_thresholds_are_the_baseline(built: Built) -> None:
    """A metric breaches when |value| > the baseline's value for the same facet value (see pipeline.py)."""
    _require_bias_check(built)
    module = built.module
    step = built.step("CheckDataBias")
    uncomputed = set(module.BIAS_THRESHOLDS) - set(module.BIAS_METRICS)
    assert not uncomputed, f"thresholds on metrics the check does not compute: {uncomputed}"
    baseline = json.loads(built.read_s3(step["SuppliedBaselineConstraints"]))
    metrics = baseline["pre_training_bias_metrics"]
    assert baseline["version"] == "1.0"
    assert metrics["label"] == "label"
    # Clarify keys facet values and positive labels as smclarify writes them: str(), joined with ",".
    assert metrics["label_value_or_threshold"] == ",".join(map(str, module.BIAS_POSITIVE_LABELS))
    assert set(metrics["facets"]) == {facet["column"] for facet in module.BIAS_FACETS}
    for facet in module.BIAS_FACETS:
        if facet["values"]:
            groups = [",".join(map(str, facet["values"]))]
        else:
            groups = [str(value) for value in module.BIAS_FACET_VALUES.get(facet["column"], [])]
        assert groups, f"no baseline entries for facet {facet['column']!r}: its thresholds would not apply"
        entries = metrics["facets"][facet["column"]]
        assert [entry["value_or_threshold"] for entry in entries] == groups
        for entry in entries:
            assert {metric["name"]: metric["value"] for metric in entry["metrics"]} == module.BIAS_THRESHOLDS


def test_training_step(built: Built) -> None:
    """The training job: TrainModel's, or the one each trial of TuneModel runs."""
    module = built.module
    step = built.step(_training_step_name(module))
    arguments = _training_job(built)
    if module.BIAS_CHECK_ENABLED:
        assert "CheckDataBias" in step.get("DependsOn", []), "training must wait for the bias check"
    channels = {channel["ChannelName"]: channel for channel in arguments["InputDataConfig"]}
    for name in ("train", "validation"):
        assert channels[name]["DataSource"]["S3DataSource"]["S3Uri"] == _output_ref("PreprocessData", name)
    if module.TUNING_ENABLED:
        # The tuner adds its own entries for script mode (sagemaker_program, ...); ours are all there.
        static = arguments["HyperParameters"]
        assert {name: static.get(name) for name in module.HYPERPARAMETERS} == module.HYPERPARAMETERS
    else:
        assert arguments["HyperParameters"] == module.HYPERPARAMETERS
    resources = arguments["ResourceConfig"]
    assert resources["InstanceType"] == {"Get": "Parameters.TrainingInstanceType"}
    assert resources["InstanceCount"] == {"Get": "Parameters.TrainingInstanceCount"}
    assert resources["VolumeSizeInGB"] == module.VOLUME_SIZE_GB
    assert arguments["StoppingCondition"]["MaxRuntimeInSeconds"] == module.MAX_RUNTIME_SECONDS
    image = arguments["AlgorithmSpecification"]["TrainingImage"]

    if module.MODEL_TYPE == "blazingtext":
        assert re.search(r"/blazingtext:1$", image)
        assert {name: channels[name].get("ContentType") for name in ("train", "validation")} == {
            "train": "text/plain",
            "validation": "text/plain",
        }
        assert set(channels) == {"train", "validation"}
    else:
        assert re.search(r"/tensorflow-training:[0-9.]+-(gpu|cpu)-py3[0-9]+$", image)
        assert f":{module.TENSORFLOW_VERSION}-" in image
        assert arguments["AlgorithmSpecification"]["MetricDefinitions"] == module.METRIC_DEFINITIONS
        assert arguments.get("EnableManagedSpotTraining", False) is module.SPOT_ENABLED
        if module.SPOT_ENABLED:
            wait = arguments["StoppingCondition"]["MaxWaitTimeInSeconds"]
            assert wait == module.SPOT_MAX_WAIT_SECONDS >= module.MAX_RUNTIME_SECONDS
        # One checkpoint prefix per execution: a new execution must not resume the last one's training.
        checkpoints = module.CHECKPOINT_S3_URI or f"s3://{BUCKET}/{module.PROJECT_SLUG}/checkpoints"
        assert arguments["CheckpointConfig"]["S3Uri"] == {
            "Std:Join": {"On": "/", "Values": [checkpoints, {"Get": "Execution.PipelineExecutionId"}]}
        }
        if module.TUNING_ENABLED:
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


def test_evaluation_step(built: Built) -> None:
    step = built.step("EvaluateModel")
    arguments = step["Arguments"]
    assert arguments["AppSpecification"]["ContainerArguments"] == built.module.EVALUATE_ARGUMENTS
    inputs = _inputs(step)
    assert inputs["model"]["S3Uri"] == _model_uri(built)
    assert inputs["model"]["LocalPath"] == "/opt/ml/processing/model"
    assert inputs["test"]["S3Uri"] == _output_ref("PreprocessData", "test")
    assert inputs["test"]["LocalPath"] == "/opt/ml/processing/test"
    assert _outputs(step)["evaluation"]["LocalPath"] == "/opt/ml/processing/evaluation"
    assert step["PropertyFiles"] == [
        {"PropertyFileName": "EvaluationReport", "OutputName": "evaluation", "FilePath": "evaluation.json"}
    ]
    _assert_ships_script(built, step, "evaluate.py")


def _metric_json_get(module: ModuleType) -> dict[str, Any]:
    return {
        "Std:JsonGet": {
            "PropertyFile": {"Get": "Steps.EvaluateModel.PropertyFiles.EvaluationReport"},
            "Path": module.EVALUATION_JSON_PATH,
        }
    }


def test_condition_step(built: Built) -> None:
    arguments = built.step("CheckEvaluation")["Arguments"]
    assert arguments["Conditions"] == [
        {
            "Type": "GreaterThanOrEqualTo",
            "LeftValue": _metric_json_get(built.module),
            "RightValue": {"Get": "Parameters.EvaluationThreshold"},
        }
    ]


def test_fail_step(built: Built) -> None:
    step = built.step("FailPipeline")
    message = step["Arguments"]["ErrorMessage"]["Std:Join"]
    values = message["Values"]
    assert _metric_json_get(built.module) in values
    assert {"Get": "Parameters.EvaluationThreshold"} in values
    text = " ".join(value for value in values if isinstance(value, str))
    assert built.module.EVALUATION_METRIC in text
    assert "not registered" in text
    assert built.module.DEFAULT_MODEL_PACKAGE_GROUP in text
    assert "EvaluationThreshold" in text


def test_register_step(built: Built) -> None:
    module = built.module
    arguments = built.step("RegisterModel")["Arguments"]
    assert arguments["ModelPackageGroupName"] == module.DEFAULT_MODEL_PACKAGE_GROUP
    assert arguments["ModelApprovalStatus"] == {"Get": "Parameters.ModelApprovalStatus"}
    spec = arguments["InferenceSpecification"]
    (container,) = spec["Containers"]
    assert container["ModelDataUrl"] == _model_uri(built)
    # inference.py's TensorFlow Serving handlers read JSON and CSV; the BlazingText image JSON only.
    is_bert = container["Image"].split("/")[-1].startswith("tensorflow-inference")
    assert (
        spec["SupportedContentTypes"] == ["application/json", "text/csv"] if is_bert else ["application/json"]
    )
    assert spec["SupportedResponseMIMETypes"] == ["application/json"]
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
    if built.module.MODEL_TYPE == "blazingtext":
        assert metric_definitions is None  # a built-in algorithm emits validation:accuracy itself
    else:
        assert metric_definitions == built.module.METRIC_DEFINITIONS
        assert tuning.OBJECTIVE_METRIC in {item["Name"] for item in metric_definitions}

    if tuning.WARM_START is None:
        assert "WarmStartConfig" not in arguments
    else:
        warm = arguments["WarmStartConfig"]
        assert warm["WarmStartType"] == tuning.WARM_START["type"]
        parents = [p["HyperParameterTuningJobName"] for p in warm["ParentHyperParameterTuningJobs"]]
        assert parents == tuning.WARM_START["parent_jobs"]
