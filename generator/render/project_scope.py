"""The names a project's AWS resources take inside a SageMaker project.

One Studio project template is launched many times in an account, one project per team or experiment.
As in AWS's own MLOps templates, each launch names its resources after the project:
``<SageMakerProjectName>-<SageMakerProjectId>``, plus a suffix per kind of resource. The generated
``pipelines/project_names.py`` applies these suffixes to SAGEMAKER_PROJECT_NAME and SAGEMAKER_PROJECT_ID
(the template's CodeBuild projects carry both); ``studio/project-template.yaml`` scopes its IAM policies
and the approval rule to the same names. Outside a project the spec's names stay.

Lengths: a project name has at most 32 characters and an id is ``p-`` and 12 more, so a stem has at most
47; the longest suffix keeps every name within SageMaker's 63 characters. A Ground Truth job is named
``<prefix>-<YYYYmmdd-HHMMSS>``: its prefix is the bare stem (47 + 16 = 63).
"""

from __future__ import annotations

from ..deployment import DeploymentPlan

STEM_SUB = "${SageMakerProjectName}-${SageMakerProjectId}"
# SageMaker lower-cases names in ARNs and CloudFormation cannot lower-case a project name: policies match
# the name by its end, which holds the (lower-case, account-unique) project id.
ARN_STEM_SUB = "*-${SageMakerProjectId}"
_FIXED_SUFFIXES: dict[str, str] = {
    "pipeline": "",
    "model_package_group": "",
    "base_job_prefix": "",
    "feature_group": "-features",
    "flow_definition": "-review",
    "task_ui": "-review-ui",
    "labeling_job_prefix": "",
    "work_team": "-reviewers",
    # Not an AWS resource but named like one: the MLflow experiment the runs log to (spec: tracking), so
    # the projects one template launches keep their runs apart on a shared tracking server.
    "experiment": "",
}
# Amazon A2I takes only lower-case names for these (FlowDefinitionName, HumanTaskUiName: [a-z0-9-]), while
# a project name may hold capitals: their names are lower-cased (the project id keeps them unique).
LOWER_CASE_KINDS: tuple[str, ...] = ("flow_definition", "task_ui")


def endpoint_kind(stage: str) -> str:
    """The kind of a stage's endpoint name: ``endpoint-staging``, ``endpoint-prod``."""
    return f"endpoint-{stage}"


def name_suffixes(deployment: DeploymentPlan) -> dict[str, str]:
    """Kind of resource -> what follows the project's stem in its name (the stages' endpoints included)."""
    return {**_FIXED_SUFFIXES, **{endpoint_kind(s.name): f"-{s.name}" for s in deployment.stages}}


def name_sub(suffix: str) -> str:
    """A resource's name in a project, as a Fn::Sub string."""
    return STEM_SUB + suffix


def arn_name_sub(suffix: str) -> str:
    """The same name as an IAM resource pattern matches it in an ARN, as a Fn::Sub string."""
    return ARN_STEM_SUB + suffix
