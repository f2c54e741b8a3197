"""Print, create or update, and start the project's SageMaker pipeline.

    python -m pipelines.run_pipeline definition                 # the pipeline JSON; no AWS account needed
    python -m pipelines.run_pipeline upsert --role-arn ARN      # create or update the pipeline in AWS
    python -m pipelines.run_pipeline start [--parameters JSON] [--wait]

The pipeline module is the one pipelines/<package>/pipeline.py (or --module-name). --kwargs passes
keyword arguments to its get_pipeline(), e.g. '{"region": "eu-west-1", "default_bucket": "my-bucket"}'.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from pipelines.aws_errors import reports_aws_errors

# The SDK looks up its settings in a configuration that it validates against a JSON schema on every
# lookup; this one only opts out of telemetry (an STS call and an HTTPS request per job built).
OFFLINE_SAGEMAKER_CONFIG = {
    "SchemaVersion": "1.0",
    "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
}
# moto's account; only ever used inside the `definition` command's mocks.
OFFLINE_ROLE_ARN = "arn:aws:iam::123456789012:role/SageMakerExecutionRole"
TERMINAL_STATUSES = {"Succeeded", "Failed", "Stopped"}


def default_module_name() -> str:
    """pipelines.<package>.pipeline for the one package beside this file that has a pipeline.py."""
    packages = sorted(path.parent.name for path in Path(__file__).resolve().parent.glob("*/pipeline.py"))
    if len(packages) != 1:
        raise SystemExit(f"expected one pipelines/<package>/pipeline.py, found {packages}; use --module-name")
    return f"pipelines.{packages[0]}.pipeline"


def import_pipeline_module(module_name: str | None) -> ModuleType:
    return importlib.import_module(module_name or default_module_name())


def import_for_aws(module_name: str | None, kwargs: dict[str, Any]) -> tuple[ModuleType, ModuleType]:
    """The pipeline module and its settings, for a command that calls AWS in the pipeline's region.

    Importing the SDK (sagemaker.mlops) creates boto3 clients, which raise NoRegionError where no
    region is configured (botocore reads AWS_DEFAULT_REGION and the profile, never AWS_REGION), although
    every call here names its region: --kwargs' "region" (REGION=... to make), else the spec's. Where
    none is configured, that region is the SDK's default too.
    """
    name = module_name or default_module_name()
    settings = importlib.import_module(".settings", name.rpartition(".")[0])
    os.environ.setdefault("AWS_DEFAULT_REGION", kwargs.get("region", settings.DEFAULT_REGION))
    module = importlib.import_module(name)
    # The SDK turns on INFO logging for every library when imported, and its session then says which
    # SDK defaults files it did not find, twice a command: keep its warnings and errors only.
    logging.getLogger("sagemaker.config").setLevel(logging.WARNING)
    return module, settings


def import_settings(module: ModuleType) -> ModuleType:
    """The settings.py beside the pipeline module: the defaults rendered from the spec."""
    return importlib.import_module(".settings", module.__package__)


@contextmanager
def offline_aws(region: str) -> Iterator[None]:
    """Dummy credentials and moto's in-memory AWS, for building the definition without an account.

    Building it uploads the step code and the Clarify configuration to S3, so it needs somewhere to put them.
    """
    from moto import mock_aws  # a development dependency: only this command needs it

    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": region,  # importing sagemaker.mlops without a region fails
            "AWS_EC2_METADATA_DISABLED": "true",
            "SAGEMAKER_VALIDATE_ROLE": "false",  # else ModelTrainer asks IAM, which moto lacks
        }
    )
    os.environ.pop("AWS_PROFILE", None)
    with mock_aws():
        yield


@contextmanager
def quiet_sdk() -> Iterator[None]:
    """Only errors logged while the definition is built offline.

    Importing the SDK turns on INFO logging for every library (sagemaker.core.experiments calls
    logging.basicConfig), and building against moto then logs dozens of lines about the stand-in: the
    dummy credentials, the bucket it made, job names popped from the definition. None is news here.
    """
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Running within a PipelineSession")
            yield
    finally:
        logging.disable(logging.NOTSET)


def validate_sdk_config_once() -> None:
    """Validate an unchanging SDK configuration once instead of on each of the ~70 lookups of a build."""
    from sagemaker.core.config.config_manager import SageMakerConfig

    validate = SageMakerConfig.validate_sagemaker_config
    validated: set[str] = set()

    def validate_once(sagemaker_config: dict[str, Any] | None = None) -> None:
        key = json.dumps(sagemaker_config, sort_keys=True, default=str)
        if key not in validated:
            validate(sagemaker_config)
            validated.add(key)

    SageMakerConfig.validate_sagemaker_config = staticmethod(validate_once)  # type: ignore[method-assign]


def print_definition(module_name: str | None, kwargs: dict[str, Any]) -> None:
    """Build the pipeline against moto and print its definition.

    S3 keys of uploaded code carry timestamps, and your SDK defaults files are not read (the session
    gets OFFLINE_SAGEMAKER_CONFIG instead), so compare definitions with that in mind.
    """
    with offline_aws(kwargs.get("region", "us-east-1")), quiet_sdk():
        module = import_pipeline_module(module_name)
        validate_sdk_config_once()
        region = kwargs.get("region", import_settings(module).DEFAULT_REGION)
        session = module.get_pipeline_session(region, kwargs.get("default_bucket"), OFFLINE_SAGEMAKER_CONFIG)
        pipeline = module.get_pipeline(**{"role": OFFLINE_ROLE_ARN, **kwargs, "sagemaker_session": session})
        definition = json.loads(pipeline.definition())
    print(json.dumps(definition, indent=2, sort_keys=True))


def upsert(
    module_name: str | None,
    kwargs: dict[str, Any],
    role_arn: str,
    description: str | None,
    tags: dict[str, str],
) -> None:
    module, settings = import_for_aws(module_name, kwargs)
    pipeline = module.get_pipeline(**{"role": role_arn, **kwargs})
    all_tags = {**settings.TAGS, **tags}
    response = pipeline.upsert(
        role_arn=role_arn,
        description=description or settings.PROJECT_NAME,
        tags=[{"Key": key, "Value": value} for key, value in all_tags.items()],
    )
    print(f"Created or updated {response['PipelineArn']}")


def start(module_name: str | None, kwargs: dict[str, Any], parameters: dict[str, Any], wait: bool) -> None:
    """Start an execution of the pipeline as it was last upserted (nothing is rebuilt or uploaded)."""
    import boto3

    _, settings = import_for_aws(module_name, kwargs)
    client = boto3.client("sagemaker", region_name=kwargs.get("region", settings.DEFAULT_REGION))
    response = client.start_pipeline_execution(
        PipelineName=kwargs.get("pipeline_name", settings.DEFAULT_PIPELINE_NAME),
        PipelineParameters=[{"Name": name, "Value": str(value)} for name, value in parameters.items()],
    )
    arn = response["PipelineExecutionArn"]
    print(f"Started {arn}")
    if not wait:
        return
    status = "Executing"
    while status not in TERMINAL_STATUSES:
        time.sleep(30)
        status = client.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"]
    steps = client.list_pipeline_execution_steps(PipelineExecutionArn=arn, SortOrder="Ascending")
    for step in steps["PipelineExecutionSteps"]:
        reason = f": {step['FailureReason']}" if step.get("FailureReason") else ""
        print(f"{step['StepName']}: {step['StepStatus']}{reason}")
    print(f"Execution {status}")
    if status != "Succeeded":
        sys.exit(1)


def json_object(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


@reports_aws_errors
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.run_pipeline", description=__doc__.splitlines()[0]
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--module-name", help="module with get_pipeline() (default: pipelines.<package>.pipeline)"
    )
    common.add_argument(
        "--kwargs", type=json_object, default={}, help="JSON object of get_pipeline() arguments"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("definition", parents=[common], help="print the pipeline definition (offline)")
    upsert_parser = commands.add_parser("upsert", parents=[common], help="create or update the pipeline")
    upsert_parser.add_argument("--role-arn", required=True, help="role the pipeline and its jobs run as")
    upsert_parser.add_argument("--description", help="default: the project's name")
    upsert_parser.add_argument("--tags", type=json_object, default={}, help='extra tags, {"key": "value"}')
    start_parser = commands.add_parser("start", parents=[common], help="start a pipeline execution")
    start_parser.add_argument(
        "--parameters", type=json_object, default={}, help='{"EvaluationThreshold": 0.7}'
    )
    start_parser.add_argument("--wait", action="store_true", help="wait for the execution to finish")
    args = parser.parse_args(argv)

    if args.command == "definition":
        print_definition(args.module_name, args.kwargs)
    elif args.command == "upsert":
        upsert(args.module_name, args.kwargs, args.role_arn, args.description, args.tags)
    else:
        start(args.module_name, args.kwargs, args.parameters, args.wait)


if __name__ == "__main__":
    main()
