"""Publish a generated project as a SageMaker Studio project template (an AWS Service Catalog product).

    sagespec studio publish DIR --bucket B --portfolio NAME

1. Upload the project template (``DIR/studio/project-template.yaml``) to S3; for a CodeCommit template
   also the seed code (the repository's files, zipped), whose location becomes the template's
   SeedCodeBucket/SeedCodeKey defaults. Keys carry a hash of the content, so re-publishing the same
   files uploads nothing.
2. Find or create the portfolio (by display name) and the product (by name), tag the product
   ``sagemaker:studio-visibility=true`` (Studio lists only tagged products), and add a provisioning
   artifact (a product version) only when the template differs from the newest version's.
3. Associate the product with the portfolio, set the launch constraint's role, and give the principals
   (e.g. Studio execution roles) access to the portfolio.

Every step looks before it writes, so running it again changes nothing (idempotency tokens, which
botocore adds to each create request, only cover retries of one request). Every request is checked
against botocore's model before it is sent (:mod:`sagespec.aws.requests`).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..errors import PublishError
from .requests import validate_requests
from .seed import build_seed_archive

if TYPE_CHECKING:
    import boto3
    from botocore.client import BaseClient

TEMPLATE_PATH = "studio/project-template.yaml"
SEED_PARAMETERS = ("SeedCodeBucket", "SeedCodeKey")
STUDIO_VISIBILITY = {"Key": "sagemaker:studio-visibility", "Value": "true"}
PROVIDER = "sagespec"
# How a provisioning artifact's description records the template it was made from.
TEMPLATE_HASH = re.compile(r"template sha256:([0-9a-f]{64})")


@dataclass(frozen=True)
class PublishRequest:
    project: Path
    bucket: str
    portfolio: str
    product: str | None = None  # default: the spec's project slug
    launch_role_arn: str | None = None
    principal_arns: tuple[str, ...] = ()
    region: str | None = None  # default: the spec's project region
    key_prefix: str = "sagespec-studio"


@dataclass
class PublishResult:
    portfolio_id: str = ""
    product_id: str = ""
    artifact_id: str = ""
    artifact_name: str = ""
    template_url: str = ""
    seed_url: str | None = None
    log: list[str] = field(default_factory=list)

    def note(self, line: str) -> None:
        self.log.append(line)


@dataclass(frozen=True)
class _Project:
    slug: str
    name: str
    description: str
    region: str


def publish(request: PublishRequest, session: boto3.Session | None = None) -> PublishResult:
    """Publish ``request.project``'s Studio template; see the module docstring for the steps."""
    from botocore.exceptions import BotoCoreError, ClientError

    project = _read_project(request.project)
    region = request.region or project.region
    product_name = request.product or project.slug
    template_file = request.project / TEMPLATE_PATH
    if not template_file.is_file():
        raise PublishError(
            f"{template_file} does not exist: set studio.enabled (and ci.codebuild.enabled) in the spec "
            "and run `sagespec update`"
        )
    if session is None:
        import boto3

        session = boto3.Session(region_name=region)
    s3 = validate_requests(session.client("s3", region_name=region))
    catalog = validate_requests(session.client("servicecatalog", region_name=region))
    result = PublishResult()
    try:
        template = _upload_artifacts(s3, request, product_name, region, template_file, result)
        result.portfolio_id = _ensure_portfolio(catalog, request.portfolio, project, result)
        _ensure_product(catalog, product_name, project, template, result)
        _ensure_association(catalog, result.portfolio_id, result.product_id, result)
        if request.launch_role_arn:
            _ensure_launch_constraint(catalog, result, request.launch_role_arn)
        else:
            result.note(
                "no launch role given: Studio users launch the template with their own permissions "
                "(pass --launch-role-arn for a launch constraint)"
            )
        _ensure_principals(catalog, result.portfolio_id, request.principal_arns, result)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise PublishError(
            f"{exc.operation_name} failed: {error.get('Code', 'error')}: {error.get('Message', exc)}"
        ) from exc
    except BotoCoreError as exc:
        raise PublishError(f"AWS request failed: {exc}") from exc
    return result


# --- inputs


def _read_project(folder: Path) -> _Project:
    from ..spec import load_spec
    from ..spec.project_file import project_spec_path

    spec_file = project_spec_path(folder)
    spec = load_spec(spec_file).spec
    if not spec.studio.enabled:
        raise PublishError(f"{spec_file}: studio.enabled is false; this project has no Studio template")
    return _Project(spec.project.slug, spec.project.name, spec.project.description, spec.project.region)


