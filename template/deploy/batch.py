"""Score files in S3 with a registered model: a SageMaker batch transform job (`make batch-aws`).

    python -m deploy.batch --role-arn ARN --input s3://bucket/batch/in/ --output s3://bucket/batch/out/
    python -m deploy.batch --role-arn ARN --data reviews.csv --input s3://... --output s3://... [--version N]

The model is the registered model package the first endpoint variant's rule picks (deploy/settings.py;
deploy/build_config.py applies the same rules), or --version N. It becomes a SageMaker model made from
the package (PrimaryContainer.ModelPackageName, as the endpoint stack does), run by --role-arn: the role
needs to read the model's image and artifact, read the input prefix and write the output prefix. The job
reads every object under --input, split at line breaks, one record per line in the form the model's
server reads (deploy/payload.py's transform_input), and writes ``<output>/<object name>.out``: one answer
per line (AssembleWith Line), in the order of the input's lines.

--data first writes a CSV file's texts (the dataset's text column) in that form and uploads it under
--input, named after the file: its answers arrive as ``<output>/<file name>.out``.

The job's instances and largest request are the spec's `batch` section (deploy/settings.py's BATCH).
The command waits for the job (--no-wait: it does not), prints how it ended, and deletes the model it
made. A problem the user has to fix ends with exit status 2 and a one-line message.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from deploy import payload
from deploy.build_config import BuildConfigError, list_packages, select_package
from deploy.settings import BATCH, MODEL_PACKAGE_GROUP, REGION, TEXT_COLUMN, VARIANTS
from pipelines.aws_errors import reports_aws_errors

JOB_PREFIX_LENGTH = 40  # TransformJobName and ModelName allow 63 characters; the rest is the time
WAIT_DELAY_SECONDS = 30
WAIT_MAX_ATTEMPTS = 480  # four hours; a transform job's time is the data's size over the instances
_NOT_NAME = re.compile(r"[^a-zA-Z0-9-]+")


class BatchError(Exception):
    """A usage problem: a bad S3 URI, an unreadable --data file, no model package to score with."""


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str, option: str) -> S3Uri:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        if not uri.startswith("s3://") or not bucket:
            raise BatchError(f"{option}: expected s3://bucket/prefix/, got {uri!r}")
        return cls(bucket, key)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


# ---------------------------------------------------------------------------------------------- requests


def job_name(now: datetime | None = None) -> str:
    """A TransformJobName (and ModelName): the model package group's name and the time, unique per second."""
    stem = _NOT_NAME.sub("-", MODEL_PACKAGE_GROUP)[:JOB_PREFIX_LENGTH].strip("-") or "batch"
    return f"{stem}-batch-{(now or datetime.now(UTC)):%Y%m%d-%H%M%S}"


def choose_package(sagemaker: Any, group: str, version: int | None) -> dict[str, Any]:
    """The package summary --version names, else the one the first endpoint variant's rule picks."""
    if version is None:
        rule = VARIANTS[0]
    else:
        rule = {"name": f"--version {version}", "select": "version", "version": version}
    try:
        return select_package(list_packages(sagemaker, group), rule)
    except BuildConfigError as err:
        raise BatchError(str(err)) from None


def model_request(name: str, package_arn: str, role_arn: str) -> dict[str, Any]:
    """CreateModel from the registered package, as deploy/endpoint.yaml makes the endpoint's models."""
    return {
        "ModelName": name,
        "ExecutionRoleArn": role_arn,
        # The package's containers as registered: image, artifact and environment (e.g. an Autopilot
        # candidate's SAGEMAKER_INFERENCE_OUTPUT). The container needs no network.
        "PrimaryContainer": {"ModelPackageName": package_arn},
        "EnableNetworkIsolation": True,
    }


def transform_job_request(
    name: str, model_name: str, source: S3Uri, destination: S3Uri, form: payload.TransformInput
) -> dict[str, Any]:
    """CreateTransformJob over every object under ``source``, one record per line."""
    return {
        "TransformJobName": name,
        "ModelName": model_name,
        "BatchStrategy": form.batch_strategy,
        "MaxPayloadInMB": BATCH["max_payload_mb"],
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": str(source)}},
            "ContentType": form.content_type,
            "CompressionType": "None",
            "SplitType": "Line",
        },
        "TransformOutput": {
            "S3OutputPath": str(destination),
            "Accept": form.accept,
            "AssembleWith": "Line",
        },
        "TransformResources": {
            "InstanceType": BATCH["instance_type"],
            "InstanceCount": BATCH["instance_count"],
        },
    }


# ---------------------------------------------------------------------------------------------- input


