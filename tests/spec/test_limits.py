"""Spec values stay within what AWS and the generated code accept.

Numeric and length limits are compared with botocore's service models (the same limits the AWS APIs
enforce), so the spec can never be looser than AWS; random numbers and text probe each field.
"""

from __future__ import annotations

import ast
import ipaddress
import keyword
import math
import re
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import botocore.session
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError

from sagespec.errors import SpecError
from sagespec.spec import load_spec_text
from sagespec.spec.aws_values import PROJECT_MODULES, package_problem
from sagespec.spec.catalog import ALGORITHMS
from sagespec.spec.fields import SLUG_PATTERN
from sagespec.spec.models import (
    BertModel,
    Bias,
    BlazingTextModel,
    Dataset,
    Deployment,
    Facet,
    FeatureStore,
    Labeling,
    Objective,
    Project,
    Registry,
    Spec,
    Spot,
    Tuning,
    WarmStart,
)
from sagespec.spec.models_delivery import GitHubActions
from sagespec.spec.models_deployment import (
    Autoscaling,
    DataCapture,
    Serverless,
    TrafficShifting,
    Variant,
    VariantModel,
)
from sagespec.spec.models_labeling import Workforce

from ..conftest import REPO

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@cache
def _service(name: str):
    return botocore.session.get_session().get_service_model(name)


def aws_member(service: str, structure: str, member: str):
    """The botocore shape of ``structure.member`` (a list member's shape for ``member[]``)."""
    shape = _service(service).shape_for(structure).members[member.removesuffix("[]")]
    return shape.member if member.endswith("[]") else shape


@cache
def field_adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    field = model.model_fields[name]
    return TypeAdapter(Annotated[field.annotation, field])


def _schema_node(model: type[BaseModel], name: str, items: bool) -> dict[str, Any]:
    node = field_adapter(model, name).json_schema()
    for option in node.get("anyOf", []):
        if option.get("type") != "null":
            node = option
    return node["items"] if items else node


