"""`sagespec studio ...`: publish a generated project as a SageMaker Studio project template.

Registering the commands imports nothing from AWS; boto3 loads only when a command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def cmd_studio_publish(args: argparse.Namespace) -> int:
    from .publish import PublishRequest, publish

    result = publish(
        PublishRequest(
            project=Path(args.project),
            bucket=args.bucket,
            portfolio=args.portfolio,
            product=args.product,
            launch_role_arn=args.launch_role_arn,
            principal_arns=tuple(args.principal_arn),
            region=args.region,
        )
    )
    for line in result.log:
        print(f"  {line}")
    print(
        f"published {result.template_url} as version {result.artifact_name} of product {result.product_id} "
        f"in portfolio {result.portfolio_id}"
    )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    studio = subparsers.add_parser("studio", help="SageMaker Studio project templates (AWS Service Catalog)")
    commands = studio.add_subparsers(dest="studio_command", required=True, metavar="COMMAND")
    p = commands.add_parser(
        "publish",
        help="upload DIR's studio/project-template.yaml and create or update its Service Catalog product",
        description="Upload the project template (and, for CodeCommit, the seed code) to S3, then create or "
        "update the portfolio and product that SageMaker Studio offers as a project template. Safe to run "
        "again: it adds a product version only when the template changed.",
    )
    p.add_argument(
        "project", nargs="?", default=".", metavar="DIR", help="the generated project (default: .)"
    )
    p.add_argument("--bucket", required=True, help="existing S3 bucket for the template and seed code")
    p.add_argument(
        "--portfolio", required=True, metavar="NAME", help="portfolio display name (created if missing)"
    )
    p.add_argument("--product", metavar="NAME", help="product name (default: the spec's project.slug)")
    p.add_argument(
        "--launch-role-arn",
        metavar="ARN",
        help="role Service Catalog assumes to create the project's resources, IAM roles included",
    )
    p.add_argument(
        "--principal-arn",
        action="append",
        default=[],
        metavar="ARN",
        help="IAM role or user given access to the portfolio, e.g. a Studio execution role (repeatable)",
    )
    p.add_argument("--region", help="AWS region (default: the spec's project.region)")
    p.set_defaults(func=cmd_studio_publish)
