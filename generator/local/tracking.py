"""Experiment tracking in a local run: where the step scripts log (MLflow) and which run a run became.

A spec with a ``tracking`` section gets a generated ``tracking.py`` beside its step scripts; they log
when their environment names a pipeline execution. A local run gives every step process that
environment, pointed at a SQLite MLflow store in ``.sagespec-runs/`` (no server to start; ``mlflow ui
--backend-store-uri sqlite:///.sagespec-runs/mlflow.db`` shows it), unless MLFLOW_TRACKING_URI is set
already, which MLflow's own convention makes the user's choice. The local run's id is the execution id,
so each local run is one MLflow run with a nested run per step the run executed (cached steps reuse
their earlier outputs and log nothing).

mlflow itself is imported only to find a run's MLflow run for the registry, and only when the spec
tracks experiments.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..spec.models import Spec
from .runs import runs_root

STORE_FILE = "mlflow.db"
ARTIFACTS_DIR = "mlflow-artifacts"
# The names the generated tracking.py reads (besides MLflow's own MLFLOW_TRACKING_URI and
# MLFLOW_EXPERIMENT_NAME).
EXECUTION_ID_VARIABLE = "PIPELINE_EXECUTION_ID"
ARTIFACT_ROOT_VARIABLE = "MLFLOW_ARTIFACT_ROOT"
EXECUTION_TAG = "pipeline_execution_id"
PARENT_TAG = "mlflow.parentRunId"


def store_uri(project_dir: Path) -> str:
    """Where local runs log: MLFLOW_TRACKING_URI when set, else the project's SQLite store."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{runs_root(project_dir) / STORE_FILE}"


def tracking_environment(spec: Spec, project_dir: Path, run_id: str) -> dict[str, str]:
    """What every step process of run ``run_id`` gets so that it logs to MLflow; empty without tracking."""
    experiment = spec.mlflow_experiment
    if experiment is None:
        return {}
    return {
        "MLFLOW_TRACKING_URI": store_uri(project_dir),
        "MLFLOW_EXPERIMENT_NAME": experiment,
        EXECUTION_ID_VARIABLE: run_id,
        ARTIFACT_ROOT_VARIABLE: (runs_root(project_dir) / ARTIFACTS_DIR).resolve().as_uri(),
    }


def execution_run_id(spec: Spec, project_dir: Path, run_id: str) -> str | None:
    """The MLflow run of local run ``run_id`` (the parent of its steps' runs); None when it logged nothing
    (no tracking section, or every step that logs was reused from the cache)."""
    experiment_name = spec.mlflow_experiment
    store = runs_root(project_dir) / STORE_FILE
    if experiment_name is None or ("MLFLOW_TRACKING_URI" not in os.environ and not store.is_file()):
        return None
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=store_uri(project_dir))
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return None
    runs = client.search_runs([experiment.experiment_id], filter_string=f"tags.{EXECUTION_TAG} = '{run_id}'")
    parents = sorted(
        (run for run in runs if PARENT_TAG not in run.data.tags),
        key=lambda run: (run.info.start_time, run.info.run_id),
    )
    return parents[0].info.run_id if parents else None
