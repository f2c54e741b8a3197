"""Many projects from one Studio template: every physical name is the project's.

The template is rendered once and evaluated (parameters, !Ref, !Sub and !GetAtt resolved) for two
projects; the names the project's code takes inside each (pipelines/project_names.py, with the
CodeBuild projects' SAGEMAKER_PROJECT_NAME and SAGEMAKER_PROJECT_ID) join the template's own. No name
is shared, and each project's IAM policies reach its own names and not the other's.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from sagespec.render import generate
from sagespec.spec import load_spec

from .test_studio_template import EXAMPLE_TEAM, REPO, TEMPLATE, load_cfn

ACCOUNT, REGION = "123456789012", "us-east-1"
# Two launches of one product; the second name starts like the first and ends like a stage.
PROJECTS = [("reviews", "p-1a2b3c4d5e6f"), ("Reviews-staging", "p-9z8y7x6w5v4u")]
# Properties that name a resource in the account (a role's inline PolicyName does not).
NAME_PROPERTIES = {"BucketName", "RepositoryName", "Name", "UserPoolName", "Domain", "WorkteamName"}
NAME_KINDS_IN_CODE = ["pipeline", "model_package_group", "feature_group", "flow_definition", "task_ui",
                      "work_team", "endpoint-staging", "endpoint-prod"]  # fmt: skip
FEATURES = "feature_store:\n  offline_store_s3_uri: s3://feature-bucket/reviews-bert/feature-store\n"


# ------------------------------------------------------------------------------------ evaluation
class Evaluator:
    """CloudFormation's intrinsics for one stack: parameters and each resource's physical name."""

    def __init__(self, template: dict[str, Any], project: tuple[str, str]) -> None:
        self.template = template
        self.values = {
            "SageMakerProjectName": project[0],
            "SageMakerProjectId": project[1],
            "AWS::AccountId": ACCOUNT,
            "AWS::Region": REGION,
            "AWS::Partition": "aws",
            "AWS::NoValue": None,
        }
        for name, parameter in template["Parameters"].items():
            self.values.setdefault(name, parameter.get("Default", f"<{name}>"))

    def physical_name(self, logical_id: str) -> str:
        properties = self.template["Resources"][logical_id].get("Properties", {})
        for key in sorted(NAME_PROPERTIES & properties.keys()):
            return self.evaluate(properties[key])
        # CloudFormation names it <stack>-<logical id>-<random>: unique to the launch.
        return f"{self.values['SageMakerProjectId']}-{logical_id}"

    def ref(self, name: str) -> Any:
        return self.values[name] if name in self.values else self.physical_name(name)

    def get_att(self, logical_id: str, attribute: str) -> str:
        return f"arn:aws:{attribute.lower()}:{self.physical_name(logical_id)}"

    def substitute(self, text: str) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if "." in name and not name.startswith("AWS::"):
                return self.get_att(*name.split(".", 1))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def evaluate(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.evaluate(item) for item in node]
        if not isinstance(node, dict):
            return node
        if set(node) == {"Ref"}:
            return self.ref(node["Ref"])
        if set(node) == {"Fn::Sub"}:
            return self.substitute(node["Fn::Sub"])
        if set(node) == {"Fn::GetAtt"}:
            return self.get_att(*node["Fn::GetAtt"])
        return {key: self.evaluate(value) for key, value in node.items()}


def _import(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"project_names_{abs(hash(path))}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def physical_names(root: Path, project: tuple[str, str]) -> dict[str, str]:
    """What each physical name names -> the name, for one launch of the project's template."""
    template = load_cfn(root / TEMPLATE)
    stack = Evaluator(template, project)
    names = {}
    for logical_id, resource in template["Resources"].items():
        properties = stack.evaluate(resource.get("Properties", {}))
        for key in NAME_PROPERTIES & properties.keys():
            names[f"{logical_id}.{key}"] = properties[key]
        for stage in properties.get("Stages", []):
            for action in stage["Actions"]:
                if "StackName" in action.get("Configuration", {}):
                    names[f"{logical_id}.{action['Name']}.StackName"] = action["Configuration"]["StackName"]
        pattern = properties.get("EventPattern", {}).get("detail", {})
        for group in pattern.get("ModelPackageGroupName", []):
            names[f"{logical_id}.ModelPackageGroupName"] = group
    code = _import(root / "pipelines" / "project_names.py")
    environment = {"SAGEMAKER_PROJECT_NAME": project[0], "SAGEMAKER_PROJECT_ID": project[1]}
    for kind in NAME_KINDS_IN_CODE:
        names[f"code.{kind}"] = code.scoped(kind, f"spec-{kind}", environment)
    return names


