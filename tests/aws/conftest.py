"""Fixtures for `sagespec studio publish`: generated projects, and AWS in memory.

moto 5.2.5 keeps S3 and Service Catalog portfolios and products, but implements few of the Service
Catalog calls a publish makes (no provisioning artifacts, constraints, principals, or product-portfolio
associations). ``CatalogGaps`` answers those calls itself, on top of moto's portfolios and products,
the way the service documents them: e.g. a second launch constraint for the same product and
portfolio is refused. It answers at botocore's ``before-call`` event, after the request was built, so
every request still passes through botocore's serializer and sagespec's request validation; and it
checks its own responses against botocore's output shapes, so it cannot drift from the real API.

The suite runs with --import-mode=importlib: tests reach these helpers through fixtures.
"""

from __future__ import annotations

import csv
import itertools
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.validate import ParamValidator
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.servicecatalog.models import servicecatalog_backends

from sagespec.render import generate
from sagespec.spec import load_spec

REGION = "us-east-1"
BUCKET = "team-templates"

SPEC = """\
spec_version: 1
project:
  name: Reviews sentiment
  slug: reviews-studio
  description: Sentiment of clothing reviews.
  region: us-east-1
  tags: {{team: data-science}}
dataset:
  source: {data}
  text_column: Review Text
  label_column: Rating
  label_mapping: {{1: -1, 2: -1, 3: 0, 4: 1, 5: 1}}
  facet_columns: [Class Name]
bias:
  enabled: false
model:
  type: blazingtext
studio:
  repository: {repository}
"""


def write_project(folder: Path, repository: str) -> Path:
    """A generated project (a small dataset) whose Studio template uses ``repository``."""
    folder.mkdir(parents=True)
    data = folder / "reviews.csv"
    with data.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Review Text", "Rating", "Class Name"])
        writer.writerows([["Lovely dress", 5, "Dresses"], ["Too small", 2, "Knits"], ["Fine", 3, "Dresses"]])
    spec = folder / "spec.yaml"
    spec.write_text(SPEC.format(data=data.as_posix(), repository=repository))
    project = folder / "project"
    generate(load_spec(spec), project)
    return project


@pytest.fixture
def project_factory(tmp_path):
    counter = itertools.count()

    def make(repository: str = "codecommit") -> Path:
        return write_project(tmp_path / f"p{next(counter)}", repository)

    return make


# --------------------------------------------------------------------------------- Service Catalog


def _error(code: str, message: str) -> tuple[AWSResponse, dict[str, Any]]:
    return AWSResponse("https://servicecatalog", 400, {}, None), {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }


