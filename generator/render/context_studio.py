"""Template context for the SageMaker Studio project template (studio/project-template.yaml).

The template is a Service Catalog product that SageMaker Studio launches with SageMakerProjectName and
SageMakerProjectId; names that depend on those are CloudFormation substitutions in the template. What
the spec decides is computed here: where the code comes from, the project-scoped names the IAM policies
and the approval rule use (``project_scope``), and which deployment features need which permissions.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..deployment import build_deployment
from ..spec.models import Spec
from .context_debugger import debugger_group
from .data_paths import default_data_key
from .project_scope import LOWER_CASE_KINDS, arn_name_sub, endpoint_kind, name_sub, name_suffixes

# CloudFormation limits a template's description to 1,024 bytes.
MAX_DESCRIPTION_BYTES = 1024
# Jobs that SageMaker Pipelines starts are named pipelines-<execution id>-<step>-<suffix>.
PIPELINE_JOB_PREFIX = "pipelines-"


def _description(spec: Spec) -> str:
    text = f"{spec.project.name}: build, register and deploy the model with SageMaker Pipelines (sagespec)."
    return text.encode()[:MAX_DESCRIPTION_BYTES].decode(errors="ignore")


def _bucket_of(uri: str | None) -> str | None:
    """'s3://bucket/prefix' -> 'bucket'."""
    if not uri:
        return None
    return uri.removeprefix("s3://").split("/", 1)[0]


def _objects_sub(uri: str) -> str:
    """'s3://bucket/prefix/' -> the ARN of the objects under it, as a Fn::Sub string ('${!' is a literal
    '${')."""
    objects = uri.removeprefix("s3://").rstrip("/").replace("${", "${!")
    return "arn:${AWS::Partition}:s3:::" + objects + "/*"


def _capture_objects(spec: Spec) -> str:
    """The objects the endpoints write captured data to, as a Fn::Sub string ('${!' is a literal '${')."""
    destination = spec.deployment.data_capture.destination
    if destination:
        return _objects_sub(destination)
    return "${ArtifactBucket.Arn}/" + f"{spec.project.slug}/data-capture/*"


def _capture_bucket(spec: Spec) -> str:
    """The bucket of the captured data, as a Fn::Sub string."""
    bucket = _bucket_of(spec.deployment.data_capture.destination)
    return f"arn:${{AWS::Partition}}:s3:::{bucket}" if bucket else "${ArtifactBucket.Arn}"


@dataclass(frozen=True)
class StudioGroup:
    """``studio.*``: the Studio project template (studio/project-template.yaml), from ``spec.studio``."""

    enabled: bool
    description: str
    codecommit: bool
    connection_arn: str | None
    repository_id: str | None
    branch: str
    build_compute_type: str
    # Kind of resource -> what follows <project name>-<project id> in its name (pipelines/project_names.py).
    name_suffixes: dict[str, str]
    # The kinds whose names AWS takes in lower case only (pipelines/project_names.py lower-cases them).
    lower_case_kinds: tuple[str, ...]
    # Kind of resource -> its name in the project, and the name as IAM matches it in ARNs (Fn::Sub strings).
    names: dict[str, str]
    arn_names: dict[str, str]
    job_prefixes: list[str]
    tuning: bool
    # model.type autopilot: the pipeline runs an AutoML job, a model of its best candidate and a transform.
    autopilot: bool
    feature_store: bool
    # model.debugger.stop_training_on: the rule jobs' StopTraining action lists the in-progress training
    # jobs (ListTrainingJobs, which takes no resource) to find the one to stop.
    stop_training: bool
    # The offline store (feature_store.offline_store_s3_uri), which Feature Store writes as the pipeline
    # role (feature_store.py creates the group with it): its bucket, and its objects as a Fn::Sub string.
    offline_store_bucket: str | None
    offline_store_objects: str | None
    # labeling.workforce: {create: cognito}: the template creates the user pool and the work team.
    cognito_workforce: bool
    # Warm start reads the parent tuning jobs (names as the spec gives them; '${!' is a literal '${').
    tuning_parent_jobs: list[str]
    endpoint_arn_names: list[str]
    autoscaling: bool
    rollback_alarms: bool
    # A checkpoint bucket of the spec's own, beside the artifact bucket (BERT on spot instances).
    checkpoint_bucket: str | None
    data_capture: bool
    # Where the endpoints write captured requests (deploy/build_config.py adds /<stage>).
    data_capture_objects: str | None
    # The bucket holding them, as a Fn::Sub string: Model Monitor's jobs list it.
    data_capture_bucket: str | None
    # Where the pipeline reads the dataset by default, as a Fn::Sub string ('${!' is a literal '${').
    input_data_sub: str


def studio_group(spec: Spec) -> StudioGroup:
    studio = spec.studio
    dep = spec.deployment
    capture = dep.data_capture
    deployment = build_deployment(spec)
    debugger = debugger_group(spec)
    suffixes = name_suffixes(deployment)
    arn_names = {kind: arn_name_sub(suffix) for kind, suffix in suffixes.items()}
    features = spec.feature_store
    offline_store = features.offline_store_s3_uri if spec.feature_store_enabled and features else None
    return StudioGroup(
        enabled=studio.enabled,
        description=_description(spec),
        codecommit=studio.repository == "codecommit",
        connection_arn=studio.connection_arn,
        repository_id=studio.repository_id,
        branch="main",
        build_compute_type="BUILD_GENERAL1_MEDIUM",  # the build installs the ML stack and runs tests
        name_suffixes=suffixes,
        lower_case_kinds=LOWER_CASE_KINDS,
        names={kind: name_sub(suffix) for kind, suffix in suffixes.items()},
        arn_names=arn_names,
        job_prefixes=[PIPELINE_JOB_PREFIX, arn_names["base_job_prefix"] + "-"],
        tuning=spec.tuning_enabled,
        autopilot=spec.model.type == "autopilot",
        feature_store=spec.feature_store_enabled,
        stop_training=bool(debugger and debugger.stop_training_on),
        offline_store_bucket=_bucket_of(offline_store),
        offline_store_objects=_objects_sub(offline_store) if offline_store else None,
        cognito_workforce=spec.labeling.enabled and spec.labeling.workforce.create == "cognito",
        tuning_parent_jobs=(
            [name.lower().replace("${", "${!") for name in spec.tuning.warm_start.parent_jobs]
            if spec.tuning_enabled and spec.tuning and spec.tuning.warm_start
            else []
        ),
        endpoint_arn_names=[arn_names[endpoint_kind(s.name)] for s in deployment.stages],
        autoscaling=bool(dep.autoscaling),
        rollback_alarms=bool(dep.traffic_shifting.rollback_alarms),
        checkpoint_bucket=_bucket_of(getattr(spec.model, "checkpoint_s3_uri", None)),
        data_capture=capture.enabled,
        data_capture_objects=_capture_objects(spec) if capture.enabled else None,
        data_capture_bucket=_capture_bucket(spec) if capture.enabled else None,
        input_data_sub="s3://${ArtifactBucket}/" + default_data_key(spec).replace("${", "${!"),
    )
