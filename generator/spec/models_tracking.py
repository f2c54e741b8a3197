"""The tracking section: experiment tracking with MLflow.

On SageMaker every job of the pipeline logs to a SageMaker managed MLflow tracking server, named by its
ARN (which the ``sagemaker-mlflow`` plugin takes as the tracking URI); a local run logs to a local MLflow
store inside ``.sagespec-runs/``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from .aws_values import aws_pattern, check_no_sub_placeholder, check_one_line, text
from .fields import S3Uri, StrictModel

# DescribeMlflowTrackingServer's TrackingServerArn (at most 2,048 characters), with the resource part a
# tracking server's name as CreateMlflowTrackingServer takes it: letters, digits and inner hyphens, at
# most 256 characters.
TRACKING_SERVER_ARN_PATTERN = (
    r"^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]+:[0-9]{12}:mlflow-tracking-server/"
    r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$"
)
TRACKING_SERVER_ARN_MAX = 2048
TrackingServerArn = Annotated[
    str,
    AfterValidator(
        aws_pattern(
            TRACKING_SERVER_ARN_PATTERN,
            TRACKING_SERVER_ARN_MAX,
            "a SageMaker MLflow tracking server ARN such as "
            "'arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/my-server'",
        )
    ),
    Field(json_schema_extra={"pattern": TRACKING_SERVER_ARN_PATTERN, "maxLength": TRACKING_SERVER_ARN_MAX}),
]
# MLflow stores an experiment name in a 256-character column; the jobs get it as an environment value.
EXPERIMENT_NAME_MAX = 256


class MLflow(StrictModel):
    """Where the pipeline's runs are logged: one MLflow run per pipeline execution, a nested run per job."""

    tracking_server_arn: TrackingServerArn = Field(
        description="The SageMaker managed MLflow tracking server the pipeline's jobs log to; the pipeline's "
        "execution role is allowed to use it (studio/project-template.yaml). Local runs log to a local "
        "store in .sagespec-runs/ instead."
    )
    artifact_store_uri: Annotated[S3Uri, AfterValidator(check_no_sub_placeholder)] | None = Field(
        None,
        description="The tracking server's artifact store (its ArtifactStoreUri). The jobs upload their "
        "artifacts straight to it, so the execution role is allowed to read and write there; without it, "
        "grant that access yourself.",
    )
    experiment: text(EXPERIMENT_NAME_MAX, "MLflow's limit on an experiment name", check_one_line) | None = (
        Field(
            None,
            description="The MLflow experiment the runs belong to. Defaults to the project's slug. Like "
            "every name inside a SageMaker project (SAGEMAKER_PROJECT_NAME and SAGEMAKER_PROJECT_ID set), "
            "the pipeline's jobs log to the project's own experiment instead, "
            "'<project name>-<project id>', so projects launched from one Studio template keep their runs "
            "apart.",
        )
    )


class Tracking(StrictModel):
    """Experiment tracking: every job logs its parameters, metrics and artifacts."""

    mlflow: MLflow = Field(description="A SageMaker managed MLflow tracking server (the only kind yet).")
