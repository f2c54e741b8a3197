"""Fill the endpoint stack's parameters with the registered models to deploy (deploy/buildspec.yml).

For every variant in deploy/settings.py, pick a model package from the model package group by the
variant's rule:

    latest-approved   the highest version whose approval status is Approved
    newest            the highest version, whatever its approval status (a challenger under test)
    version           that version; refused when it was Rejected

and the same for every shadow variant; then write, for each stage,
``<output-dir>/<stage>-config-export.json``: deploy/<stage>-config.json with the endpoint's name (the
project's inside a SageMaker project: deploy/settings.py), the role, each variant's model package ARN,
and the data capture destination added, in CodePipeline's template-configuration format. The template is
copied beside them.

With Model Monitor's schedules (settings.MONITORS), the stage's parameters also get their baselines
(the drift-check baselines registered with the first production variant's model package,
DescribeModelPackage), Model Monitor's image for the region (from the SageMaker SDK's image tables), the
record preprocessor (monitoring_features.py, uploaded to the artifact bucket), the monitoring role and
where the reports go and the ground truth is read.

    python -m deploy.build_config --model-execution-role ARN --artifact-bucket BUCKET [--output-dir build]
        [--monitoring-role ARN]

A problem the user has to fix (no approved version, a missing version...) ends with exit status 2 and a
one-line message.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3

from deploy import settings
from deploy.settings import (
    DATA_CAPTURE_PREFIX,
    ENDPOINT_NAMES,
    MODEL_PACKAGE_GROUP,
    MONITORS,
    REGION,
    SHADOWS,
    STAGES,
    VARIANTS,
)

DEPLOY_DIR = Path(__file__).resolve().parent
ROOT = DEPLOY_DIR.parent
# SageMaker's limit on a monitoring schedule's name.
MAX_NAME_LENGTH = 63
# Each monitor's stack parameters: its schedule's name and the baseline files it compares traffic with,
# with where DescribeModelPackage's DriftCheckBaselines holds each of them.
MONITOR_PARAMETERS: dict[str, dict[str, tuple[str, str]]] = {
    "data-quality": {
        "DataQualityStatisticsS3Uri": ("ModelDataQuality", "Statistics"),
        "DataQualityConstraintsS3Uri": ("ModelDataQuality", "Constraints"),
    },
    "model-quality": {"ModelQualityConstraintsS3Uri": ("ModelQuality", "Constraints")},
}
SCHEDULE_NAME_PARAMETERS = {
    "data-quality": "DataQualityScheduleName",
    "model-quality": "ModelQualityScheduleName",
}
TEMPLATE = "endpoint.yaml"


class BuildConfigError(Exception):
    """No model package fits a variant's rule, or a stage's configuration is unusable."""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model-execution-role", required=True, help="role the SageMaker models run as")
    parser.add_argument("--artifact-bucket", required=True, help="bucket of the default data capture")
    parser.add_argument("--model-package-group", default=MODEL_PACKAGE_GROUP)
    parser.add_argument("--region", default=REGION)
    parser.add_argument("--output-dir", type=Path, default=Path("build"))
    parser.add_argument("--project-name", help="SageMaker project name, added as a stack tag")
    parser.add_argument("--project-id", help="SageMaker project id, added as a stack tag")
    parser.add_argument("--monitoring-role", help="role Model Monitor's jobs run as (with monitoring)")
    args = parser.parse_args(argv)
    if MONITORS and not args.monitoring_role:
        parser.error("--monitoring-role is required: the spec schedules Model Monitor")
    return args


# ---------------------------------------------------------------------------------------------- selection


def list_packages(sagemaker: Any, group: str) -> list[dict[str, Any]]:
    """Every model package of the group (ListModelPackages summaries), lowest version first."""
    summaries = []
    for page in sagemaker.get_paginator("list_model_packages").paginate(ModelPackageGroupName=group):
        summaries += page["ModelPackageSummaryList"]
    return sorted(summaries, key=lambda s: s["ModelPackageVersion"])


def select_package(summaries: list[dict[str, Any]], variant: dict[str, Any]) -> dict[str, Any]:
    """The package summary the variant's rule picks."""
    name, rule = variant["name"], variant["select"]
    completed = [s for s in summaries if s.get("ModelPackageStatus", "Completed") == "Completed"]
    if rule == "version":
        found = [s for s in summaries if s["ModelPackageVersion"] == variant["version"]]
        if not found:
            raise BuildConfigError(f"variant {name}: the group has no version {variant['version']}")
        if found[0]["ModelApprovalStatus"] == "Rejected":
            raise BuildConfigError(f"variant {name}: version {variant['version']} was rejected")
        return found[0]
    if rule == "latest-approved":
        completed = [s for s in completed if s["ModelApprovalStatus"] == "Approved"]
    if not completed:
        wanted = "approved " if rule == "latest-approved" else ""
        raise BuildConfigError(f"variant {name}: the model package group has no {wanted}model package")
    return completed[-1]


def variant_parameters(sagemaker: Any, group: str) -> dict[str, str]:
    """The stack parameter of every variant's and shadow's model: the model package (version) ARN it
    serves."""
    summaries = list_packages(sagemaker, group)
    parameters = {}
    for variant in [*VARIANTS, *SHADOWS]:
        summary = select_package(summaries, variant)
        parameters[variant["parameters"]["model_package"]] = summary["ModelPackageArn"]
        print(
            f"{variant['name']}: version {summary['ModelPackageVersion']} "
            f"({summary['ModelApprovalStatus']}, rule {variant['select']}) {summary['ModelPackageArn']}"
        )
    return parameters


# ---------------------------------------------------------------------------------------------- monitoring


