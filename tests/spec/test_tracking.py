"""The `tracking` section: a SageMaker MLflow tracking server ARN (checked as AWS checks it, with a clear
error at its line), the experiment (default: the slug) and the artifact store."""

from __future__ import annotations

import re
from functools import cache

import botocore.session
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from sagespec.errors import SpecError
from sagespec.spec import load_spec_text
from sagespec.spec.models_tracking import (
    TRACKING_SERVER_ARN_MAX,
    TRACKING_SERVER_ARN_PATTERN,
    MLflow,
)

PROPERTY = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ARN = "arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/reviews"


def section(arn: str, extra: str = "") -> str:
    return f"tracking:\n  mlflow:\n    tracking_server_arn: {arn}\n{extra}"


def test_a_tracking_server_arn_is_enough_and_the_experiment_defaults_to_the_slug(example_text):
    spec = load_spec_text(example_text() + section(ARN)).spec
    assert spec.tracking is not None
    assert spec.tracking.mlflow.tracking_server_arn == ARN
    assert spec.mlflow_experiment == spec.project.slug == "reviews-blazingtext"
    assert spec.tracking.mlflow.artifact_store_uri is None


def test_the_experiment_and_the_artifact_store_can_be_named(example_text):
    extra = "    experiment: reviews-sentiment\n    artifact_store_uri: s3://mlflow-artifacts/reviews\n"
    spec = load_spec_text(example_text() + section(ARN, extra)).spec
    assert spec.mlflow_experiment == "reviews-sentiment"
    assert spec.tracking.mlflow.artifact_store_uri == "s3://mlflow-artifacts/reviews"


def test_without_the_section_nothing_is_tracked(example_text):
    spec = load_spec_text(example_text()).spec
    assert spec.tracking is None and spec.mlflow_experiment is None


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:sagemaker:us-east-1:1234:mlflow-tracking-server/reviews",  # a 12-digit account
        "arn:aws:sagemaker:us-east-1:123456789012:mlflow-app/app-abc",  # an MLflow app, not a server
        "arn:aws:s3:us-east-1:123456789012:mlflow-tracking-server/reviews",  # another service
        "arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/",  # no name
        "arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/my_server",  # '_' in the name
        "arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/-reviews",
        "arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/" + "a" * 257,
        "https://mlflow.example.com",
    ],
)
def test_a_bad_arn_is_one_located_error(example_text, arn):
    text = example_text() + section(f"'{arn}'")
    with pytest.raises(SpecError) as raised:
        load_spec_text(text)
    (issue,) = raised.value.issues
    assert issue.path == "tracking.mlflow.tracking_server_arn"
    assert issue.line == text.splitlines().index(f"    tracking_server_arn: '{arn}'") + 1
    assert "SageMaker MLflow tracking server ARN such as 'arn:aws:sagemaker:" in issue.message


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("experiment", "two\nlines", "line breaks"),
        ("experiment", "e" * 257, "at most 256"),
        ("experiment", "", "must not be empty"),
        ("artifact_store_uri", "mlflow-artifacts/reviews", "s3:// URI"),
        ("artifact_store_uri", "s3://bucket/${AWS::Region}", "${"),
        ("unknown", "x", "Extra inputs"),
    ],
)
def test_other_fields_are_checked(field, value, fragment):
    with pytest.raises(ValidationError) as raised:
        MLflow(tracking_server_arn=ARN, **{field: value})
    assert fragment in str(raised.value)


@cache
def _botocore_pattern() -> re.Pattern[str]:
    model = botocore.session.get_session().get_service_model("sagemaker")
    shape = model.shape_for("TrackingServerArn")
    assert shape.metadata["max"] == TRACKING_SERVER_ARN_MAX
    return re.compile(shape.metadata["pattern"])


NAME = st.from_regex(r"\A[a-zA-Z0-9](-*[a-zA-Z0-9]){0,40}\Z")
ARNS = st.builds(
    "arn:{}:sagemaker:{}:{}:mlflow-tracking-server/{}".format,
    st.sampled_from(["aws", "aws-cn", "aws-us-gov"]),
    st.sampled_from(["us-east-1", "eu-west-3", "cn-north-1", "us-gov-west-1"]),
    st.from_regex(r"\A[0-9]{12}\Z"),
    NAME,
)


@PROPERTY
@given(arn=ARNS)
def test_every_well_formed_arn_is_accepted_and_is_one_botocore_accepts(arn):
    assert MLflow(tracking_server_arn=arn).tracking_server_arn == arn
    assert _botocore_pattern().fullmatch(arn)


@PROPERTY
@given(
    arn=st.one_of(
        st.text(max_size=80),
        ARNS.flatmap(
            lambda arn: st.sampled_from([arn + " ", arn + "\n", arn.upper(), arn + "/x", arn[:-1] + "_"])
        ),
    )
)
def test_anything_else_is_refused(arn):
    if re.fullmatch(TRACKING_SERVER_ARN_PATTERN, arn):
        return  # a text that happens to be well formed
    with pytest.raises(ValidationError, match="SageMaker MLflow tracking server ARN"):
        MLflow(tracking_server_arn=arn)