class ProjectTemplate:
    """studio/project-template.yaml, read round-trip: comments, layout and !Ref-style tags survive."""

    def __init__(self, text: str):
        from ruamel.yaml import YAML

        self._yaml = YAML()
        self._yaml.preserve_quotes = True
        self._yaml.width = 4096
        self._text = text
        self._document = self._yaml.load(text)
        parameters = self._document.get("Parameters", {})
        self.needs_seed = all(name in parameters for name in SEED_PARAMETERS)

    def render(self, seed_bucket: str | None = None, seed_key: str | None = None) -> bytes:
        """The template as uploaded: for a CodeCommit template, the seed code's location as defaults."""
        if not self.needs_seed:
            return self._text.encode()
        if seed_bucket is None or seed_key is None:
            raise PublishError("the template needs seed code, but none was uploaded")
        parameters = self._document["Parameters"]
        parameters["SeedCodeBucket"]["Default"] = seed_bucket
        parameters["SeedCodeKey"]["Default"] = seed_key
        out = io.StringIO()
        self._yaml.dump(self._document, out)
        return out.getvalue().encode()


# --- S3


@dataclass(frozen=True)
class _Template:
    url: str
    sha256: str


def _upload_artifacts(
    s3: BaseClient,
    request: PublishRequest,
    product: str,
    region: str,
    template_file: Path,
    result: PublishResult,
) -> _Template:
    _check_bucket(s3, request.bucket)
    prefix = f"{request.key_prefix.strip('/')}/{product}"
    template = ProjectTemplate(template_file.read_text())
    seed_key = None
    if template.needs_seed:
        seed = build_seed_archive(request.project)
        seed_key = f"{prefix}/seed-{seed.sha256[:16]}.zip"
        uploaded = _put_once(s3, request.bucket, seed_key, seed.data, "application/zip")
        result.seed_url = f"s3://{request.bucket}/{seed_key}"
        size = f"{len(seed.files)} files, {len(seed.data) / 1e6:.1f} MB"
        result.note(f"{'uploaded' if uploaded else 'unchanged'} seed code {result.seed_url} ({size})")
    body = template.render(request.bucket, seed_key)
    digest = hashlib.sha256(body).hexdigest()
    template_key = f"{prefix}/project-template-{digest[:16]}.yaml"
    uploaded = _put_once(s3, request.bucket, template_key, body, "application/x-yaml")
    result.template_url = _object_url(request.bucket, region, template_key)
    result.note(f"{'uploaded' if uploaded else 'unchanged'} template {result.template_url}")
    return _Template(result.template_url, digest)


def _check_bucket(s3: BaseClient, bucket: str) -> None:
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("404", "NoSuchBucket", "NotFound"):
            raise PublishError(
                f"bucket {bucket} does not exist (create it, or pass another --bucket)"
            ) from exc
        if code in ("403", "AccessDenied", "Forbidden"):
            raise PublishError(f"no access to bucket {bucket}") from exc
        raise


def _put_once(s3: BaseClient, bucket: str, key: str, body: bytes, content_type: str) -> bool:
    """Upload unless the (content-addressed) key is there already; True when it uploaded."""
    from botocore.exceptions import ClientError

    try:
        s3.head_object(Bucket=bucket, Key=key)
        return False
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)  # the bucket encrypts
    return True


def _object_url(bucket: str, region: str, key: str) -> str:
    return f"https://{bucket}.s3.{region}.amazonaws.com/{key}"


# --- Service Catalog


def _pages(call: Callable[..., dict[str, Any]], items: str, **params: Any) -> Iterator[dict[str, Any]]:
    """Every item of a Service Catalog list call, across pages (PageToken / NextPageToken)."""
    token = None
    while True:
        response = call(**params, **({"PageToken": token} if token else {}))
        yield from response.get(items, [])
        token = response.get("NextPageToken")
        if not token:
            return


def _ensure_portfolio(catalog: BaseClient, name: str, project: _Project, result: PublishResult) -> str:
    matches = [p for p in _pages(catalog.list_portfolios, "PortfolioDetails") if p["DisplayName"] == name]
    if len(matches) > 1:
        ids = ", ".join(p["Id"] for p in matches)
        raise PublishError(f"{len(matches)} portfolios are named {name!r} ({ids}); rename all but one")
    if matches:
        result.note(f"portfolio {name!r} exists ({matches[0]['Id']})")
        return matches[0]["Id"]
    created = catalog.create_portfolio(
        DisplayName=name,
        ProviderName=PROVIDER,
        Description=f"SageMaker project templates published by sagespec (first: {project.name})"[:2000],
    )["PortfolioDetail"]
    result.note(f"created portfolio {name!r} ({created['Id']})")
    return created["Id"]


def _artifact_parameters(template: _Template, name: str) -> dict[str, Any]:
    return {
        "Name": name,
        "Description": f"sagespec {__version__}, template sha256:{template.sha256}",
        "Info": {"LoadTemplateFromURL": template.url},
        "Type": "CLOUD_FORMATION_TEMPLATE",
    }