def monitoring_schedule_name(endpoint: str, monitor: str) -> str:
    """A monitor's schedule on an endpoint: the endpoint's name and the monitor's suffix, within 63."""
    suffix = settings.MONITORING_SCHEDULE_SUFFIXES[monitor]
    return endpoint[: MAX_NAME_LENGTH - len(suffix)].rstrip("-") + suffix


def baseline_parameters(sagemaker: Any, package_arn: str) -> dict[str, str]:
    """The monitors' baseline files: the drift-check baselines registered with the model package."""
    package = sagemaker.describe_model_package(ModelPackageName=package_arn)
    baselines = package.get("DriftCheckBaselines", {})
    parameters = {}
    for monitor in MONITORS:
        for name, (entry, kind) in MONITOR_PARAMETERS[monitor].items():
            uri = baselines.get(entry, {}).get(kind, {}).get("S3Uri")
            if not uri:
                raise BuildConfigError(
                    f"{package_arn} has no {entry} {kind.lower()} among its drift-check baselines: "
                    "register it with the pipeline's baseline steps (spec: monitoring)"
                )
            parameters[name] = uri
    return parameters


def upload_record_preprocessor(s3: Any, bucket: str) -> str:
    """monitoring_features.py in the artifact bucket, under a key that changes with its content."""
    body = (ROOT / settings.RECORD_PREPROCESSOR).read_bytes()
    digest = hashlib.sha256(body).hexdigest()[:16]
    key = f"{settings.MONITORING_REPORTS_PREFIX}/code/{digest}/{Path(settings.RECORD_PREPROCESSOR).name}"
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return f"s3://{bucket}/{key}"


def monitor_image_uri(region: str) -> str:
    """Model Monitor's analyzer image in the region, from the SageMaker SDK's own tables."""
    from sagemaker.core import image_uris  # imported here: only a project with monitoring needs it

    return image_uris.retrieve("model-monitor", region)


def monitoring_parameters(
    sagemaker: Any, s3: Any, model_parameters: dict[str, str], args: argparse.Namespace
) -> dict[str, str]:
    """What every stage's monitoring schedules share: role, image, record preprocessor, baselines."""
    # The baselines of the model the first production variant serves (a shadow's answers reach nobody).
    package_arn = model_parameters[VARIANTS[0]["parameters"]["model_package"]]
    return {
        "MonitoringRoleArn": args.monitoring_role,
        "MonitorImageUri": monitor_image_uri(args.region),
        "RecordPreprocessorS3Uri": upload_record_preprocessor(s3, args.artifact_bucket),
        **baseline_parameters(sagemaker, package_arn),
    }


def stage_monitoring_parameters(stage: str, bucket: str) -> dict[str, str]:
    """A stage's schedule names, its reports' folder and (model quality) its ground truth."""
    parameters = {
        SCHEDULE_NAME_PARAMETERS[monitor]: monitoring_schedule_name(ENDPOINT_NAMES[stage], monitor)
        for monitor in MONITORS
    }
    parameters["MonitoringReportsS3Uri"] = f"s3://{bucket}/{settings.MONITORING_REPORTS_PREFIX}/{stage}"
    if "model-quality" in MONITORS:
        parameters["GroundTruthS3Uri"] = f"s3://{bucket}/{settings.GROUND_TRUTH_PREFIX}/{stage}"
    return parameters


# ---------------------------------------------------------------------------------------------- configs


def stage_configuration(
    stage: str, model_parameters: dict[str, str], args: argparse.Namespace
) -> dict[str, Any]:
    """deploy/<stage>-config.json with the build's parameters and tags added."""
    path = DEPLOY_DIR / f"{stage}-config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise BuildConfigError(f"cannot read {path.name}: {err}") from None
    parameters = {**config.get("Parameters", {}), **model_parameters}
    parameters["EndpointName"] = ENDPOINT_NAMES[stage]
    parameters["ExecutionRoleArn"] = args.model_execution_role
    if DATA_CAPTURE_PREFIX and not parameters.get("DataCaptureS3Uri"):
        parameters["DataCaptureS3Uri"] = f"s3://{args.artifact_bucket}/{DATA_CAPTURE_PREFIX}/{stage}"
    if MONITORS:
        # A stage's config may name its own reports folder or ground truth; the build fills in the rest.
        defaults = stage_monitoring_parameters(stage, args.artifact_bucket)
        parameters.update({name: value for name, value in defaults.items() if not parameters.get(name)})
    tags = dict(config.get("Tags", {}))
    if args.project_name:
        tags["sagemaker:project-name"] = args.project_name
    if args.project_id:
        tags["sagemaker:project-id"] = args.project_id
    return {"Parameters": parameters, "Tags": tags}


def run(args: argparse.Namespace, sagemaker: Any | None = None, s3: Any | None = None) -> list[Path]:
    sagemaker = sagemaker or boto3.client("sagemaker", region_name=args.region)
    model_parameters = variant_parameters(sagemaker, args.model_package_group)
    if MONITORS:
        s3 = s3 or boto3.client("s3", region_name=args.region)
        model_parameters |= monitoring_parameters(sagemaker, s3, model_parameters, args)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    written = [args.output_dir / TEMPLATE]
    shutil.copyfile(DEPLOY_DIR / TEMPLATE, written[0])
    for stage in STAGES:
        path = args.output_dir / f"{stage}-config-export.json"
        config = stage_configuration(stage, model_parameters, args)
        path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    print(f"wrote {', '.join(p.name for p in written)} to {args.output_dir}")
    return written


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        run(args)
    except BuildConfigError as err:
        print(f"build_config: error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