def iam_resources(root: Path, project: tuple[str, str]) -> list[str]:
    """Every Resource of every IAM statement in one launch of the template."""
    template = load_cfn(root / TEMPLATE)
    stack = Evaluator(template, project)
    found: list[str] = []
    for resource in template["Resources"].values():
        properties = stack.evaluate(resource.get("Properties", {}))
        documents = [p["PolicyDocument"] for p in properties.get("Policies", [])]
        documents += [properties["PolicyDocument"]] if "PolicyDocument" in properties else []
        for statement in (s for document in documents for s in document["Statement"]):
            listed = statement["Resource"]
            found += listed if isinstance(listed, list) else [listed]
    return found


# ------------------------------------------------------------------------------------------ tests
@pytest.fixture(scope="module")
def projects(tmp_path_factory) -> dict[str, Path]:
    """BERT with a feature store; BlazingText with labeling by a given team, and by a team of its own."""
    out = {}
    for name, example, extra in (
        ("bert", "bert", FEATURES),
        ("blazingtext", "blazingtext", ""),
        ("cognito", "blazingtext", ""),
    ):
        folder = tmp_path_factory.mktemp(name)
        spec = folder / "spec.yaml"
        text = (REPO / "specs" / f"womens-clothing-{example}.yaml").read_text()
        if name == "cognito":
            text = text.replace(EXAMPLE_TEAM, "create: cognito")
        spec.write_text(text.replace("../data/", f"{REPO.as_posix()}/data/") + extra)
        out[name] = folder / "project"
        generate(load_spec(spec), out[name])
    return out


@pytest.mark.parametrize("name", ["bert", "blazingtext", "cognito"])
def test_two_projects_share_no_physical_name(projects, name):
    first, second = (physical_names(projects[name], project) for project in PROJECTS)
    if name == "cognito":
        # The user pool, its sign-in domain and the work team are the project's too.
        assert {
            "WorkforceUserPool.UserPoolName",
            "WorkforceUserPoolDomain.Domain",
            "WorkTeam.WorkteamName",
        } <= set(first)
        assert first["WorkTeam.WorkteamName"] == first["code.work_team"]
    assert first.keys() == second.keys()
    named = {"ModelBuildPipeline.Name", "ModelApprovedRule.ModelPackageGroupName", "code.pipeline"}
    assert named <= first.keys()
    shared = set(first.values()) & set(second.values())
    assert not shared, shared
    for value in [*first.values(), *second.values()]:
        assert "${" not in value and "<" not in value, value
        assert len(value) <= 63, value  # SageMaker's (and CodeBuild's, and S3's) name limit


@pytest.mark.parametrize("name", ["bert", "blazingtext"])
def test_the_approval_rule_listens_to_the_group_the_pipeline_registers_into(projects, name):
    names = physical_names(projects[name], PROJECTS[0])
    assert names["ModelApprovedRule.ModelPackageGroupName"] == names["code.model_package_group"]
    assert names["code.model_package_group"] == "reviews-p-1a2b3c4d5e6f"


def _arn(kind: str, name: str) -> str:
    # SageMaker writes names lower-case in ARNs.
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:{kind}/{name.lower()}"


def test_iam_reaches_the_projects_own_names_only(projects):
    root = projects["bert"]
    own, other = (physical_names(root, project) for project in PROJECTS)
    # "*" is for actions that take no resource (test_studio_template.RESOURCELESS).
    patterns = [p for p in iam_resources(root, PROJECTS[0]) if p != "*"]
    arns = {
        "pipeline": ("pipeline", "code.pipeline"),
        "model_package_group": ("model-package-group", "code.model_package_group"),
        "feature_group": ("feature-group", "code.feature_group"),
        "endpoint-staging": ("endpoint", "code.endpoint-staging"),
        "endpoint-prod": ("endpoint", "code.endpoint-prod"),
    }
    for what, (kind, key) in arns.items():
        assert any(fnmatch.fnmatchcase(_arn(kind, own[key]), p) for p in patterns), what
        assert not any(fnmatch.fnmatchcase(_arn(kind, other[key]), p) for p in patterns), what
    job = _arn("training-job", f"{own['code.pipeline']}-train-2026")
    assert any(fnmatch.fnmatchcase(job, p) for p in patterns)