def read_texts(path: Path) -> list[str]:
    """The TEXT_COLUMN of every record of a CSV file with a header, in order."""
    try:
        # newline="": a line break inside a quoted field is part of the text, kept as written.
        with path.open(encoding="utf-8-sig", newline="") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as err:
        raise BatchError(f"--data {path}: cannot read it as UTF-8 text: {err}") from None
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        if TEXT_COLUMN not in (reader.fieldnames or []):
            raise BatchError(f"--data {path}: no {TEXT_COLUMN!r} column (columns: {reader.fieldnames})")
        texts = [row[TEXT_COLUMN] or "" for row in reader]
    except csv.Error as err:
        raise BatchError(f"--data {path}: line {reader.line_num}: not readable CSV: {err}") from None
    if not texts:
        raise BatchError(f"--data {path}: no records")
    return texts


def upload_input(s3: Any, path: Path, source: S3Uri, form: payload.TransformInput) -> S3Uri:
    """Put the file's records under the input prefix, named after the file."""
    prefix = source.key if source.key.endswith("/") or not source.key else f"{source.key}/"
    target = S3Uri(source.bucket, f"{prefix}{path.name}")
    s3.put_object(Bucket=target.bucket, Key=target.key, Body=form.body, ContentType=form.content_type)
    return target


# ---------------------------------------------------------------------------------------------- job


def run(args: argparse.Namespace, sagemaker: Any, s3: Any) -> dict[str, Any]:
    """Create the model and the transform job; wait and report unless --no-wait. Returns the job's
    description (DescribeTransformJob), or its creation answer with --no-wait."""
    source = S3Uri.parse(args.input, "--input")
    destination = S3Uri.parse(args.output, "--output")
    texts = read_texts(args.data) if args.data else None
    package = choose_package(sagemaker, args.model_package_group, args.version)
    form = payload.transform_input(texts or [])
    if texts is not None:
        uploaded = upload_input(s3, args.data, source, form)
        print(f"uploaded {len(texts)} records of {args.data} to {uploaded}")
    name = job_name()
    print(
        f"model package version {package['ModelPackageVersion']} ({package['ModelApprovalStatus']}): "
        f"{package['ModelPackageArn']}"
    )
    sagemaker.create_model(**model_request(name, package["ModelPackageArn"], args.role_arn))
    try:
        created = sagemaker.create_transform_job(
            **transform_job_request(name, name, source, destination, form)
        )
        print(
            f"transform job {name}: {source} -> {destination} on {BATCH['instance_count']} x "
            f"{BATCH['instance_type']} ({form.content_type}, {form.batch_strategy})"
        )
        if args.no_wait:
            print(f"not waiting; the model {name} stays until you delete it")
            return created
        return wait(sagemaker, name, destination)
    finally:
        if not args.no_wait:
            sagemaker.delete_model(ModelName=name)


def wait(sagemaker: Any, name: str, destination: S3Uri) -> dict[str, Any]:
    started = time.monotonic()
    sagemaker.get_waiter("transform_job_completed_or_stopped").wait(
        TransformJobName=name,
        WaiterConfig={"Delay": WAIT_DELAY_SECONDS, "MaxAttempts": WAIT_MAX_ATTEMPTS},
    )
    described = sagemaker.describe_transform_job(TransformJobName=name)
    status = described["TransformJobStatus"]
    print(f"{name}: {status} after {time.monotonic() - started:.0f} s")
    if status == "Completed":
        print(f"answers: {destination}<input object name>.out, one line per input line")
    elif described.get("FailureReason"):
        print(f"  {described['FailureReason']}")
    return described


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m deploy.batch", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--role-arn", required=True, help="the role the model runs as (S3 input and output)")
    parser.add_argument("--input", required=True, metavar="S3_PREFIX", help="the objects to score")
    parser.add_argument("--output", required=True, metavar="S3_PREFIX", help="where <object>.out goes")
    parser.add_argument("--data", type=Path, metavar="CSV", help=f"upload this file's {TEXT_COLUMN!r} first")
    parser.add_argument(
        "--version", type=int, help="this model package version (default: the first variant's)"
    )
    parser.add_argument("--model-package-group", default=MODEL_PACKAGE_GROUP)
    parser.add_argument("--region", default=REGION)
    parser.add_argument("--no-wait", action="store_true", help="start the job and return")
    return parser.parse_args(argv)


@reports_aws_errors
def main(argv: Sequence[str] | None = None, session: boto3.Session | None = None) -> int:
    args = parse_args(argv)
    session = session or boto3.Session(region_name=args.region)
    try:
        described = run(args, session.client("sagemaker"), session.client("s3"))
    except BatchError as err:
        print(f"python -m deploy.batch: error: {err}", file=sys.stderr)
        return 2
    return 0 if described.get("TransformJobStatus", "Completed") == "Completed" else 1


if __name__ == "__main__":
    sys.exit(main())