# spec field -> the AWS API member it becomes. (service, structure, member); "[]" is a list's member.
AWS_FIELDS: list[tuple[type[BaseModel], str, str, str, str]] = [
    (Variant, "initial_weight", "sagemaker", "ProductionVariant", "InitialVariantWeight"),
    (Variant, "initial_instance_count", "sagemaker", "ProductionVariant", "InitialInstanceCount"),
    (Variant, "name", "sagemaker", "ProductionVariant", "VariantName"),
    (Serverless, "max_concurrency", "sagemaker", "ProductionVariantServerlessConfig", "MaxConcurrency"),
    (Serverless, "memory_size_mb", "sagemaker", "ProductionVariantServerlessConfig", "MemorySizeInMB"),
    (VariantModel, "version", "sagemaker", "ModelPackage", "ModelPackageVersion"),
    (BlazingTextModel, "instance_count", "sagemaker", "ResourceConfig", "InstanceCount"),
    (BertModel, "instance_count", "sagemaker", "ResourceConfig", "InstanceCount"),
    (BertModel, "volume_size_gb", "sagemaker", "ResourceConfig", "VolumeSizeInGB"),
    (BlazingTextModel, "volume_size_gb", "sagemaker", "ResourceConfig", "VolumeSizeInGB"),
    (BertModel, "max_runtime_seconds", "sagemaker", "StoppingCondition", "MaxRuntimeInSeconds"),
    (Spot, "max_wait_seconds", "sagemaker", "StoppingCondition", "MaxWaitTimeInSeconds"),
    (BertModel, "checkpoint_s3_uri", "sagemaker", "CheckpointConfig", "S3Uri"),
    (Tuning, "max_jobs", "sagemaker", "ResourceLimits", "MaxNumberOfTrainingJobs"),
    (Tuning, "max_parallel_jobs", "sagemaker", "ResourceLimits", "MaxParallelTrainingJobs"),
    (Objective, "metric", "sagemaker", "HyperParameterTuningJobObjective", "MetricName"),
    (
        WarmStart,
        "parent_jobs",
        "sagemaker",
        "HyperParameterTuningJobWarmStartConfig",
        "ParentHyperParameterTuningJobs",
    ),
    (TrafficShifting, "wait_seconds", "sagemaker", "TrafficRoutingConfig", "WaitIntervalInSeconds"),
    (
        TrafficShifting,
        "termination_wait_seconds",
        "sagemaker",
        "BlueGreenUpdatePolicy",
        "TerminationWaitInSeconds",
    ),
    (TrafficShifting, "rollback_alarms", "sagemaker", "AutoRollbackConfig", "Alarms"),
    (TrafficShifting, "rollback_alarms[]", "sagemaker", "Alarm", "AlarmName"),
    (TrafficShifting, "rollback_alarms[]", "cloudwatch", "MetricAlarm", "AlarmName"),
    (DataCapture, "sampling_percentage", "sagemaker", "DataCaptureConfig", "InitialSamplingPercentage"),
    (DataCapture, "destination", "sagemaker", "DataCaptureConfig", "DestinationS3Uri"),
    (Deployment, "endpoint_name", "sagemaker", "CreateEndpointInput", "EndpointName"),
    (Deployment, "variants", "sagemaker", "CreateEndpointConfigInput", "ProductionVariants"),
    (Autoscaling, "min_instances", "application-autoscaling", "RegisterScalableTargetRequest", "MinCapacity"),
    (Autoscaling, "max_instances", "application-autoscaling", "RegisterScalableTargetRequest", "MaxCapacity"),
    (Registry, "model_package_group", "sagemaker", "CreateModelPackageGroupInput", "ModelPackageGroupName"),
    (Labeling, "workers_per_item", "sagemaker", "HumanTaskConfig", "NumberOfHumanWorkersPerDataObject"),
    (Labeling, "task_time_limit_seconds", "sagemaker", "HumanTaskConfig", "TaskTimeLimitInSeconds"),
    (Labeling, "task_time_limit_seconds", "sagemaker", "HumanLoopConfig", "TaskTimeLimitInSeconds"),
    (
        Labeling,
        "task_availability_seconds",
        "sagemaker",
        "HumanTaskConfig",
        "TaskAvailabilityLifetimeInSeconds",
    ),
    (
        Labeling,
        "task_availability_seconds",
        "sagemaker",
        "HumanLoopConfig",
        "TaskAvailabilityLifetimeInSeconds",
    ),
    (Labeling, "task_title", "sagemaker", "HumanLoopConfig", "TaskTitle"),
    (Labeling, "task_title", "sagemaker", "HumanTaskConfig", "TaskTitle"),
    (Labeling, "task_description", "sagemaker", "HumanLoopConfig", "TaskDescription"),
    (Labeling, "output_s3_prefix", "sagemaker", "FlowDefinitionOutputConfig", "S3OutputPath"),
    (Workforce, "cognito_user_pool_id", "sagemaker", "CognitoConfig", "UserPool"),
    (Workforce, "cognito_client_id", "sagemaker", "CognitoConfig", "ClientId"),
    (Workforce, "work_team_arn", "sagemaker", "HumanLoopConfig", "WorkteamArn"),
    (FeatureStore, "feature_group_name", "sagemaker", "CreateFeatureGroupRequest", "FeatureGroupName"),
    (
        FeatureStore,
        "record_identifier",
        "sagemaker",
        "CreateFeatureGroupRequest",
        "RecordIdentifierFeatureName",
    ),
    (FeatureStore, "offline_store_s3_uri", "sagemaker", "S3StorageConfig", "S3Uri"),
    (Dataset, "text_column", "sagemaker", "AppSpecification", "ContainerArguments[]"),
    (Dataset, "label_column", "sagemaker", "AppSpecification", "ContainerArguments[]"),
    (Dataset, "facet_columns[]", "sagemaker", "AppSpecification", "ContainerArguments[]"),
    (Facet, "column", "sagemaker", "AppSpecification", "ContainerArguments[]"),
    (Bias, "group_column", "sagemaker", "AppSpecification", "ContainerArguments[]"),
    (BertModel, "pretrained_model", "sagemaker", "AppSpecification", "ContainerArguments[]"),
    (GitHubActions, "role_arn", "sagemaker", "CreateTrainingJobRequest", "RoleArn"),
    (GitHubActions, "branch", "sagemaker", "GitConfig", "Branch"),
]


# Lists the generator leaves out of the request when empty (AWS's minimum applies only when present).
OMITTED_WHEN_EMPTY = {(TrafficShifting, "rollback_alarms")}


