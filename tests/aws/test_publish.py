"""`sagespec studio publish` against moto: what it creates, that running it again changes nothing, that
a changed template (and only that) adds a product version, and that every request is checked."""

from __future__ import annotations

import io
import json
import zipfile

import boto3
import pytest
from ruamel.yaml import YAML

from sagespec.aws.publish import PublishRequest, publish
from sagespec.aws.requests import request_problems, validate_requests
from sagespec.cli import main
from sagespec.errors import InvalidRequestError, PublishError
from sagespec.render import generate
from sagespec.spec import load_spec

BUCKET = "team-templates"
LAUNCH_ROLE = "arn:aws:iam::123456789012:role/SageMakerProjectsLaunchRole"
STUDIO_ROLES = (
    "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole-DataScience",
    "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole-MLOps",
)


def request(project, **overrides) -> PublishRequest:
    fields = {
        "project": project,
        "bucket": BUCKET,
        "portfolio": "ML project templates",
        "launch_role_arn": LAUNCH_ROLE,
        "principal_arns": STUDIO_ROLES,
    }
    return PublishRequest(**(fields | overrides))


def catalog_state(aws) -> dict:
    client = aws.session.client("servicecatalog")
    portfolios = client.list_portfolios()["PortfolioDetails"]
    products = list(aws.catalog.backend.products.values())
    return {
        "portfolios": [p["DisplayName"] for p in portfolios],
        "products": [p.name for p in products],
        "versions": [
            (a["Name"], a["Guidance"]) for p in products for a in aws.catalog.artifacts.get(p.id, [])
        ],
        "constraints": [json.loads(c["Parameters"])["RoleArn"] for c in aws.catalog.constraints.values()],
        "principals": {p: [x["PrincipalARN"] for x in v] for p, v in aws.catalog.principals.items()},
        "associations": len(aws.catalog.associations),
    }


def test_publish_creates_everything_and_a_second_run_changes_nothing(aws, project_factory):
    project = project_factory("codecommit")
    first = publish(request(project), aws.session)

    state = catalog_state(aws)
    assert state["portfolios"] == ["ML project templates"]
    assert state["products"] == ["reviews-studio"]  # the spec's slug
    assert state["versions"] == [("v1", "DEFAULT")]
    assert state["constraints"] == [LAUNCH_ROLE]
    assert state["principals"] == {first.portfolio_id: list(STUDIO_ROLES)}
    assert state["associations"] == 1
    product = aws.catalog.backend.products[first.product_id]
    assert {"Key": "sagemaker:studio-visibility", "Value": "true"} in product.tags
    assert product.product_type == "CLOUD_FORMATION_TEMPLATE"
    keys = aws.s3_keys()
    assert len(keys) == 2 and first.template_url.endswith(keys[0]) and first.seed_url.endswith(keys[1])
    assert product.provisioning_artifact_parameters["Info"]["LoadTemplateFromURL"] == first.template_url
    assert first.template_url.startswith(f"https://{BUCKET}.s3.us-east-1.amazonaws.com/")

    writes_before = len(aws.catalog.writes())
    second = publish(request(project), aws.session)
    assert aws.catalog.writes()[writes_before:] == []
    assert catalog_state(aws) == state and aws.s3_keys() == keys
    assert (second.portfolio_id, second.product_id, second.artifact_id) == (
        first.portfolio_id,
        first.product_id,
        first.artifact_id,
    )
    assert "template unchanged: version v1 is current" in second.log


def test_a_changed_template_adds_a_version_and_deprecates_the_old_one(aws, project_factory):
    project = project_factory("codecommit")
    first = publish(request(project), aws.session)
    template = project / "studio/project-template.yaml"
    template.write_text(template.read_text().replace("TimeoutInMinutes: 60", "TimeoutInMinutes: 90"))

    second = publish(request(project), aws.session)
    state = catalog_state(aws)
    assert state["versions"] == [("v1", "DEPRECATED"), ("v2", "DEFAULT")]
    assert (state["portfolios"], state["products"], state["associations"]) == (
        ["ML project templates"],
        ["reviews-studio"],
        1,
    )
    assert second.artifact_name == "v2" and second.artifact_id != first.artifact_id
    assert second.template_url != first.template_url
    # The seed holds the template too: a new seed for new projects, the old one kept for the old version.
    assert second.seed_url != first.seed_url and len(aws.s3_keys()) == 4

    publish(request(project), aws.session)
    assert catalog_state(aws)["versions"] == [("v1", "DEPRECATED"), ("v2", "DEFAULT")]


def test_code_changes_alone_add_no_version_of_a_codeconnections_template(aws, project_factory):
    project = project_factory("codeconnections")
    publish(request(project), aws.session)
    (project / "README.md").write_text("Edited by the team.\n")  # their code lives in GitHub, not here
    result = publish(request(project), aws.session)
    assert catalog_state(aws)["versions"] == [("v1", "DEFAULT")] and result.artifact_name == "v1"


def test_a_new_launch_role_and_principal_update_what_exists(aws, project_factory):
    project = project_factory("codeconnections")
    publish(request(project), aws.session)
    new_role = "arn:aws:iam::123456789012:role/OtherLaunchRole"
    extra = "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole-Interns"
    result = publish(request(project, launch_role_arn=new_role, principal_arns=(extra,)), aws.session)
    state = catalog_state(aws)
    assert state["constraints"] == [new_role]
    assert state["principals"][result.portfolio_id] == [*STUDIO_ROLES, extra]  # nobody loses access
    assert state["versions"] == [("v1", "DEFAULT")]


