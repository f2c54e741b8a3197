"""Batch scoring on SageMaker (deploy/batch.py): its requests checked against botocore's models, its run
against moto, and its input form: one record per line, however the texts are written."""

from __future__ import annotations

import copy
import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.model import OperationModel
from moto import mock_aws

from deploy import batch, payload
from deploy.settings import BATCH, MODEL_PACKAGE_GROUP, REGION, TEXT_COLUMN, VARIANTS
from tests.api_requests import request_problems

ROLE_ARN = "arn:aws:iam::123456789012:role/SageMakerExecutionRole"
BUCKET = "sagespec-batch-bucket"
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/serving:1"
# Texts a CSV quotes: commas, quotes and line breaks inside the field.
TEXTS = ["Lovely dress, fits well", 'Runs "small"', "Too big.\nReturned it,\r\nsadly", ""]


class RequestLog:
    """A botocore hook: records and validates every request before it is built and sent."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.problems: list[str] = []

    def __call__(self, params: dict[str, Any], model: OperationModel, **_: Any) -> None:
        self.requests.append((model.name, copy.deepcopy(params)))
        self.problems += request_problems(model.service_model.service_name, model.name, params)

    def request(self, operation: str) -> dict[str, Any]:
        (params,) = [params for name, params in self.requests if name == operation]
        return params


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[boto3.Session, RequestLog]]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        log = RequestLog()
        boto = boto3.Session(region_name=REGION)
        boto.events.register("before-parameter-build", log)
        boto.client("s3").create_bucket(Bucket=BUCKET)
        yield boto, log


def _register_packages(sagemaker: Any, statuses: list[str]) -> list[str]:
    sagemaker.create_model_package_group(ModelPackageGroupName=MODEL_PACKAGE_GROUP)
    arns = []
    for version, status in enumerate(statuses, start=1):
        response = sagemaker.create_model_package(
            ModelPackageGroupName=MODEL_PACKAGE_GROUP,
            ModelApprovalStatus=status,
            InferenceSpecification={
                "Containers": [
                    {"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/models/{version}/model.tar.gz"}
                ],
                "SupportedContentTypes": ["application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
        )
        arns.append(response["ModelPackageArn"])
    return arns


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
    assert [name for name, _ in log.requests if name == "DeleteModel"] == []  # the running job needs it
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
    assert "CreateTransformJob" not in [name for name, _ in log.requests]
