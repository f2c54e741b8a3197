"""Fill the endpoint stack's parameters with the registered models to deploy (deploy/buildspec.yml).

For every variant in deploy/settings.py, pick a model package from the model package group by the
variant's rule:

    latest-approved   the highest version whose approval status is Approved
    newest            the highest version, whatever its approval status (a challenger under test)
    version           that version; refused when it was Rejected

then write, for each stage, ``<output-dir>/<stage>-config-export.json``: deploy/<stage>-config.json with
the endpoint's name (the project's inside a SageMaker project: deploy/settings.py), the role, each
variant's model package ARN, and the data capture destination added, in
CodePipeline's template-configuration format. The template is copied beside them.

    python -m deploy.build_config --model-execution-role ARN --artifact-bucket BUCKET [--output-dir build]

A problem the user has to fix (no approved version, a missing version...) ends with exit status 2 and a
one-line message.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3

from deploy.settings import (
    DATA_CAPTURE_PREFIX,
    ENDPOINT_NAMES,
    MODEL_PACKAGE_GROUP,
    REGION,
    STAGES,
    VARIANTS,
)

DEPLOY_DIR = Path(__file__).resolve().parent
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
    return parser.parse_args(argv)


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
    """The stack parameter of every variant's model: the model package (version) ARN it serves."""
    summaries = list_packages(sagemaker, group)
    parameters = {}
    for variant in VARIANTS:
        summary = select_package(summaries, variant)
        parameters[variant["parameters"]["model_package"]] = summary["ModelPackageArn"]
        print(
            f"{variant['name']}: version {summary['ModelPackageVersion']} "
            f"({summary['ModelApprovalStatus']}, rule {variant['select']}) {summary['ModelPackageArn']}"
        )
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
    tags = dict(config.get("Tags", {}))
    if args.project_name:
        tags["sagemaker:project-name"] = args.project_name
    if args.project_id:
        tags["sagemaker:project-id"] = args.project_id
    return {"Parameters": parameters, "Tags": tags}


def run(args: argparse.Namespace, sagemaker: Any | None = None) -> list[Path]:
    sagemaker = sagemaker or boto3.client("sagemaker", region_name=args.region)
    model_parameters = variant_parameters(sagemaker, args.model_package_group)
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
