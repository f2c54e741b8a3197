"""Monitoring and shadow tests on SageMaker, rendered from the BlazingText example with both Model Monitor
schedules and a shadow variant (tests/pipeline_variants.py): the endpoint stack's ShadowProductionVariants
and monitoring schedules, the Studio template's monitoring role and permissions, cfn-lint and checkov on
both, and the generated project's own tests, which validate every request the deploy build, the stack,
the pipeline's baseline steps and the labeling flow make against botocore's models."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sagespec.deployment import build_deployment
from sagespec.plan import build_plan
from sagespec.render import generate
from sagespec.render.context_deploy import deploy_group
from sagespec.render.context_monitoring import monitoring_group
from sagespec.spec import load_spec_text

from ..conftest import SPECS, run_in_project
from ..pipeline_variants import load_monitored
from .test_deploy_templates import _iac_tool
from .test_studio_template import (
    ACCEPTED,
    HIGH_SEVERITY,
    RESOURCELESS,
    TEMPLATE,
    _buildspec_variables,
    load_cfn,
)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("monitored") / "project"
    generate(load_monitored(), out)
    return out


def _statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    properties = template["Resources"][role]["Properties"]
    return [s for policy in properties["Policies"] for s in policy["PolicyDocument"]["Statement"]]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def test_the_context_has_the_shadow_and_the_schedules():
    spec = load_monitored().spec
    deploy = deploy_group(spec)
    (shadow,) = deploy.shadows
    assert (shadow["name"], shadow["sampling_percent"]) == ("Shadow", 50)  # 0.25 against 0.5
    assert shadow["model_select"] == {"select": "newest", "version": None}
    monitoring = monitoring_group(spec, build_plan(spec))
    assert monitoring is not None
    assert [c.step_name for c in monitoring.checks] == ["BaselineDataQuality", "BaselineModelQuality"]
    assert [c.schedule_expression for c in monitoring.checks] == ["cron(0 0 ? * * *)", "cron(0 3/6 ? * * *)"]
    assert monitoring.model_quality and monitoring.model_quality.instance_type == "ml.c5.xlarge"
    assert monitoring.endpoint_inference_attribute == "[0].label[0]"  # BlazingText's answer
    # A spec without monitoring and shadows has neither.
    text = re.sub(r"\nmonitoring:\n(?:  .*\n)*", "\n", (SPECS / "womens-clothing-bert.yaml").read_text())
    plain = load_spec_text(text, SPECS / "womens-clothing-bert.yaml").spec
    assert not plain.monitoring.enabled and not plain.deployment.shadow_variants
    assert monitoring_group(plain, build_plan(plain)) is None
    assert deploy_group(plain).shadows == [] and build_deployment(plain).shadows == ()


def test_the_stack_has_the_shadow_and_one_schedule_per_monitor(project):
    stack = load_cfn(project / "deploy" / "endpoint.yaml")
    resources = stack["Resources"]
    config = resources["EndpointConfig"]["Properties"]
    assert [v["VariantName"] for v in config["ProductionVariants"]] == ["Current"]
    (shadow,) = config["ShadowProductionVariants"]
    assert shadow["VariantName"] == "Shadow" and shadow["InitialVariantWeight"] == 0.25
    assert shadow["ModelName"] == {"Fn::GetAtt": ["ShadowModel", "ModelName"]}
    assert resources["ShadowModel"]["Properties"]["PrimaryContainer"] == {
        "ModelPackageName": {"Ref": "ShadowModelPackageArn"}
    }
    schedules = {
        r["Properties"]["MonitoringScheduleConfig"]["MonitoringType"]: r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::SageMaker::MonitoringSchedule"
    }
    assert sorted(schedules) == ["DataQuality", "ModelQuality"]
    quality = resources["ModelQualityJobDefinition"]["Properties"]
    assert quality["ModelQualityAppSpecification"]["ProblemType"] == "MulticlassClassification"
    assert quality["ModelQualityJobInput"]["GroundTruthS3Input"] == {"S3Uri": {"Ref": "GroundTruthS3Uri"}}
    drift = resources["DataQualityJobDefinition"]["Properties"]
    assert drift["DataQualityAppSpecification"]["RecordPreprocessorSourceUri"] == {
        "Ref": "RecordPreprocessorS3Uri"
    }
    assert drift["DataQualityAppSpecification"]["ImageUri"] == {"Ref": "MonitorImageUri"}


def test_cfn_lint_and_checkov_pass_both_templates(project):
    templates = [str(project / "deploy" / "endpoint.yaml"), str(project / TEMPLATE)]
    lint = subprocess.run([_iac_tool("cfn-lint"), *templates], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    checkov = subprocess.run(
        [_iac_tool("checkov"), "--framework", "cloudformation", "--skip-download", "--compact", "-o", "json"]
        + [arg for t in templates for arg in ("-f", t)],
        capture_output=True,
        text=True,
    )
    reports = json.loads(checkov.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = {c["check_id"] for r in reports for c in r["results"]["failed_checks"]}
    assert not failed & set(HIGH_SEVERITY) and failed <= set(ACCEPTED), failed
    passed = {c["check_id"] for r in reports for c in r["results"]["passed_checks"]}
    assert "CKV_AWS_370" in passed  # the endpoint stack's models were checked too


def test_the_studio_template_runs_the_monitors_with_a_role_of_their_own(project):
    template = load_cfn(project / TEMPLATE)
    resources = template["Resources"]
    # The deploy build gets the role and may read the package's drift-check baselines.
    deploy = resources["ModelDeployProject"]["Properties"]["Environment"]["EnvironmentVariables"]
    environment = {v["Name"]: v["Value"] for v in deploy}
    assert environment["MONITORING_ROLE_ARN"] == {"Fn::GetAtt": ["MonitoringRole", "Arn"]}
    assert _buildspec_variables(project / "deploy" / "buildspec.yml") <= set(environment)
    build = _statements(template, "ModelDeployProjectRole")
    assert any("sagemaker:DescribeModelPackage" in _actions(s) for s in build)
    # The stack role hands exactly that role to SageMaker and manages the endpoints' schedules only.
    stack = {s["Sid"]: s for s in _statements(template, "EndpointStackRole")}
    assert stack["HandMonitoringRoleToSageMaker"]["Resource"] == {"Fn::GetAtt": ["MonitoringRole", "Arn"]}
    assert stack["HandMonitoringRoleToSageMaker"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
    }
    schedules = [r["Fn::Sub"] for r in stack["MonitoringSchedules"]["Resource"]]
    assert all(":monitoring-schedule/*-${SageMakerProjectId}-" in arn for arn in schedules), schedules
    # The monitoring role: sagemaker.amazonaws.com of this account, scoped actions and resources.
    role = resources["MonitoringRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    for statement in _statements(template, "MonitoringRole"):
        assert not [a for a in _actions(statement) if "*" in a], statement
        if statement["Resource"] == "*":
            assert set(_actions(statement)) <= RESOURCELESS, statement
    writes = [s for s in _statements(template, "MonitoringRole") if "s3:PutObject" in _actions(s)]
    assert [s["Resource"] for s in writes] == [
        {"Fn::Sub": "${ArtifactBucket.Arn}/reviews-blazingtext/monitoring/*"}
    ]


@pytest.mark.parametrize(
    "tests",
    [
        ["tests/test_deploy.py", "tests/test_model_quality_labels.py", "tests/test_labeling.py"],
        ["tests/test_monitoring.py", "tests/test_pipeline_definition.py"],
    ],
    ids=["deploy-and-labeling", "pipeline"],
)
def test_the_generated_projects_own_tests_pass(project, tests):
    """Every request of the deploy build (DescribeModelPackage, PutObject, the stack's
    CreateEndpointConfig with its shadow, Create*JobDefinition, CreateMonitoringSchedule), of the labeling
    flow (InvokeEndpoint with InferenceId, DescribeMonitoringSchedule) and of the baseline steps
    (CreateProcessingJob) is checked there against botocore."""
    result = run_in_project(project, "pytest", *tests, "-q", "-p", "no:cacheprovider", timeout=900)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]


def test_the_generated_project_is_ruff_clean(project):
    for args in (["ruff", "check", "."], ["ruff", "format", "--check", "."]):
        result = run_in_project(project, *args)
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("schedule", "offset"), [("daily", "-P2D"), ("hourly", "-P1DT1H"), ("cron(0 1/6 ? * * *)", "-P1DT6H")]
)
def test_each_model_quality_job_scores_one_interval_of_its_schedule(example_text, schedule, offset):
    text = example_text().replace(
        "model_quality: {schedule: daily}", f"model_quality: {{schedule: {schedule!r}}}"
    )
    spec = load_spec_text(text).spec
    group = monitoring_group(spec, build_plan(spec))
    assert group is not None and group.model_quality is not None
    assert group.model_quality.start_time_offset == offset