def _bounds(node: dict[str, Any]) -> tuple[float | None, float | None]:
    """(lowest, highest) the JSON schema node allows: a number's value, a string's or list's length."""
    if "const" in node:
        return node["const"], node["const"]
    if "enum" in node:
        return min(node["enum"]), max(node["enum"])
    kind = node.get("type")
    if kind == "string":
        return node.get("minLength", 0), node.get("maxLength")
    if kind == "array":
        return node.get("minItems", 0), node.get("maxItems")
    low = node.get("minimum", node.get("exclusiveMinimum"))
    return low, node.get("maximum", node.get("exclusiveMaximum"))


@pytest.mark.parametrize(("model", "name", "service", "structure", "member"), AWS_FIELDS)
def test_spec_bounds_are_no_looser_than_aws(model, name, service, structure, member):
    shape = aws_member(service, structure, member)
    node = _schema_node(model, name.removesuffix("[]"), name.endswith("[]"))
    low, high = _bounds(node)
    if (model, name) in OMITTED_WHEN_EMPTY and low == 0:
        low = 1  # the generator leaves the member out when the list is empty
    aws_low, aws_high = shape.metadata.get("min"), shape.metadata.get("max")
    if aws_low is not None:
        assert low is not None and low >= aws_low, f"{model.__name__}.{name}: {low} < AWS's {aws_low}"
    if aws_high is not None:
        assert high is not None and high <= aws_high, f"{model.__name__}.{name}: {high} > AWS's {aws_high}"
    if shape.type_name in ("integer", "long", "float", "double"):
        assert high is not None, f"{model.__name__}.{name} has no upper bound"


def _numeric_fields() -> list[tuple[type[BaseModel], str]]:
    found = []
    for model in _models(Spec):
        for name in model.model_fields:
            node = _schema_node(model, name, False)
            if node.get("type") in ("integer", "number") and "enum" not in node and "const" not in node:
                found.append((model, name))
    return found


def _models(root: type[BaseModel]) -> list[type[BaseModel]]:
    seen: list[type[BaseModel]] = []

    def visit(annotation: Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation not in seen:
                seen.append(annotation)
                for field in annotation.model_fields.values():
                    visit(field.annotation)
            return
        for arg in getattr(annotation, "__args__", ()) or ():
            visit(arg)
        for arg in getattr(annotation, "__metadata__", ()) or ():
            visit(arg)

    visit(root)
    return seen


# Numeric fields whose range is a cross-field check (it depends on another field), with that check's test.
CHECKED_ELSEWHERE = {
    "ContinuousRange.min",
    "ContinuousRange.max",
    "IntegerRange.min",
    "IntegerRange.max",  # the catalog
    "BiasMetric.threshold",  # each metric's range (KL has none)
    "TrafficShifting.canary_percent",
    "TrafficShifting.linear_step_percent",  # per shifting type
}


@pytest.mark.parametrize(
    ("model", "name"),
    [(m, n) for m, n in _numeric_fields() if f"{m.__name__}.{n}" not in CHECKED_ELSEWHERE],
    ids=lambda v: getattr(v, "__name__", v),
)
def test_every_number_has_an_upper_bound(model, name):
    assert _bounds(_schema_node(model, name, False))[1] is not None


NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e30, -1e30, 2**31, 2**31 - 1, 2**63, 0, -1, 0.5]),
)


@pytest.mark.parametrize(("model", "name"), _numeric_fields(), ids=lambda v: getattr(v, "__name__", v))
@PROPERTY
@given(value=NUMBERS)
def test_accepted_numbers_are_finite_and_within_aws_limits(model, name, value):
    try:
        accepted = field_adapter(model, name).validate_python(value)
    except ValidationError:
        return
    if accepted is None or f"{model.__name__}.{name}" in CHECKED_ELSEWHERE:
        return
    assert math.isfinite(accepted)
    assert abs(accepted) <= 2**31 - 1 or isinstance(accepted, float)
    for m, field, service, structure, member in AWS_FIELDS:
        if (m, field) == (model, name):
            meta = aws_member(service, structure, member).metadata
            assert meta.get("min", -math.inf) <= accepted <= meta.get("max", math.inf)


