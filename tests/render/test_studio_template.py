"""The SageMaker Studio project template (studio/project-template.yaml): what it wires together, that it
matches the buildspecs it runs, that cfn-lint finds nothing, and that checkov finds no high-severity
problem. cfn-lint and checkov come from .venv-iac (or $SAGESPEC_IAC_BIN); without them those two tests
skip."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.nodes import MappingNode, ScalarNode

from sagespec.render import generate
from sagespec.render.context_studio import studio_group
from sagespec.spec import load_spec, load_spec_text

REPO = Path(__file__).resolve().parents[2]
IAC_BIN = Path(os.environ.get("SAGESPEC_IAC_BIN", REPO / ".venv-iac" / "bin"))
TEMPLATE = "studio/project-template.yaml"

# checkov's checks this template must never fail (its severities need a Prisma Cloud key, so the set is
# ours): encryption, public access, world- or cross-account-assumable roles, admin or unconstrained
# IAM (write, permissions management, privilege escalation, data exfiltration, credentials exposure).
HIGH_SEVERITY = {
    "CKV_AWS_19": "S3 bucket without server-side encryption",
    "CKV_AWS_20": "S3 bucket readable by everyone",
    "CKV_AWS_57": "S3 bucket writable by everyone",
    "CKV_AWS_53": "S3 bucket without BlockPublicAcls",
    "CKV_AWS_54": "S3 bucket without BlockPublicPolicy",
    "CKV_AWS_55": "S3 bucket without IgnorePublicAcls",
    "CKV_AWS_56": "S3 bucket without RestrictPublicBuckets",
    "CKV_AWS_70": "S3 bucket policy allowing everyone",
    "CKV_AWS_60": "IAM role assumable by anyone",
    "CKV_AWS_61": "IAM role assumable across accounts",
    "CKV_AWS_1": "IAM policy granting *:*",
    "CKV_AWS_62": "IAM role policy granting *:*",
    "CKV_AWS_63": "IAM policy with Action *",
    "CKV_AWS_107": "IAM credentials exposure",
    "CKV_AWS_108": "IAM data exfiltration",
    "CKV_AWS_109": "IAM permissions management without constraints",
    "CKV_AWS_110": "IAM privilege escalation",
    "CKV_AWS_111": "IAM write access without constraints",
    "CKV_AWS_40": "IAM policy attached to users",
    "CKV_AWS_78": "CodeBuild project artifacts not encrypted",
}
# Failures we accept, and why; anything failing outside both sets fails the test until it is judged.
ACCEPTED = {
    # Access logs need a second bucket, itself unlogged; CloudTrail data events are the audit trail
    # a team turns on account-wide.
    "CKV_AWS_18": "S3 access logging",
}

# The example's labeling takes an existing work team; "cognito" has the template create one.
EXAMPLE_TEAM = "work_team_arn: arn:aws:sagemaker:us-east-1:111122223333:workteam/private-crowd/reviewers"
SPEC_VARIANTS = {
    "codecommit": "studio:\n  repository: codecommit\n",
    "cognito": "",
    "connection": (
        "studio:\n  connection_arn: arn:aws:codeconnections:us-east-1:123456789012:connection/"
        "0a1b2c3d-aaaa-bbbb-cccc-123456789012\n  repository_id: acme/reviews\n"
    ),
}


# --------------------------------------------------------------------------- reading CloudFormation
class _CfnConstructor(SafeConstructor):
    """Short-form intrinsics (!Ref X, !Sub s, !GetAtt R.A) as their long form ({"Ref": "X"}, ...)."""


def _intrinsic(constructor: SafeConstructor, suffix: str, node: Any) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, ScalarNode):
        value: Any = constructor.construct_scalar(node)
        if name == "Fn::GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, MappingNode):
        value = constructor.construct_mapping(node, deep=True)
    else:
        value = constructor.construct_sequence(node, deep=True)
    return {name: value}


_CfnConstructor.add_multi_constructor("!", _intrinsic)


def load_cfn(path: Path) -> dict[str, Any]:
    yaml = YAML(typ="safe", pure=True)
    yaml.Constructor = _CfnConstructor
    return yaml.load(path.read_text())


# ----------------------------------------------------------------------------------------- projects
@pytest.fixture(scope="module")
def projects(tmp_path_factory) -> dict[str, Path]:
    """'bert' and 'blazingtext' (the example specs), and blazingtext variants (SPEC_VARIANTS)."""
    out: dict[str, Path] = {}
    for spec in sorted((REPO / "specs").glob("*.yaml")):
        loaded = load_spec(spec)
        out[loaded.spec.model.type] = tmp_path_factory.mktemp(loaded.spec.model.type) / "project"
        generate(loaded, out[loaded.spec.model.type])
    example = (REPO / "specs" / "womens-clothing-blazingtext.yaml").read_text()
    for name, extra in SPEC_VARIANTS.items():
        folder = tmp_path_factory.mktemp(name)
        spec = folder / "spec.yaml"
        text = example.replace("../data/", f"{REPO.as_posix()}/data/")
        if name == "cognito":
            text = text.replace(EXAMPLE_TEAM, "create: cognito")
        spec.write_text(text + extra)
        out[name] = folder / "project"
        generate(load_spec(spec), out[name])
    # The BERT example with Debugger rules, one of which stops training.
    folder = tmp_path_factory.mktemp("debugger")
    bert = (
        (REPO / "specs" / "womens-clothing-bert.yaml")
        .read_text()
        .replace("../data/", f"{REPO.as_posix()}/data/")
    )
    debugger = (
        "  debugger:\n"
        "    rules: {LossNotDecreasing: {}, Overtraining: {}}\n"
        "    stop_training_on: [Overtraining]\n"
    )
    assert bert.count("\n\nevaluation:\n") == 1
    (folder / "spec.yaml").write_text(bert.replace("\n\nevaluation:\n", f"\n{debugger}\nevaluation:\n"))
    out["debugger"] = folder / "project"
    generate(load_spec(folder / "spec.yaml"), out["debugger"])
    return out


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def _buildspec_variables(path: Path) -> set[str]:
    """Variables a buildspec reads but neither defines nor exports itself."""
    buildspec = YAML(typ="safe", pure=True).load(path.read_text())
    commands = json.dumps(buildspec["phases"])
    used = set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", commands))
    exported = set(re.findall(r"export ([A-Z][A-Z0-9_]*)=", commands))
    return used - exported - set(buildspec.get("env", {}).get("variables", {}))


def _environment(project: dict[str, Any]) -> set[str]:
    return {v["Name"] for v in project["Properties"]["Environment"]["EnvironmentVariables"]}


# ------------------------------------------------------------------------------------------- wiring
UNTAGGABLE = {
    "AWS::S3::BucketPolicy",
    "AWS::IAM::Policy",
    "AWS::Cognito::UserPoolClient",
    "AWS::Cognito::UserPoolDomain",
    "AWS::Cognito::UserPoolGroup",
}


@pytest.mark.parametrize("name", ["bert", "blazingtext", "codecommit", "connection", "cognito"])
def test_project_parameters_bucket_and_tags(projects, name):
    template = load_cfn(projects[name] / TEMPLATE)
    parameters = template["Parameters"]
    assert parameters["SageMakerProjectName"]["MaxLength"] == 32
    assert parameters["SageMakerProjectName"]["AllowedPattern"] == "^[a-zA-Z](-*[a-zA-Z0-9])*"
    assert parameters["SageMakerProjectId"]["Type"] == "String"

    bucket = template["Resources"]["ArtifactBucket"]["Properties"]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert (
        all(bucket["PublicAccessBlockConfiguration"].values())
        and len(bucket["PublicAccessBlockConfiguration"]) == 4
    )
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    (deny,) = template["Resources"]["ArtifactBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": False}}

    for resource_name, resource in template["Resources"].items():
        if resource["Type"] in UNTAGGABLE:
            continue
        if resource["Type"] == "AWS::Cognito::UserPool":
            tags = resource["Properties"]["UserPoolTags"]
        else:
            tags = {t["Key"]: t["Value"] for t in resource["Properties"]["Tags"]}
        assert tags["sagemaker:project-name"] == {"Ref": "SageMakerProjectName"}, resource_name
        assert tags["sagemaker:project-id"] == {"Ref": "SageMakerProjectId"}, resource_name


@pytest.mark.parametrize("name", ["bert", "blazingtext", "codecommit"])
def test_build_projects_give_the_buildspecs_what_they_read(projects, name):
    root = projects[name]
    template = load_cfn(root / TEMPLATE)
    build = template["Resources"]["ModelBuildProject"]
    assert build["Properties"]["Source"]["BuildSpec"] == "codebuild-buildspec.yml"
    needed = _buildspec_variables(root / "codebuild-buildspec.yml")
    assert needed == {
        "SAGEMAKER_PROJECT_NAME",
        "SAGEMAKER_PROJECT_ID",
        "ARTIFACT_BUCKET",
        "SAGEMAKER_PIPELINE_ROLE_ARN",
        "AWS_REGION",
    }
    assert needed <= _environment(build)

    deploy = template["Resources"]["ModelDeployProject"]
    assert deploy["Properties"]["Source"]["BuildSpec"] == "deploy/buildspec.yml"
    assert _buildspec_variables(root / "deploy/buildspec.yml") <= _environment(deploy)

    smoke = template["Resources"]["StagingTestProject"]
    assert smoke["Properties"]["Source"]["BuildSpec"] == "deploy/smoke-buildspec.yml"
    assert _buildspec_variables(root / "deploy/smoke-buildspec.yml") <= _environment(smoke)
    # The endpoint's name is the project's: the script needs both variables.
    assert {"SAGEMAKER_PROJECT_NAME", "SAGEMAKER_PROJECT_ID"} <= _environment(smoke)


@pytest.mark.parametrize("name", ["bert", "blazingtext"])
def test_an_approved_model_starts_staging_then_approval_then_prod(projects, name):
    root = projects[name]
    template = load_cfn(root / TEMPLATE)
    rule = template["Resources"]["ModelApprovedRule"]["Properties"]
    group = {"Fn::Sub": "${SageMakerProjectName}-${SageMakerProjectId}"}  # the project's own group
    assert rule["EventPattern"] == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Package State Change"],
        "detail": {"ModelPackageGroupName": [group], "ModelApprovalStatus": ["Approved"]},
    }
    (target,) = rule["Targets"]
    assert "${ModelDeployPipeline}" in target["Arn"]["Fn::Sub"]

    stages = template["Resources"]["ModelDeployPipeline"]["Properties"]["Stages"]
    assert [s["Name"] for s in stages] == [
        "Source",
        "Build",
        "DeployStaging",
        "TestStaging",
        "ApproveDeployment",
        "DeployProd",
    ]
    (smoke,) = stages[3]["Actions"]
    assert (smoke["ActionTypeId"]["Category"], smoke["ActionTypeId"]["Provider"]) == ("Test", "CodeBuild")
    assert smoke["Configuration"]["ProjectName"] == {"Ref": "StagingTestProject"}
    assert smoke["InputArtifacts"] == [{"Name": "SourceArtifact"}]  # the repository: script and data
    assert stages[4]["Actions"][0]["ActionTypeId"]["Provider"] == "Manual"
    deploy_buildspec = YAML(typ="safe", pure=True).load((root / "deploy/buildspec.yml").read_text())
    built = set(deploy_buildspec["artifacts"]["files"])
    for stage, name_ in (("staging", "DeployStaging"), ("prod", "DeployProd")):
        (action,) = next(s for s in stages if s["Name"] == name_)["Actions"]
        config = action["Configuration"]
        assert action["ActionTypeId"]["Provider"] == "CloudFormation"
        assert config["TemplatePath"] == "BuildArtifact::endpoint.yaml"
        assert config["TemplateConfiguration"] == f"BuildArtifact::{stage}-config-export.json"
        assert {"endpoint.yaml", f"{stage}-config-export.json"} <= built
        assert config["StackName"]["Fn::Sub"].endswith(f"-deploy-{stage}")
    # The deploy source does not redeploy on every push; only an approval (or a person) starts it.
    assert stages[0]["Actions"][0]["Configuration"]["DetectChanges"] is False


def test_codecommit_variant_seeds_a_repository_and_builds_on_push(projects):
    template = load_cfn(projects["codecommit"] / TEMPLATE)
    assert "ConnectionArn" not in template["Parameters"]
    repository = template["Resources"]["ModelBuildRepository"]["Properties"]
    assert repository["Code"]["S3"] == {"Bucket": {"Ref": "SeedCodeBucket"}, "Key": {"Ref": "SeedCodeKey"}}
    source = template["Resources"]["ModelBuildPipeline"]["Properties"]["Stages"][0]["Actions"][0]
    assert source["ActionTypeId"]["Provider"] == "CodeCommit"
    assert source["Configuration"]["PollForSourceChanges"] is False
    push = template["Resources"]["RepositoryChangedRule"]["Properties"]
    assert push["EventPattern"]["detail"]["referenceName"] == ["main"]
    assert "${ModelBuildPipeline}" in push["Targets"][0]["Arn"]["Fn::Sub"]


def test_codeconnections_takes_the_spec_defaults(projects):
    template = load_cfn(projects["connection"] / TEMPLATE)
    assert template["Parameters"]["FullRepositoryId"]["Default"] == "acme/reviews"
    assert template["Parameters"]["ConnectionArn"]["Default"].startswith("arn:aws:codeconnections:")
    assert "Default" not in load_cfn(projects["blazingtext"] / TEMPLATE)["Parameters"]["ConnectionArn"]
    source = template["Resources"]["ModelBuildPipeline"]["Properties"]["Stages"][0]["Actions"][0]
    assert source["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    assert source["Configuration"]["ConnectionArn"] == {"Ref": "ConnectionArn"}
    assert "SeedCodeKey" not in template["Parameters"] and "ModelBuildRepository" not in template["Resources"]


def test_without_deployment_there_is_no_deploy_pipeline(tmp_path):
    example = (REPO / "specs" / "womens-clothing-bert.yaml").read_text()
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        example.replace("../data/", f"{REPO.as_posix()}/data/").replace(
            "\ndeployment:\n", "\ndeployment:\n  enabled: false\n"
        )
    )
    generate(load_spec(spec), tmp_path / "project")
    resources = load_cfn(tmp_path / "project" / TEMPLATE)["Resources"]
    assert "ModelDeployPipeline" not in resources and "ModelApprovedRule" not in resources
    assert "StartPipelineRole" not in resources  # GitHub pushes start the build through the connection


# Actions that take no resource (or none narrower than the account), allowed on "*".
RESOURCELESS = {
    "ecr:GetAuthorizationToken",
    "cloudwatch:PutMetricData",
    "sagemaker:ListModelPackages",
    "sagemaker:ListTrainingJobs",
    "cloudformation:ValidateTemplate",
    "application-autoscaling:DescribeScalableTargets",
    "application-autoscaling:DescribeScalingPolicies",
}


@pytest.mark.parametrize("name", ["blazingtext", "codecommit", "autopilot", "debugger"])
def test_iam_is_scoped(projects, name):
    template = load_cfn(projects[name] / TEMPLATE)
    policies = [
        p["PolicyDocument"]
        for r in _resources(template, "AWS::IAM::Role").values()
        for p in r["Properties"]["Policies"]
    ] + [r["Properties"]["PolicyDocument"] for r in _resources(template, "AWS::IAM::Policy").values()]
    for statement in (s for policy in policies for s in policy["Statement"]):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not [a for a in actions if "*" in a], statement
        if statement["Resource"] == "*":
            assert set(actions) <= RESOURCELESS, statement
        if "iam:PassRole" in actions:
            assert "iam:PassedToService" in statement["Condition"]["StringEquals"], statement
    for role in _resources(template, "AWS::IAM::Role").values():
        (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert set(trust["Principal"]) == {"Service"}
        assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


# ------------------------------------------------------------------------------------------ linters
# The connection variant differs from blazingtext only in parameter defaults: four templates cover
# every branch the linters care about (CodeCommit, deployment features, BERT's checkpoint bucket, the
# Cognito workforce, Autopilot's jobs).
LINTED = ["bert", "blazingtext", "codecommit", "cognito", "autopilot", "debugger"]


@pytest.fixture(scope="module")
def linters(projects) -> dict[str, subprocess.CompletedProcess[str]]:
    """cfn-lint and checkov over the LINTED templates, run side by side (each takes seconds)."""
    tools = {name: IAC_BIN / name for name in ("cfn-lint", "checkov")}
    missing = [str(path) for path in tools.values() if not path.exists()]
    if missing:
        pytest.skip(f"missing {', '.join(missing)} (create .venv-iac with cfn-lint and checkov)")
    files = [str(projects[name] / TEMPLATE) for name in LINTED]
    commands = {
        "cfn-lint": [tools["cfn-lint"], *files],
        "checkov": [
            tools["checkov"],
            *[arg for f in files for arg in ("-f", f)],
            "--framework",
            "cloudformation",
            "--skip-download",  # offline: no severities, no guideline links
            "-o",
            "json",
        ],
    }
    running = {
        name: subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name, command in commands.items()
    }
    results = {}
    for name, process in running.items():
        out, err = process.communicate(timeout=300)
        results[name] = subprocess.CompletedProcess(commands[name], process.returncode, out, err)
    return results


def test_cfn_lint_finds_nothing(linters):
    result = linters["cfn-lint"]
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_finds_no_high_severity_problem(linters):
    reports = json.loads(linters["checkov"].stdout)
    reports = reports if isinstance(reports, list) else [reports]
    assert reports[0]["summary"]["parsing_errors"] == 0
    failed = {check["check_id"] for report in reports for check in report["results"]["failed_checks"]}
    assert not failed & set(HIGH_SEVERITY), {c: HIGH_SEVERITY[c] for c in failed & set(HIGH_SEVERITY)}
    assert failed <= set(ACCEPTED), f"judge these checkov findings: {sorted(failed - set(ACCEPTED))}"
    passed = {check["check_id"] for report in reports for check in report["results"]["passed_checks"]}
    assert {"CKV_AWS_19", "CKV_AWS_53", "CKV_AWS_111", "CKV_AWS_110"} <= passed  # the checks did run


def test_context_names_what_iam_scopes_to():
    text = (REPO / "specs" / "womens-clothing-bert.yaml").read_text()
    capture = "  data_capture: {enabled: true, destination: 's3://capture/x/'}\n"
    spec = load_spec_text(text.replace("\ndeployment:\n", "\ndeployment:\n" + capture)).spec
    studio = studio_group(spec)
    # SageMaker lower-cases names in ARNs: policies match the project's names by their lower-case end.
    assert studio.arn_names["pipeline"] == "*-${SageMakerProjectId}"
    assert studio.names["model_package_group"] == "${SageMakerProjectName}-${SageMakerProjectId}"
    assert studio.endpoint_arn_names == ["*-${SageMakerProjectId}-staging", "*-${SageMakerProjectId}-prod"]
    assert studio.data_capture_objects == "arn:${AWS::Partition}:s3:::capture/x/*"
    assert (
        studio.input_data_sub
        == "s3://${ArtifactBucket}/reviews-bert/data/womens_clothing_ecommerce_reviews.csv"
    )


def test_a_cognito_workforce_is_created_for_the_team(projects):
    resources = load_cfn(projects["cognito"] / TEMPLATE)["Resources"]
    (member,) = resources["WorkTeam"]["Properties"]["MemberDefinitions"]
    assert member["CognitoMemberDefinition"] == {
        "CognitoUserPool": {"Ref": "WorkforceUserPool"},
        "CognitoClientId": {"Ref": "WorkforceUserPoolClient"},
        "CognitoUserGroup": {"Ref": "WorkforceUserGroup"},
    }
    pool = resources["WorkforceUserPool"]["Properties"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True  # by invitation only
    assert resources["WorkforceUserPoolClient"]["Properties"]["GenerateSecret"] is True  # SageMaker needs one
    assert resources["WorkforceUserPoolDomain"]["Properties"]["Domain"] == {
        "Fn::Sub": "labeling-${SageMakerProjectId}"  # lower-case, unique in the region
    }
    # The flow definition and Ground Truth find the team by the name labeling/settings.py gives it.
    assert resources["WorkTeam"]["Properties"]["WorkteamName"] == {
        "Fn::Sub": "${SageMakerProjectName}-${SageMakerProjectId}-reviewers"
    }
    assert "WorkTeam" not in load_cfn(projects["blazingtext"] / TEMPLATE)["Resources"]  # an existing team


# owner/name on GitHub and Bitbucket; group/subgroup/project on GitLab.
@pytest.mark.parametrize("repository", ["acme/reviews", "acme-ml/ml.platform/reviews_model"])
def test_codeconnections_take_github_gitlab_and_bitbucket_repositories(projects, repository):
    parameter = load_cfn(projects["blazingtext"] / TEMPLATE)["Parameters"]["FullRepositoryId"]
    assert re.fullmatch(parameter["AllowedPattern"], repository)
    assert "GitLab" in parameter["Description"]
    text = (REPO / "specs" / "womens-clothing-blazingtext.yaml").read_text()
    spec = load_spec_text(text + f"studio:\n  repository_id: {repository}\n").spec
    assert spec.studio.repository_id == repository


def _pipeline_role_allows(template: dict[str, Any], action: str, arn: str) -> bool:
    """Whether the pipeline role's inline policies allow ``action`` on ``arn`` (in us-east-1, account 1)."""
    values = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "111122223333"}
    role = template["Resources"]["SageMakerPipelineRole"]["Properties"]
    for s in (s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]):
        actions, resources = (v if isinstance(v, list) else [v] for v in (s["Action"], s["Resource"]))
        patterns = [
            re.sub(r"\$\{([^}]+)\}", lambda m: values.get(m.group(1), m.group(0)), r.get("Fn::Sub", ""))
            for r in resources
            if isinstance(r, dict)
        ]
        if action in actions and any(fnmatch.fnmatchcase(arn, pattern) for pattern in patterns):
            return True
    return False