def test_codecommit_seed_is_the_repository_without_local_state(aws, project_factory):
    project = project_factory("codecommit")
    for junk in (".sagespec-runs/run-1/model.bin", ".venv/bin/python", "pipelines/__pycache__/x.pyc"):
        (project / junk).parent.mkdir(parents=True, exist_ok=True)
        (project / junk).write_text("local state")
    result = publish(request(project), aws.session)

    seed_key = result.seed_url.removeprefix(f"s3://{BUCKET}/")
    names = zipfile.ZipFile(io.BytesIO(aws.s3_body(seed_key))).namelist()
    assert {"spec.yaml", "codebuild-buildspec.yml", "studio/project-template.yaml", ".gitignore"} <= set(
        names
    )
    assert "pipelines/reviews_studio/pipeline.py" in names
    assert not [n for n in names if n.startswith((".sagespec-runs/", ".venv/")) or "__pycache__" in n]

    # The uploaded template points at that seed; the file in the project is left as generated.
    template_key = result.template_url.split(".amazonaws.com/", 1)[1]
    uploaded = YAML().load(aws.s3_body(template_key))
    assert uploaded["Parameters"]["SeedCodeBucket"]["Default"] == BUCKET
    assert uploaded["Parameters"]["SeedCodeKey"]["Default"] == seed_key
    assert (
        str(uploaded["Resources"]["ModelBuildRepository"]["Properties"]["Code"]["S3"]["Key"]) == "SeedCodeKey"
    )
    assert "Default" not in YAML().load(project / "studio/project-template.yaml")["Parameters"]["SeedCodeKey"]


def test_codeconnections_template_needs_no_seed(aws, project_factory):
    result = publish(request(project_factory("codeconnections")), aws.session)
    assert result.seed_url is None and len(aws.s3_keys()) == 1


def test_every_request_is_checked_before_it_is_sent(aws, project_factory):
    project = project_factory("codeconnections")
    # moto would store a 101-character portfolio name; the service refuses it, and so does sagespec.
    with pytest.raises(InvalidRequestError, match="DisplayName: 101 characters, at most 100"):
        publish(request(project, portfolio="p" * 101), aws.session)
    assert aws.catalog.writes() == []
    with pytest.raises(InvalidRequestError, match="not one of IAM, IAM_PATTERN"):
        validate_requests(aws.session.client("servicecatalog")).associate_principal_with_portfolio(
            PortfolioId="port-abc", PrincipalARN=STUDIO_ROLES[0], PrincipalType="ROLE"
        )
    # And what publish sent fits the model, as recorded.
    publish(request(project), aws.session)
    model = aws.session.client("servicecatalog").meta.service_model
    for name, params in aws.catalog.calls:
        assert request_problems(model.operation_model(name), params) == [], name


def test_cli_reports_aws_and_input_problems_without_a_traceback(aws, project_factory, capsys, monkeypatch):
    monkeypatch.setattr(boto3, "Session", lambda **_: aws.session)  # the one CatalogGaps completes
    project = project_factory("codeconnections")
    code = main(["studio", "publish", str(project), "--bucket", "no-such-bucket", "--portfolio", "ML"])
    err = capsys.readouterr().err
    assert (
        code == 2 and err.startswith("error: bucket no-such-bucket does not exist") and "Traceback" not in err
    )

    code = main(["studio", "publish", str(project / "pipelines"), "--bucket", BUCKET, "--portfolio", "ML"])
    assert code == 2 and "has no spec.yaml" in capsys.readouterr().err

    args = [
        "studio",
        "publish",
        str(project),
        "--bucket",
        BUCKET,
        "--portfolio",
        "ML",
        "--product",
        "reviews",
    ]
    assert main([*args, "--principal-arn", STUDIO_ROLES[0]]) == 0
    out = capsys.readouterr().out
    assert "created portfolio 'ML'" in out and "published https://" in out and "version v1" in out


def test_a_spec_without_studio_cannot_publish(aws, project_factory):
    project = project_factory("codecommit")
    spec = project / "spec.yaml"
    spec.write_text(spec.read_text().replace("  repository: codecommit\n", "  enabled: false\n"))
    with pytest.raises(PublishError, match="studio.enabled is false"):
        publish(request(project), aws.session)


SPEC_WITH_WORKFORCE = """\
spec_version: 1
project:
  name: Reviews sentiment
  slug: reviews-studio
  region: us-east-1
dataset:
  source: {data}
  text_column: Review Text
  label_column: Rating
  label_mapping: {{1: -1, 2: -1, 3: 0, 4: 1, 5: 1}}
bias:
  enabled: false
model:
  type: blazingtext
labeling:
  enabled: true
  labels: {{Negative: -1, Neutral: 0, Positive: 1}}
  workforce: {{create: cognito}}
"""


def test_project_names_smoke_test_and_workforce_publish_idempotently(aws, tmp_path):
    """The project-scoped names, the staging smoke test and the Cognito workforce publish as one version;
    a second run writes nothing."""
    data = tmp_path / "reviews.csv"
    data.write_text("Review Text,Rating\nLovely dress,5\nToo small,2\nFine,3\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC_WITH_WORKFORCE.format(data=data.as_posix()))
    project = tmp_path / "project"
    generate(load_spec(spec), project)

    first = publish(request(project), aws.session)
    uploaded = YAML().load(aws.s3_body(first.template_url.split(".amazonaws.com/", 1)[1]))
    assert {"WorkTeam", "WorkforceUserPool", "StagingTestProject"} <= set(uploaded["Resources"])
    state, writes = catalog_state(aws), len(aws.catalog.writes())
    second = publish(request(project), aws.session)
    assert aws.catalog.writes()[writes:] == [] and catalog_state(aws) == state
    assert state["versions"] == [("v1", "DEFAULT")] and second.artifact_id == first.artifact_id