@pytest.mark.parametrize("algorithm", list(ALGORITHMS.values()), ids=lambda a: a.type)
@PROPERTY
@given(value=NUMBERS)
def test_accepted_hyperparameters_are_finite_and_bounded(algorithm, value):
    for hp in algorithm.hyperparameters.values():
        if hp.kind in ("int", "float") and hp.check(value) is None:
            assert math.isfinite(value) and hp.maximum is not None and value <= hp.maximum
            assert hp.kind == "float" or abs(value) <= 2**31 - 1


# --- S3 URIs
BOTOCORE_S3_URI = re.compile(r"(https|s3)://([^/]+)/?(.*)")


def _aws_bucket(bucket: str) -> bool:
    """The S3 User Guide's general purpose bucket naming rules, written independently of the model."""
    if not 3 <= len(bucket) <= 63 or ".." in bucket:
        return False
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]*[a-z0-9]", bucket):
        return False
    try:
        ipaddress.ip_address(bucket)
    except ValueError:
        return not bucket.startswith(("xn--", "sthree-")) and not bucket.endswith("-s3alias")
    return False


S3_TEXT = st.text(alphabet=st.sampled_from("abcAB_-.09/ \n\x00\x7f$%{}é"), max_size=70)


@PROPERTY
@given(rest=S3_TEXT)
def test_accepted_s3_uris_are_valid(rest):
    uri = "s3://" + rest
    try:
        field_adapter(DataCapture, "destination").validate_python(uri)
    except ValidationError:
        return
    assert BOTOCORE_S3_URI.fullmatch(uri)
    bucket, _, key = rest.partition("/")
    assert _aws_bucket(bucket)
    assert not any(ord(c) < 0x20 or c == "\x7f" for c in key)
    assert "${" not in uri


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        ("s3://", "must name a bucket"),
        ("s3://b/", "3-63 characters"),
        ("s3://My_Bucket/key", "lower-case letters"),
        ("s3://192.168.1.1/key", "IP address"),
        ("s3://my..bucket/key", "adjacent periods"),
        ("s3://bucket-/key", "lower-case letters"),
        ("s3://my-bucket/a\nb", "control characters"),
        ("s3://my-bucket/a\x00b", "control characters"),
        ("s3://my-bucket/${AWS::Region}/capture", "!Sub"),
        ("https://my-bucket/key", "s3:// URI"),
    ],
)
def test_bad_s3_uris_are_refused_with_the_rule(uri, fragment):
    with pytest.raises(ValidationError) as raised:
        field_adapter(DataCapture, "destination").validate_python(uri)
    assert fragment in str(raised.value)


def test_good_s3_uris_are_accepted():
    for uri in ("s3://my-bucket", "s3://my-bucket/", "s3://my.bucket-1/prefix/key with spaces"):
        assert field_adapter(DataCapture, "destination").validate_python(uri) == uri


# --- strings against AWS patterns
def _java_pattern(pattern: str) -> re.Pattern[str]:
    """A botocore (Java) pattern in Python's dialect: '.' there excludes every line terminator."""
    return re.compile(pattern.replace(".", "[^\n\r\u0085\u2028\u2029]"), re.ASCII)


PATTERNED = [
    (row[0], row[1], aws_member(*row[2:]).metadata)
    for row in AWS_FIELDS
    if aws_member(*row[2:]).type_name == "string"
    and "pattern" in aws_member(*row[2:]).metadata
    and "S3" not in row[4]
    and row[4] != "WorkteamArn"
]
TEXT = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.sampled_from("aZ09-_ .\n\t\r\u2028$"), max_size=80),
)


@pytest.mark.parametrize(
    ("model", "name", "meta"), PATTERNED, ids=lambda v: getattr(v, "__name__", str(v)[:20])
)
@PROPERTY
@given(text=TEXT)
def test_accepted_strings_match_the_aws_pattern(model, name, meta, text):
    items = name.endswith("[]")
    value = [text] if items else text
    try:
        field_adapter(model, name.removesuffix("[]")).validate_python(value)
    except ValidationError:
        return
    assert _java_pattern(meta["pattern"]).fullmatch(text), f"{text!r} does not match {meta['pattern']}"
    assert meta.get("min", 0) <= len(text) <= meta.get("max", math.inf)