def test_the_pipeline_role_may_run_autopilot_and_its_jobs(projects):
    """model.type autopilot: the AutoML step, Autopilot's own jobs (run as the role the request passes,
    named after the AutoML job, which Pipelines names pipelines-<...>), CreateBestModel and
    PredictTestSplit; only pipeline-named resources, and only in an Autopilot project."""
    template = load_cfn(projects["autopilot"] / TEMPLATE)
    arn = "arn:aws:sagemaker:us-east-1:111122223333:"
    automl_job = "pipelines-1a2b3c4d5e6f-automl"  # AutoMLJobName: at most 32 characters
    assert len(automl_job) <= 32
    for action, resource in [
        ("sagemaker:CreateAutoMLJob", f"automl-job/{automl_job}"),
        ("sagemaker:DescribeAutoMLJob", f"automl-job/{automl_job}"),
        ("sagemaker:ListCandidatesForAutoMLJob", f"automl-job/{automl_job}"),
        ("sagemaker:StopAutoMLJob", f"automl-job/{automl_job}"),
        ("sagemaker:CreateProcessingJob", f"processing-job/{automl_job}-db-1-0123abc"),
        ("sagemaker:CreateTrainingJob", f"training-job/{automl_job}-t1-1-0123abc"),
        ("sagemaker:CreateTransformJob", f"transform-job/{automl_job}-dpp0-csv-1-0123"),
        ("sagemaker:CreateModel", "model/pipelines-1a2b3c4d5e6f-createbestmodel-cr-x1y2z3"),
        ("sagemaker:CreateTransformJob", "transform-job/pipelines-1a2b3c4d5e6f-predicttestsplit-x1y2"),
        ("sagemaker:DescribeTransformJob", "transform-job/pipelines-1a2b3c4d5e6f-predicttestsplit-x1y2"),
    ]:
        assert _pipeline_role_allows(template, action, arn + resource), (action, resource)
    assert not _pipeline_role_allows(template, "sagemaker:CreateAutoMLJob", arn + "automl-job/other-team")
    assert not _pipeline_role_allows(template, "sagemaker:CreateModel", arn + "model/other-team-model")
    other = load_cfn(projects["blazingtext"] / TEMPLATE)
    assert not _pipeline_role_allows(other, "sagemaker:CreateAutoMLJob", arn + f"automl-job/{automl_job}")