@dataclass
class CatalogGaps:
    """The Service Catalog calls moto lacks, kept consistent with moto's portfolios and products."""

    region: str = REGION
    artifacts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    associations: set[tuple[str, str]] = field(default_factory=set)  # (portfolio id, product id)
    constraints: dict[str, dict[str, Any]] = field(default_factory=dict)
    principals: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # every request sent

    HANDLED = (
        "DescribeProductAsAdmin",
        "UpdateProduct",
        "ListProvisioningArtifacts",
        "CreateProvisioningArtifact",
        "UpdateProvisioningArtifact",
        "ListPortfoliosForProduct",
        "AssociateProductWithPortfolio",
        "ListConstraintsForPortfolio",
        "CreateConstraint",
        "DescribeConstraint",
        "UpdateConstraint",
        "ListPrincipalsForPortfolio",
        "AssociatePrincipalWithPortfolio",
    )

    @property
    def backend(self):
        return servicecatalog_backends[DEFAULT_ACCOUNT_ID][self.region]

    def install(self, session: boto3.Session) -> None:
        session.events.register("before-call.service-catalog", self._answer)

    def _answer(self, model: Any, params: dict[str, Any], **_: Any):
        body = json.loads(params["body"] or b"{}")  # the request as serialized: it passed validation
        self.calls.append((model.name, body))
        if model.name not in self.HANDLED:
            return None  # moto answers
        handler = getattr(self, "_" + "".join("_" + c.lower() if c.isupper() else c for c in model.name)[1:])
        answer = handler(body)
        if isinstance(answer, tuple):
            return answer
        report = ParamValidator().validate(answer, model.output_shape)
        assert not report.has_errors(), f"fake {model.name} response: {report.generate_report()}"
        return AWSResponse("https://servicecatalog", 200, {}, None), answer

    # products and versions
    def _product(self, product_id: str):
        return self.backend.products.get(product_id)

    def _summary(self, product) -> dict[str, Any]:
        return {
            "Id": f"prodview-{product.id[:8]}",
            "ProductId": product.id,
            "Name": product.name,
            "Owner": product.owner,
            "ShortDescription": product.description or "",
            "Type": product.product_type,
        }

    def _versions(self, product) -> list[dict[str, Any]]:
        if product.id not in self.artifacts:
            first = product.provisioning_artifact_parameters
            self.artifacts[product.id] = [self._artifact(first, product.created_time)] if first else []
        return self.artifacts[product.id]

    def _artifact(self, parameters: dict[str, Any], created: datetime) -> dict[str, Any]:
        return {
            "Id": f"pa-{uuid.uuid4().hex[:13]}",
            "Name": parameters.get("Name", ""),
            "Description": parameters.get("Description", ""),
            "Type": parameters.get("Type", "CLOUD_FORMATION_TEMPLATE"),
            "CreatedTime": created,
            "Active": True,
            "Guidance": "DEFAULT",
            "TemplateUrl": parameters["Info"]["LoadTemplateFromURL"],  # kept here, not returned
        }

    @staticmethod
    def _public(artifact: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in artifact.items() if k != "TemplateUrl"}

    def _describe_product_as_admin(self, body: dict[str, Any]):
        product = self.backend.lookup_by_name(body.get("Name")) or self._product(body.get("Id", ""))
        if product is None:
            return _error("ResourceNotFoundException", "Product not found")
        return {
            "ProductViewDetail": {
                "ProductViewSummary": self._summary(product),
                "Status": "AVAILABLE",
                "ProductARN": product.arn,
                "CreatedTime": product.created_time,
            },
            "ProvisioningArtifactSummaries": [
                {
                    "Id": a["Id"],
                    "Name": a["Name"],
                    "Description": a["Description"],
                    "CreatedTime": a["CreatedTime"],
                }
                for a in self._versions(product)
            ],
            "Tags": list(product.tags),
        }

    def _update_product(self, body: dict[str, Any]):
        product = self._product(body["Id"])
        if product is None:
            return _error("ResourceNotFoundException", "Product not found")
        keys = {t["Key"] for t in body.get("AddTags", [])}
        product.tags = [t for t in product.tags if t["Key"] not in keys] + body.get("AddTags", [])
        return {"ProductViewDetail": {"ProductViewSummary": self._summary(product)}, "Tags": product.tags}

    def _list_provisioning_artifacts(self, body: dict[str, Any]):
        product = self._product(body["ProductId"])
        if product is None:
            return _error("ResourceNotFoundException", "Product not found")
        return {"ProvisioningArtifactDetails": [self._public(a) for a in self._versions(product)]}

    def _create_provisioning_artifact(self, body: dict[str, Any]):
        product = self._product(body["ProductId"])
        if product is None:
            return _error("ResourceNotFoundException", "Product not found")
        versions = self._versions(product)
        if any(a["Name"] == body["Parameters"]["Name"] for a in versions):
            return _error("DuplicateResourceException", "a version of that name exists")
        created = max((a["CreatedTime"] for a in versions), default=datetime.now(UTC)) + timedelta(seconds=1)
        artifact = self._artifact(body["Parameters"], created)
        versions.append(artifact)
        return {
            "ProvisioningArtifactDetail": self._public(artifact),
            "Info": {"TemplateUrl": artifact["TemplateUrl"]},
            "Status": "AVAILABLE",
        }

    def _update_provisioning_artifact(self, body: dict[str, Any]):
        product = self._product(body["ProductId"])
        found = (
            [a for a in self._versions(product) if a["Id"] == body["ProvisioningArtifactId"]]
            if product
            else []
        )
        if not found:
            return _error("ResourceNotFoundException", "Provisioning artifact not found")
        for key in ("Name", "Description", "Active", "Guidance"):
            if key in body:
                found[0][key] = body[key]
        return {"ProvisioningArtifactDetail": self._public(found[0]), "Status": "AVAILABLE"}

    # portfolios
    def _list_portfolios_for_product(self, body: dict[str, Any]):
        ids = [p for p, product in self.associations if product == body["ProductId"]]
        return {"PortfolioDetails": [self.backend.portfolios[p].to_dict() for p in sorted(ids)]}

    def _associate_product_with_portfolio(self, body: dict[str, Any]):
        if body["PortfolioId"] not in self.backend.portfolios or not self._product(body["ProductId"]):
            return _error("ResourceNotFoundException", "Portfolio or product not found")
        self.associations.add((body["PortfolioId"], body["ProductId"]))
        return {}

    def _list_constraints_for_portfolio(self, body: dict[str, Any]):
        details = [
            {k: v for k, v in c.items() if k != "Parameters"}
            for c in self.constraints.values()
            if c["PortfolioId"] == body["PortfolioId"]
            and c["ProductId"] == body.get("ProductId", c["ProductId"])
        ]
        return {"ConstraintDetails": details}

    def _create_constraint(self, body: dict[str, Any]):
        if (body["PortfolioId"], body["ProductId"]) not in self.associations:
            return _error("ResourceNotFoundException", "The product is not in the portfolio")
        for c in self.constraints.values():
            if (c["PortfolioId"], c["ProductId"], c["Type"]) == (
                body["PortfolioId"],
                body["ProductId"],
                "LAUNCH",
            ):
                return _error("DuplicateResourceException", "The product already has a launch constraint")
        constraint_id = f"cons-{uuid.uuid4().hex[:13]}"
        self.constraints[constraint_id] = {
            "ConstraintId": constraint_id,
            "Type": body["Type"],
            "Description": body.get("Description", ""),
            "Owner": DEFAULT_ACCOUNT_ID,
            "ProductId": body["ProductId"],
            "PortfolioId": body["PortfolioId"],
            "Parameters": body["Parameters"],
        }
        return self._describe_constraint({"Id": constraint_id})

    def _describe_constraint(self, body: dict[str, Any]):
        constraint = self.constraints.get(body["Id"])
        if constraint is None:
            return _error("ResourceNotFoundException", "Constraint not found")
        detail = {k: v for k, v in constraint.items() if k != "Parameters"}
        return {
            "ConstraintDetail": detail,
            "ConstraintParameters": constraint["Parameters"],
            "Status": "AVAILABLE",
        }

    def _update_constraint(self, body: dict[str, Any]):
        constraint = self.constraints.get(body["Id"])
        if constraint is None:
            return _error("ResourceNotFoundException", "Constraint not found")
        constraint["Parameters"] = body.get("Parameters", constraint["Parameters"])
        return self._describe_constraint(body)

    def _list_principals_for_portfolio(self, body: dict[str, Any]):
        return {"Principals": list(self.principals.get(body["PortfolioId"], []))}

    def _associate_principal_with_portfolio(self, body: dict[str, Any]):
        if body["PortfolioId"] not in self.backend.portfolios:
            return _error("ResourceNotFoundException", "Portfolio not found")
        principal = {"PrincipalARN": body["PrincipalARN"], "PrincipalType": body["PrincipalType"]}
        if principal not in self.principals.setdefault(body["PortfolioId"], []):
            self.principals[body["PortfolioId"]].append(principal)
        return {}

    # what the tests look at
    def writes(self) -> list[str]:
        """The calls that change something, in order."""
        return [name for name, _ in self.calls if not name.startswith(("Describe", "List", "Search"))]


@dataclass
class FakeAws:
    session: boto3.Session
    catalog: CatalogGaps

    def s3_keys(self) -> list[str]:
        listed = self.session.client("s3").list_objects_v2(Bucket=BUCKET)
        return sorted(o["Key"] for o in listed.get("Contents", []))

    def s3_body(self, key: str) -> bytes:
        return self.session.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()


@pytest.fixture
def aws(monkeypatch) -> FakeAws:
    """moto's AWS with the publish bucket, and a session whose Service Catalog calls CatalogGaps completes."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        session.client("s3").create_bucket(Bucket=BUCKET)
        catalog = CatalogGaps()
        catalog.install(session)
        yield FakeAws(session, catalog)
