"""Batch scoring on SageMaker (deploy/batch.py): its requests checked against botocore's models, its run
against moto, and its input form: one record per line, however the texts are written."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from deploy import batch, payload
from deploy.settings import BATCH, MODEL_PACKAGE_GROUP, TEXT_COLUMN, VARIANTS
from tests.api_requests import request_problems
from tests.conftest import RequestLog, register_packages

ROLE_ARN = "arn:aws:iam::123456789012:role/SageMakerExecutionRole"
BUCKET = "sagespec-batch-bucket"
# Texts a CSV quotes: commas, quotes and line breaks inside the field.
TEXTS = ["Lovely dress, fits well", 'Runs "small"', "Too big.\nReturned it,\r\nsadly", ""]


@pytest.fixture
def session(session: tuple[boto3.Session, RequestLog]) -> tuple[boto3.Session, RequestLog]:
    """conftest.py's session, with the bucket the jobs read and write."""
    session[0].client("s3").create_bucket(Bucket=BUCKET)
    return session


def _register_packages(sagemaker: Any, statuses: list[str]) -> list[str]:
    return register_packages(sagemaker, MODEL_PACKAGE_GROUP, statuses, bucket=BUCKET)


def _data(path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", TEXT_COLUMN, "other"])
        writer.writerows([i, text, "x"] for i, text in enumerate(TEXTS))
    return path


@pytest.mark.parametrize("server", [payload.HANDLER, "blazingtext", "autopilot"])
def test_the_input_is_one_record_per_line(server: str) -> None:
    form = payload.transform_input(TEXTS, server)
    lines = form.body.decode("utf-8").split("\n")
    assert lines[-1] == "" and len(lines) - 1 == len(TEXTS)  # SplitType Line: a record per line
    if server == payload.HANDLER:
        assert [json.loads(line) for line in lines[:-1]] == [{"instances": [t]} for t in TEXTS]
        assert (form.content_type, form.batch_strategy) == (payload.JSON, "SingleRecord")
    elif server == "blazingtext":
        assert json.loads(lines[2]) == {"source": "too big . returned it , sadly"}
        assert (form.content_type, form.accept) == (payload.JSON_LINES, payload.JSON_LINES)
    else:
        assert lines[2] == '"Too big. Returned it, sadly"'
        assert (form.content_type, form.batch_strategy) == (payload.CSV, "MultiRecord")


def test_the_job_scores_the_first_variants_model_over_the_prefix(
    session: tuple[boto3.Session, RequestLog], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    boto, log = session
    sagemaker = boto.client("sagemaker")
    arns = _register_packages(sagemaker, ["Approved", "Approved", "PendingManualApproval"])
    chosen = {"latest-approved": 2, "newest": 3}.get(VARIANTS[0]["select"], VARIANTS[0]["version"])
    data = _data(tmp_path / "reviews.csv")
    argv = ["--role-arn", ROLE_ARN, "--input", f"s3://{BUCKET}/batch/in", "--output", f"s3://{BUCKET}/out/"]
    assert batch.main([*argv, "--data", str(data)], session=boto) == 0
    assert not log.problems, log.problems

    form = payload.transform_input(TEXTS)
    uploaded = boto.client("s3").get_object(Bucket=BUCKET, Key="batch/in/reviews.csv")
    assert uploaded["Body"].read() == form.body
    model = log.request("CreateModel")
    assert model["PrimaryContainer"] == {"ModelPackageName": arns[chosen - 1]}
    assert model["ExecutionRoleArn"] == ROLE_ARN
    job = log.request("CreateTransformJob")
    assert job["ModelName"] == model["ModelName"]
    assert job["TransformInput"]["SplitType"] == "Line"
    assert job["TransformInput"]["ContentType"] == form.content_type
    assert job["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == f"s3://{BUCKET}/batch/in"
    assert job["TransformOutput"] == {
        "S3OutputPath": f"s3://{BUCKET}/out/",
        "Accept": form.accept,
        "AssembleWith": "Line",
    }
    assert job["BatchStrategy"] == form.batch_strategy
    assert job["MaxPayloadInMB"] == BATCH["max_payload_mb"]
    assert job["TransformResources"] == {
        "InstanceType": BATCH["instance_type"],
        "InstanceCount": BATCH["instance_count"],
    }
    assert (
        sagemaker.describe_transform_job(TransformJobName=job["TransformJobName"])["TransformJobStatus"]
        == "Completed"
    )
    assert log.request("DeleteModel") == {"ModelName": model["ModelName"]}  # nothing left behind
    assert "Completed" in capsys.readouterr().out


def test_version_picks_the_package(session: tuple[boto3.Session, RequestLog]) -> None:
    boto, log = session
    arns = _register_packages(boto.client("sagemaker"), ["Approved", "Approved"])
    argv = ["--role-arn", ROLE_ARN, "--input", f"s3://{BUCKET}/in/", "--output", f"s3://{BUCKET}/out/"]
    assert batch.main([*argv, "--version", "1", "--no-wait"], session=boto) == 0
    assert log.request("CreateModel")["PrimaryContainer"]["ModelPackageName"] == arns[0]
    assert "DeleteModel" not in log.operations()  # the running job needs it
    assert not log.problems, log.problems


def test_job_names_fit_what_sagemaker_accepts() -> None:
    name = batch.job_name()
    assert not request_problems("sagemaker", "DescribeTransformJob", {"TransformJobName": name})
    assert not request_problems("sagemaker", "DescribeModel", {"ModelName": name})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--input", "bucket/in/"], "--input: expected s3://bucket/prefix/"),
        (["--output", "s3://"], "--output: expected s3://bucket/prefix/"),
        (["--version", "7"], "the group has no version 7"),
        (["--data", "missing.csv"], "--data missing.csv: cannot read it"),
    ],
)
def test_usage_problems_are_one_line_errors(
    session: tuple[boto3.Session, RequestLog],
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    boto, log = session
    _register_packages(boto.client("sagemaker"), ["Approved"])
    base = {"--role-arn": ROLE_ARN, "--input": f"s3://{BUCKET}/in/", "--output": f"s3://{BUCKET}/out/"}
    base.update(dict(zip(argv[::2], argv[1::2], strict=True)))
    assert batch.main([item for pair in base.items() for item in pair], session=boto) == 2
    assert message in capsys.readouterr().err
    assert "CreateTransformJob" not in log.operations()
