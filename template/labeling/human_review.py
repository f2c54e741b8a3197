"""Create the Amazon A2I resources once: the human task UI (the worker task template) and the flow
definition (who reviews, how many per item, how long, where the answers go).

    python -m labeling.human_review create --role-arn arn:aws:iam::<account>:role/<A2I role>

The role must let A2I read and write the output S3 prefix. Human loops are then started by
review_predictions.py for each low-confidence prediction.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

from pipelines.aws_errors import reports_aws_errors

from . import settings


def output_s3_uri(session: Any) -> str:
    """The configured output prefix, or s3://<SageMaker default bucket>/<slug>/labeling."""
    if settings.OUTPUT_S3_PREFIX:
        return settings.OUTPUT_S3_PREFIX.rstrip("/")
    account = session.client("sts").get_caller_identity()["Account"]
    return f"s3://sagemaker-{session.region_name}-{account}/{settings.DEFAULT_OUTPUT_KEY_PREFIX}"


def _tags() -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in settings.TAGS.items()]


def human_task_ui_request(template: str | None = None) -> dict[str, Any]:
    """CreateHumanTaskUi: the worker task template, as A2I stores it."""
    if template is None:
        template = settings.TASK_TEMPLATE.read_text(encoding="utf-8")
    request: dict[str, Any] = {
        "HumanTaskUiName": settings.HUMAN_TASK_UI_NAME,
        "UiTemplate": {"Content": template},
    }
    if settings.TAGS:
        request["Tags"] = _tags()
    return request


def flow_definition_request(
    *, role_arn: str, human_task_ui_arn: str, work_team_arn: str, output_s3_uri: str
) -> dict[str, Any]:
    """CreateFlowDefinition: the human review workflow that StartHumanLoop names."""
    request: dict[str, Any] = {
        "FlowDefinitionName": settings.FLOW_DEFINITION_NAME,
        "HumanLoopConfig": {
            "WorkteamArn": work_team_arn,
            "HumanTaskUiArn": human_task_ui_arn,
            "TaskTitle": settings.TASK_TITLE,
            "TaskDescription": settings.TASK_DESCRIPTION,
            "TaskCount": settings.WORKERS_PER_ITEM,
            "TaskTimeLimitInSeconds": settings.TASK_TIME_LIMIT_SECONDS,
            "TaskAvailabilityLifetimeInSeconds": settings.TASK_AVAILABILITY_SECONDS,
            "TaskKeywords": ["text", "classification", "review"],
        },
        "OutputConfig": {"S3OutputPath": output_s3_uri},
        "RoleArn": role_arn,
    }
    if settings.TAGS:
        request["Tags"] = _tags()
    return request


def work_team_arn(sagemaker: Any) -> str:
    """The spec's work team, or the private team that workforce.py created."""
    if settings.WORK_TEAM_ARN:
        return settings.WORK_TEAM_ARN
    return sagemaker.describe_workteam(WorkteamName=settings.WORK_TEAM_NAME)["Workteam"]["WorkteamArn"]


def _wait_until_active(sagemaker: Any, name: str, timeout: float = 300.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        described = sagemaker.describe_flow_definition(FlowDefinitionName=name)
        status = described["FlowDefinitionStatus"]
        if status == "Active":
            return described["FlowDefinitionArn"]
        if status == "Failed" or time.monotonic() > deadline:
            reason = described.get("FailureReason", "timed out waiting for it to become Active")
            raise SystemExit(f"flow definition {name} is {status}: {reason}")
        time.sleep(5)


def create(role_arn: str, region: str) -> str:
    """Create the task UI and the flow definition; return the flow definition's ARN."""
    import boto3

    session = boto3.Session(region_name=region)
    sagemaker = session.client("sagemaker")
    ui_arn = sagemaker.create_human_task_ui(**human_task_ui_request())["HumanTaskUiArn"]
    print(f"human task UI: {ui_arn}")
    request = flow_definition_request(
        role_arn=role_arn,
        human_task_ui_arn=ui_arn,
        work_team_arn=work_team_arn(sagemaker),
        output_s3_uri=output_s3_uri(session),
    )
    sagemaker.create_flow_definition(**request)
    arn = _wait_until_active(sagemaker, settings.FLOW_DEFINITION_NAME)
    print(f"flow definition: {arn}")
    print(f"answers go to {request['OutputConfig']['S3OutputPath']}/{settings.FLOW_DEFINITION_NAME}/")
    return arn


@reports_aws_errors
def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("create", help="create the human task UI and the flow definition")
    make.add_argument("--role-arn", required=True, help="IAM role A2I assumes to write the answers")
    make.add_argument("--region", default=settings.REGION)
    args = parser.parse_args(argv)
    create(args.role_arn, args.region)


if __name__ == "__main__":
    main()