def _ensure_product(
    catalog: BaseClient, name: str, project: _Project, template: _Template, result: PublishResult
) -> None:
    existing = _find_product(catalog, name)
    if existing is None:
        created = catalog.create_product(
            Name=name,
            Owner=PROVIDER,
            Description=(project.description or project.name)[:8191],
            ProductType="CLOUD_FORMATION_TEMPLATE",
            Tags=[STUDIO_VISIBILITY],
            ProvisioningArtifactParameters=_artifact_parameters(template, "v1"),
        )
        result.product_id = created["ProductViewDetail"]["ProductViewSummary"]["ProductId"]
        result.note(f"created product {name!r} ({result.product_id}) with version v1")
    else:
        result.product_id = existing["ProductViewDetail"]["ProductViewSummary"]["ProductId"]
        result.note(f"product {name!r} exists ({result.product_id})")
        if STUDIO_VISIBILITY not in existing.get("Tags", []):
            catalog.update_product(Id=result.product_id, AddTags=[STUDIO_VISIBILITY])
            result.note("tagged the product sagemaker:studio-visibility=true")
    _ensure_artifact(catalog, result, template, product_created=existing is None)


def _find_product(catalog: BaseClient, name: str) -> dict[str, Any] | None:
    try:
        return catalog.describe_product_as_admin(Name=name)
    except catalog.exceptions.ResourceNotFoundException:
        return None


def _ensure_artifact(
    catalog: BaseClient, result: PublishResult, template: _Template, product_created: bool
) -> None:
    """Add a version when the template changed since the newest one; deprecate the older versions."""
    artifacts = catalog.list_provisioning_artifacts(ProductId=result.product_id)[
        "ProvisioningArtifactDetails"
    ]
    artifacts.sort(key=lambda a: a["CreatedTime"])
    newest = artifacts[-1] if artifacts else None
    recorded = TEMPLATE_HASH.search(newest.get("Description", "")) if newest else None
    if newest is not None and recorded is not None and recorded.group(1) == template.sha256:
        result.artifact_id, result.artifact_name = newest["Id"], newest["Name"]
        if not product_created:
            result.note(f"template unchanged: version {newest['Name']} is current")
        return
    name = f"v{_next_version(a['Name'] for a in artifacts)}"
    created = catalog.create_provisioning_artifact(
        ProductId=result.product_id,
        Parameters=_artifact_parameters(template, name),
    )["ProvisioningArtifactDetail"]
    result.artifact_id, result.artifact_name = created["Id"], name
    result.note(f"template changed: added version {name} ({created['Id']})")
    for artifact in artifacts:
        if artifact.get("Guidance") != "DEPRECATED":
            catalog.update_provisioning_artifact(
                ProductId=result.product_id, ProvisioningArtifactId=artifact["Id"], Guidance="DEPRECATED"
            )
            result.note(
                f"deprecated version {artifact['Name']}: existing projects keep it, new ones get {name}"
            )


def _next_version(names: Iterator[str] | Sequence[str]) -> int:
    numbers = [int(m.group(1)) for n in names if (m := re.fullmatch(r"v(\d+)", n))]
    return max(numbers, default=0) + 1


def _ensure_association(
    catalog: BaseClient, portfolio_id: str, product_id: str, result: PublishResult
) -> None:
    portfolios = _pages(catalog.list_portfolios_for_product, "PortfolioDetails", ProductId=product_id)
    if any(p["Id"] == portfolio_id for p in portfolios):
        return
    catalog.associate_product_with_portfolio(ProductId=product_id, PortfolioId=portfolio_id)
    result.note("added the product to the portfolio")


def _ensure_launch_constraint(catalog: BaseClient, result: PublishResult, role_arn: str) -> None:
    constraints = [
        c
        for c in _pages(
            catalog.list_constraints_for_portfolio,
            "ConstraintDetails",
            PortfolioId=result.portfolio_id,
            ProductId=result.product_id,
        )
        if c["Type"] == "LAUNCH"
    ]
    parameters = json.dumps({"RoleArn": role_arn})
    if not constraints:
        catalog.create_constraint(
            PortfolioId=result.portfolio_id,
            ProductId=result.product_id,
            Type="LAUNCH",
            Parameters=parameters,
            Description="The role that creates the project's resources",
        )
        result.note(f"launch constraint: {role_arn}")
        return
    constraint_id = constraints[0]["ConstraintId"]
    current = catalog.describe_constraint(Id=constraint_id).get("ConstraintParameters") or "{}"
    if json.loads(current).get("RoleArn") == role_arn:
        return
    catalog.update_constraint(Id=constraint_id, Parameters=parameters)
    result.note(f"launch constraint now uses {role_arn}")


def _ensure_principals(
    catalog: BaseClient, portfolio_id: str, principal_arns: Sequence[str], result: PublishResult
) -> None:
    if not principal_arns:
        return
    existing = {
        p["PrincipalARN"]
        for p in _pages(catalog.list_principals_for_portfolio, "Principals", PortfolioId=portfolio_id)
    }
    for arn in dict.fromkeys(principal_arns):
        if arn in existing:
            continue
        catalog.associate_principal_with_portfolio(
            PortfolioId=portfolio_id, PrincipalARN=arn, PrincipalType="IAM"
        )
        result.note(f"gave {arn} access to the portfolio")