def test_outside_a_project_the_spec_names_stay(projects):
    code = _import(projects["blazingtext"] / "pipelines" / "project_names.py")
    assert code.scoped("pipeline", "ReviewsPipeline", {}) == "ReviewsPipeline"
    assert code.scoped("pipeline", "ReviewsPipeline", {"SAGEMAKER_PROJECT_NAME": "x"}) == "ReviewsPipeline"
    inside = {"SAGEMAKER_PROJECT_NAME": "team", "SAGEMAKER_PROJECT_ID": "p-0123456789ab"}
    assert code.scoped("endpoint-staging", "reviews-staging", inside) == "team-p-0123456789ab-staging"


# Kind of name in code -> the SageMaker request that takes it (botocore's model has each one's pattern).
NAME_REQUESTS = {
    "pipeline": ("CreatePipeline", "PipelineName"),
    "model_package_group": ("CreateModelPackageGroup", "ModelPackageGroupName"),
    "feature_group": ("CreateFeatureGroup", "FeatureGroupName"),
    "flow_definition": ("CreateFlowDefinition", "FlowDefinitionName"),
    "task_ui": ("CreateHumanTaskUi", "HumanTaskUiName"),
    "work_team": ("CreateWorkteam", "WorkteamName"),
    "endpoint-staging": ("CreateEndpoint", "EndpointName"),
    "endpoint-prod": ("CreateEndpoint", "EndpointName"),
}


@pytest.mark.parametrize("project", PROJECTS)
def test_every_name_in_code_is_one_sagemaker_accepts(projects, project):
    """Shape validation does not check patterns: A2I's names are lower-case only, project names are not."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    names = physical_names(projects["cognito"], project)
    assert NAME_REQUESTS.keys() == set(NAME_KINDS_IN_CODE)
    for kind, (operation, member) in NAME_REQUESTS.items():
        shape = model.operation_model(operation).input_shape.members[member]
        name = names[f"code.{kind}"]
        assert re.fullmatch(shape.metadata["pattern"], name), (kind, name)
        assert len(name) <= shape.metadata["max"], (kind, name)


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_feature_store_may_write_the_offline_store_as_the_pipeline_role(projects):
    """CreateFeatureGroup's RoleArn is the pipeline role (feature_store.py): Feature Store writes the
    offline store's files and updates its Glue table as that role (AmazonSageMakerFeatureStoreAccess)."""
    template = load_cfn(projects["bert"] / TEMPLATE)
    role = Evaluator(template, PROJECTS[0]).evaluate(
        template["Resources"]["SageMakerPipelineRole"]["Properties"]
    )
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]

    def allowed(action: str, arn: str) -> bool:
        return any(
            action in _listed(s["Action"])
            and any(fnmatch.fnmatchcase(arn, r) for r in _listed(s["Resource"]))
            for s in statements
        )

    store = "arn:aws:s3:::feature-bucket/reviews-bert/feature-store"
    written = f"{store}/{ACCOUNT}/sagemaker/{REGION}/offline-store/g-1/data/year=2026/part.parquet"
    assert allowed("s3:PutObject", written) and allowed("s3:PutObjectAcl", written)
    assert allowed("s3:GetObject", f"{store}/{ACCOUNT}/sagemaker/{REGION}/offline-store/g-1/metadata/m")
    assert allowed("s3:GetBucketAcl", "arn:aws:s3:::feature-bucket")
    assert not allowed("s3:PutObject", "arn:aws:s3:::feature-bucket/elsewhere/file")
    table = f"arn:aws:glue:{REGION}:{ACCOUNT}:table/sagemaker_featurestore/g_1"
    assert allowed("glue:GetTable", table) and allowed("glue:UpdateTable", table)