@pytest.mark.parametrize(
    ("model", "name", "value", "fragment"),
    [
        (Dataset, "text_column", "Review\nText", "line breaks"),
        (Dataset, "label_column", "x" * 257, "256"),
        (TrafficShifting, "rollback_alarms", ["a" * 256], "255"),
        (Labeling, "task_title", "t" * 129, "128"),
        (Labeling, "task_description", "two\nlines", "line breaks"),
        (Workforce, "cognito_user_pool_id", "not a pool", "Cognito user pool id"),
        (Workforce, "cognito_client_id", "abc def", "Cognito app client id"),
        (Dataset, "seed", 2**31, "at most 2,147,483,647 (a 32-bit integer"),
        (Dataset, "seed", 1e30, "integer"),
        (Autoscaling, "max_instances", 1e30, "integer"),
        (Autoscaling, "max_instances", 2**40, "at most 2,147,483,647"),
        (Variant, "initial_weight", 1e39, "32-bit float"),
        (Variant, "initial_weight", float("nan"), "got nan"),
        (Autoscaling, "target_invocations_per_instance", 1e200, "2^360"),
        (Labeling, "task_availability_seconds", 30, "at least 60"),
        (Objective, "metric", "m" * 256, "255"),
        (GitHubActions, "role_arn", "arn:aws:iam::123456789012:role/a b", "IAM role ARN"),
        (GitHubActions, "branch", "feature branch", "' '"),
        (GitHubActions, "branch", "release..1", "not a valid git branch"),
    ],
)
def test_values_beyond_aws_limits_are_refused(model, name, value, fragment):
    with pytest.raises(ValidationError) as raised:
        field_adapter(model, name).validate_python(value)
    assert fragment in str(raised.value)


# --- slugs and the pipeline package
@PROPERTY
@given(slug=st.one_of(st.from_regex(SLUG_PATTERN, fullmatch=True), st.sampled_from(keyword.kwlist)))
def test_every_accepted_slug_yields_an_importable_package(slug):
    try:
        project = Project(name="x", slug=slug)
    except ValidationError:
        return
    package = project.package
    assert not keyword.iskeyword(package)
    ast.parse(f"from pipelines.{package} import pipeline")
    ast.parse(f"import pipelines.{package}.pipeline")


@pytest.mark.parametrize(
    "slug", ["class", "import", "lambda", "async", "run-pipeline", "tests", "json", "aws-errors"]
)
def test_slugs_that_cannot_be_the_package_are_refused(slug):
    with pytest.raises(ValidationError) as raised:
        Project(name="x", slug=slug)
    assert "choose another slug" in str(raised.value)


def test_soft_keywords_are_valid_packages():
    for slug in ("match", "case", "type"):
        assert package_problem(slug) is None
        ast.parse(f"from pipelines.{slug} import pipeline")


def test_project_modules_cover_the_generated_projects_modules():
    template = REPO / "template"
    generated = {p.parent.name for p in template.glob("*/__init__.py")}
    generated |= {Path(p.name.removesuffix(".j2")).stem for p in (template / "pipelines").glob("*.py*")}
    assert generated - {"__init__"} <= PROJECT_MODULES


def test_keyword_slug_is_located_in_the_spec(example_text):
    text = example_text().replace("slug: reviews-blazingtext", "slug: class")
    with pytest.raises(SpecError) as raised:
        load_spec_text(text)
    (issue,) = [i for i in raised.value.issues if i.path == "project.slug"]
    assert "Python keyword" in issue.message and issue.line is not None


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ("  name: Women's Clothing Reviews - BlazingText", "  name: Costs ${AWS::Region}", "project.name"),
        ("deployment:\n", "ci: {codebuild: {image: 'img:${Tag}'}}\ndeployment:\n", "ci.codebuild.image"),
        (
            "    wait_seconds: 600\n",
            "    wait_seconds: 600\n    rollback_alarms: ['errors-${Stage}']\n",
            "deployment.traffic_shifting.rollback_alarms.0",
        ),
    ],
)
def test_text_written_into_cloudformation_holds_no_reference(example_text, old, new, path):
    text = example_text()
    assert old in text
    with pytest.raises(SpecError) as refused:
        load_spec_text(text.replace(old, new))
    [issue] = refused.value.issues
    assert issue.path == path and "'${'" in issue.message and "CloudFormation" in issue.message
