"""Make the repository root importable, so the tests import `pipelines` from this checkout; and fixtures
shared by the tests that talk to a mocked AWS."""

from __future__ import annotations

import copy
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.model import OperationModel
from moto import mock_aws

from tests.api_requests import request_problems

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
# The tests check the spec's names wherever they run: the project's CodeBuild environment sets these,
# which would give the settings modules the project's names (pipelines/project_names.py).
for variable in ("SAGEMAKER_PROJECT_NAME", "SAGEMAKER_PROJECT_ID"):
    os.environ.pop(variable, None)

# moto's default account, and where moto takes the results its Athena returns (it runs no SQL).
MOTO_ACCOUNT_ID = "123456789012"
MOTO_ATHENA_RESULTS = "http://motoapi.amazonaws.com/moto-api/static/athena/query-results"
_ATHENA_TYPES = {"i": "bigint", "u": "bigint", "f": "double", "b": "boolean"}
# The serving image of the model packages register_packages registers.
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/serving:1"


def athena_result_set(frame: Any) -> dict[str, Any]:
    """A pandas DataFrame as Athena's GetQueryResults sends it: every value as text, a header row first."""
    import pandas as pd

    def cell(value: Any) -> dict[str, str]:
        if pd.isna(value):
            return {}
        if isinstance(value, bool):
            return {"VarCharValue": str(value).lower()}
        return {"VarCharValue": str(value)}

    columns = [str(name) for name in frame.columns]
    rows = [{"Data": [{"VarCharValue": name} for name in columns]}]
    rows += [{"Data": [cell(value) for value in row]} for row in frame.itertuples(index=False)]
    column_info = [
        {"Name": name, "Type": _ATHENA_TYPES.get(frame[name].dtype.kind, "varchar")} for name in columns
    ]
    return {"rows": rows, "column_info": column_info}


@pytest.fixture
def queue_athena_results() -> Callable[[Iterable[Any], str], None]:
    """Inside mock_aws(): make moto's Athena answer the next queries with these DataFrames, in order."""
    import requests

    def queue(frames: Iterable[Any], region: str) -> None:
        body = {
            "account_id": MOTO_ACCOUNT_ID,
            "region": region,
            "results": [athena_result_set(frame) for frame in frames],
        }
        requests.post(MOTO_ATHENA_RESULTS, json=body, timeout=10).raise_for_status()

    return queue


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A mocked AWS (moto) with test credentials, in the spec's region (project.region, which every
    settings module carries; explore/ is in every project); gives the region."""
    from explore.settings import DEFAULT_REGION as region

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": region,
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield region


class RequestLog:
    """A botocore hook: records and validates every request before it is built and sent."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self.problems: list[str] = []

    def __call__(self, params: dict[str, Any], model: OperationModel, **_: Any) -> None:
        self.requests.append((model.service_model.service_name, model.name, copy.deepcopy(params)))
        self.problems += request_problems(model.service_model.service_name, model.name, params)

    def operations(self) -> list[str]:
        return [operation for _, operation, _ in self.requests]

    def request(self, operation: str) -> dict[str, Any]:
        """The parameters of the one request of this operation."""
        (params,) = [params for _, name, params in self.requests if name == operation]
        return params


@pytest.fixture
def session(aws: str) -> tuple[boto3.Session, RequestLog]:
    """A boto3 session on the mocked AWS whose requests a RequestLog records and validates."""
    log = RequestLog()
    session = boto3.Session(region_name=aws)
    session.events.register("before-parameter-build", log)
    return session, log


def register_packages(
    sagemaker: Any,
    model_package_group: str,
    statuses: list[str],
    *,
    bucket: str,
    drift_check_baselines: dict[str, Any] | None = None,
) -> list[str]:
    """A model package group with one version per status, its artifacts in the bucket (with the
    drift-check baselines the pipeline's baseline steps register, if given); the versions' ARNs."""
    sagemaker.create_model_package_group(ModelPackageGroupName=model_package_group)
    arns = []
    for version, status in enumerate(statuses, start=1):
        response = sagemaker.create_model_package(
            ModelPackageGroupName=model_package_group,
            ModelApprovalStatus=status,
            InferenceSpecification={
                "Containers": [
                    {"Image": IMAGE, "ModelDataUrl": f"s3://{bucket}/models/{version}/model.tar.gz"}
                ],
                "SupportedContentTypes": ["application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
            **({"DriftCheckBaselines": drift_check_baselines} if drift_check_baselines else {}),
        )
        arns.append(response["ModelPackageArn"])
    return arns
