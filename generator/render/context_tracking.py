"""Template context for experiment tracking (``tracking.*``): the MLflow tracking server the pipeline's
jobs log to, the experiment, and the libraries the jobs and the developer's machine install for it."""

from __future__ import annotations

from dataclasses import dataclass

from ..spec.models import Spec

# The MLflow client the jobs log with: mlflow-skinny (the client without the server and the UI) in the
# jobs' requirements.txt, the whole of mlflow (a SQLite store, `make mlflow`) in requirements-dev.txt.
MLFLOW_VERSION = "3.17.2"
# AWS's MLflow plugin: resolves a tracking server ARN as the tracking URI and signs the requests (SigV4).
SAGEMAKER_MLFLOW_VERSION = "0.5.0"
# The tracking server's API calls the jobs make (tracking.py's log_step), as IAM actions.
MLFLOW_ACTIONS = (
    "sagemaker-mlflow:GetExperimentByName",
    "sagemaker-mlflow:CreateExperiment",
    "sagemaker-mlflow:SearchRuns",
    "sagemaker-mlflow:CreateRun",
    "sagemaker-mlflow:GetRun",
    "sagemaker-mlflow:LogBatch",
    "sagemaker-mlflow:UpdateRun",
    "sagemaker-mlflow:DeleteRun",
)


@dataclass(frozen=True)
class TrackingGroup:
    """``tracking.*``, from ``spec.tracking`` (the group is None when the spec tracks nothing)."""

    tracking_server_arn: str
    experiment: str
    # The artifact store as IAM names it: 'bucket' and 'bucket/prefix/*' (None: not given in the spec).
    artifact_bucket: str | None = None
    artifact_objects: str | None = None
    iam_actions: tuple[str, ...] = MLFLOW_ACTIONS
    mlflow_version: str = MLFLOW_VERSION
    sagemaker_mlflow_version: str = SAGEMAKER_MLFLOW_VERSION

    @property
    def environment(self) -> dict[str, str]:
        """What every job of the pipeline gets as environment (pipeline.py adds the execution id)."""
        return {"MLFLOW_TRACKING_URI": self.tracking_server_arn, "MLFLOW_EXPERIMENT_NAME": self.experiment}


def tracking_group(spec: Spec) -> TrackingGroup | None:
    if spec.tracking is None or spec.mlflow_experiment is None:
        return None
    mlflow = spec.tracking.mlflow
    store = mlflow.artifact_store_uri.removeprefix("s3://").rstrip("/") if mlflow.artifact_store_uri else None
    return TrackingGroup(
        tracking_server_arn=mlflow.tracking_server_arn,
        experiment=spec.mlflow_experiment,
        artifact_bucket=store.split("/", 1)[0] if store else None,
        artifact_objects=f"{store}/*" if store else None,
    )