def _pipeline_role_statements(template: dict[str, Any], action: str) -> list[dict[str, Any]]:
    role = template["Resources"]["SageMakerPipelineRole"]["Properties"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    return [
        s for s in statements if action in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]


def test_a_rule_that_stops_training_may_list_the_training_jobs(projects):
    """model.debugger.stop_training_on: smdebug's StopTrainingAction, in the rule's job as the pipeline
    role, finds the job to stop with ListTrainingJobs (NameContains=pipelines-<execution id>) and then
    stops it; without the listing it gives up and stops nothing. Only such projects get the permission."""
    template = load_cfn(projects["debugger"] / TEMPLATE)
    (listing,) = _pipeline_role_statements(template, "sagemaker:ListTrainingJobs")
    assert listing["Effect"] == "Allow" and listing["Resource"] == "*"  # List* takes no resource
    arn = "arn:aws:sagemaker:us-east-1:111122223333:training-job/pipelines-1a2b3c4d5e6f-trainmodel-x1y2z3"
    assert _pipeline_role_allows(template, "sagemaker:StopTrainingJob", arn)
    for name in ("bert", "blazingtext"):
        assert not _pipeline_role_statements(
            load_cfn(projects[name] / TEMPLATE), "sagemaker:ListTrainingJobs"
        )
