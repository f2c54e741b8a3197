"""The harness of tests/test_pipeline_definition.py: build the project's pipeline definition offline,
and resolve its pipeline expressions to the values the service substitutes at run time.

No AWS account is needed. Credentials are dummies, S3 is moto's (the SDK uploads the step code and
the Clarify configuration while it builds the definition), and sockets to anything but the loopback
interface are refused, so a call that escapes the mocks fails the test instead of reaching AWS.

The definition is not sent anywhere, so the tests stand in for the service: each step's Arguments
are the request of the API the step calls at run time, and must validate against botocore's model of
that request once every pipeline expression in them has been replaced by a value of the type it will
have at run time (see ``Resolver``).
"""

from __future__ import annotations

import datetime
import importlib
import ipaddress
import json
import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.model import ListShape, MapShape, ServiceModel, Shape, StructureShape
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[1]
IMPORT_REGION = "us-east-1"  # any region will do to import the SDK; the build uses the project's
BUCKET = "sagespec-test-bucket"
ROLE_ARN = "arn:aws:iam::123456789012:role/SageMakerExecutionRole"
# Without this the SDK calls STS and sends an HTTPS telemetry request whenever it builds a job.
SAGEMAKER_CONFIG = {
    "SchemaVersion": "1.0",
    "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
}


# The API outputs a step's properties (``{"Get": "Steps.<name>. ..."}``) are read from.
PROPERTY_OPERATIONS = {
    "Processing": ("DescribeProcessingJob",),
    "Training": ("DescribeTrainingJob",),
    # A tuning step's properties also list its training jobs, best first (TrainingJobSummaries).
    "Tuning": ("DescribeHyperParameterTuningJob", "ListTrainingJobsForHyperParameterTuningJob"),
    "RegisterModel": ("DescribeModelPackage",),
    # Autopilot projects: the AutoML job, the best candidate's model and its batch transform.
    "AutoML": ("DescribeAutoMLJob",),
    "Model": ("DescribeModel",),
    "Transform": ("DescribeTransformJob",),
}
# A ClarifyCheck step's properties are S3 URIs of constraints files, not an API's output.
CLARIFY_CHECK_PROPERTIES = {"CalculatedBaselineConstraints", "BaselineUsedForDriftCheckConstraints"}
# A QualityCheck step's (Model Monitor's baselines) are those of statistics files too.
QUALITY_CHECK_PROPERTIES = CLARIFY_CHECK_PROPERTIES | {
    "CalculatedBaselineStatistics",
    "BaselineUsedForDriftCheckStatistics",
}
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


def pipeline_package() -> str:
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
    settings: ModuleType  # the settings.py beside pipeline.py
    definition: dict[str, Any]
    s3: Any  # moto's S3, as a boto3 client
    refused: list[Any]  # addresses the build tried to reach (the SDK swallows some failures)

    def step(self, name: str) -> dict[str, Any]:
        return all_steps(self.definition["Steps"])[name]

    def read_s3(self, uri: str) -> bytes:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        return self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    def keys_under(self, uri: str) -> list[str]:
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        response = self.s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
        return [item["Key"] for item in response.get("Contents", [])]


@contextmanager
def build_offline(config_dir: Path) -> Iterator[Built]:
    """Build the project's pipeline under moto, offline; ``config_dir`` gets an empty SDK defaults file."""
    # Some SDK classes read the SDK defaults files (~/.config/sagemaker/config.yaml, ...) instead of the
    # session's configuration: point them at an empty one, so that a developer's own cannot change the
    # definition. (An empty file is also skipped rather than validated, which takes 0.5 s a time.)
    config_file = config_dir / "config.yaml"
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
            module = importlib.import_module(f"pipelines.{pipeline_package()}.pipeline")
            settings = importlib.import_module(f"pipelines.{pipeline_package()}.settings")
            region = settings.DEFAULT_REGION
            patch.setenv("AWS_DEFAULT_REGION", region)
            session = module.get_pipeline_session(region, BUCKET, sagemaker_config=SAGEMAKER_CONFIG)
            pipeline = module.get_pipeline(
                region=region, role=ROLE_ARN, default_bucket=BUCKET, sagemaker_session=session
            )
            text = pipeline.definition()
            assert isinstance(text, str)
            s3 = boto3.client("s3", region_name=region)
            yield Built(module=module, settings=settings, definition=json.loads(text), s3=s3, refused=refused)


def all_steps(steps: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every step by name, the condition steps' branches included."""
    found: dict[str, dict[str, Any]] = {}
    for step in steps:
        found[step["Name"]] = step
        if step["Type"] == "Condition":
            found.update(all_steps(step["Arguments"]["IfSteps"] + step["Arguments"]["ElseSteps"]))
    return found


def is_expression(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and (next(iter(value)) in EXPRESSION_KEYS)


def expressions(value: Any) -> Iterator[dict[str, Any]]:
    if is_expression(value):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from expressions(item)
    elif isinstance(value, list):
        for item in value:
            yield from expressions(item)


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Resolver:
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
        self.steps = all_steps(definition["Steps"])
        self.service = service

    def concretize(self, value: Any) -> Any:
        if is_expression(value):
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
        checks = {"ClarifyCheck": CLARIFY_CHECK_PROPERTIES, "QualityCheck": QUALITY_CHECK_PROPERTIES}
        if step["Type"] in checks:
            assert path in checks[step["Type"]], f"{step['Type']} step {step_name} has no property {path}"
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
        return sample(shape, name)


def _token_text(member: str, key: str, position: str) -> str:
    if member:
        return f".{member}"
    return f"['{key}']" if key else f"[{position}]"


def sample(shape: Shape, name: str) -> Any:
    """A run-time value of a scalar shape."""
    if shape.type_name == "string":
        if shape.enum:
            return shape.enum[0]
        uri = "S3" in name or name.endswith(("Uri", "Url"))  # S3OutputPath, S3Uri, ModelDataUrl
        return f"s3://{BUCKET}/runtime/{name}" if uri else f"runtime-{name}"
    if shape.type_name in ("integer", "long"):
        return max(1, int(shape.metadata.get("min", 1)))
    if shape.type_name in ("float", "double"):
        return 0.5
    if shape.type_name == "boolean":
        return True
    if shape.type_name == "timestamp":
        return datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    raise AssertionError(f"{name} is a {shape.type_name}, not a value a step argument can take")
