"""Experiment tracking with MLflow: each job of a pipeline execution logs to one MLflow run.

The step scripts call :func:`log_step` once, when their work is done. Every pipeline execution gets one
parent run in the experiment, named after the execution (SageMaker's pipeline execution id, or the local
run's id), and every job a run nested under it holding the job's parameters, metrics and artifacts.

What the jobs read from their environment (pipeline.py sets it on every job; `sagespec local run` on
every step process):

    MLFLOW_TRACKING_URI      where to log: on SageMaker the tracking server's ARN, which the
                             sagemaker-mlflow plugin (requirements.txt) resolves and signs requests for;
                             locally a SQLite store in .sagespec-runs/
    MLFLOW_EXPERIMENT_NAME   the experiment the runs belong to
    PIPELINE_EXECUTION_ID    the execution the job belongs to: names and tags the parent run
    MLFLOW_ARTIFACT_ROOT     where a new experiment keeps its artifacts (local runs only; the tracking
                             server has its own artifact store)

Without PIPELINE_EXECUTION_ID (a script run by hand, the project's unit tests) nothing is logged and
mlflow is not imported.

SageMaker starts a pipeline's jobs without telling them about each other, so there is no run id to pass
down: each job finds the parent run by the execution's tag and creates it when it is the first. Jobs
that start together (the instances of a processing job, parallel tuning trials) may each create one;
all of them then adopt the oldest and delete their own duplicate.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

EXECUTION_ID_VARIABLE = "PIPELINE_EXECUTION_ID"
ARTIFACT_ROOT_VARIABLE = "MLFLOW_ARTIFACT_ROOT"
EXECUTION_TAG = "pipeline_execution_id"
STEP_TAG = "pipeline_step"
# MLflow's own tag that nests a run under another (mlflow.utils.mlflow_tags.MLFLOW_PARENT_RUN_ID).
PARENT_TAG = "mlflow.parentRunId"
# MLflow refuses parameter values longer than this (mlflow.utils.validation.MAX_PARAM_VAL_LENGTH).
PARAM_VALUE_MAX = 6000

# When this job started: the script imports this module first thing, so the step's run spans its work.
STARTED_MS = int(time.time() * 1000)


def enabled() -> bool:
    """Whether this job logs: it belongs to a pipeline execution (pipeline.py or the local runner said so)."""
    return bool(os.environ.get(EXECUTION_ID_VARIABLE))


def log_step(
    step: str,
    *,
    params: Mapping[str, Any] | None = None,
    metrics: Mapping[str, float] | None = None,
    history: Mapping[str, Sequence[float]] | None = None,
    artifacts: Iterable[Path] = (),
) -> str | None:
    """Log this job as a run nested under its pipeline execution's run; return its run id (None when
    tracking is off, or when logging failed).

    Logging is best effort: the job's outputs do not depend on it, so a tracking server that cannot be
    reached (or a role that may not use it) costs a warning in the job's log, not the pipeline.

    ``history`` holds metric series, one value per epoch, as Keras's ``History.history`` does (logged
    with MLflow's step = the epoch's number); ``artifacts`` are files uploaded under the run's
    artifacts. A training job of a tuning job is named after the job as well, so each trial has its own
    run.
    """
    if not enabled():
        return None
    try:
        return _log_step(step, params or {}, metrics or {}, history or {}, artifacts)
    except Exception as err:  # any failure of the client, the plugin or the server
        print(f"tracking: could not log {step} to MLflow: {type(err).__name__}: {err}", file=sys.stderr)
        return None


def _log_step(
    step: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    history: Mapping[str, Sequence[float]],
    artifacts: Iterable[Path],
) -> str:
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    client = MlflowClient()
    execution_id = os.environ[EXECUTION_ID_VARIABLE]
    experiment_id = _experiment_id(client)
    parent_id = _parent_run_id(client, experiment_id, execution_id)
    job = os.environ.get("TRAINING_JOB_NAME")
    run = client.create_run(
        experiment_id,
        start_time=STARTED_MS,
        run_name=f"{step} {job}" if job else step,
        tags={PARENT_TAG: parent_id, EXECUTION_TAG: execution_id, STEP_TAG: step},
    )
    run_id = run.info.run_id
    now = int(time.time() * 1000)
    logged = [Metric(name, float(value), now, 0) for name, value in metrics.items()]
    for name, values in history.items():
        logged += [Metric(name, float(value), now, epoch) for epoch, value in enumerate(values, start=1)]
    client.log_batch(
        run_id,
        metrics=logged,
        params=[Param(name, str(value)[:PARAM_VALUE_MAX]) for name, value in params.items()],
    )
    for path in artifacts:
        if path.is_file():
            client.log_artifact(run_id, str(path))
    client.set_terminated(run_id)
    # The execution's run ends with its last job (so far): the UI then shows it finished, spanning them.
    client.set_terminated(parent_id)
    return run_id


def _experiment_id(client: Any) -> str:
    from mlflow.exceptions import MlflowException

    name = os.environ["MLFLOW_EXPERIMENT_NAME"]
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    try:
        return str(client.create_experiment(name, artifact_location=os.environ.get(ARTIFACT_ROOT_VARIABLE)))
    except MlflowException:
        # Another job created it in the meantime.
        return str(client.get_experiment_by_name(name).experiment_id)


def _parent_run_id(client: Any, experiment_id: str, execution_id: str) -> str:
    found = _parent_runs(client, experiment_id, execution_id)
    if found:
        return found[0]
    created = client.create_run(
        experiment_id, start_time=STARTED_MS, run_name=execution_id, tags={EXECUTION_TAG: execution_id}
    ).info.run_id
    oldest = (_parent_runs(client, experiment_id, execution_id) or [created])[0]
    if oldest != created:
        client.delete_run(created)  # another job of the same execution made it first
    return oldest


def _parent_runs(client: Any, experiment_id: str, execution_id: str) -> list[str]:
    """The ids of the execution's parent runs, oldest first."""
    quoted = execution_id.replace("'", "\\'")
    runs = client.search_runs([experiment_id], filter_string=f"tags.{EXECUTION_TAG} = '{quoted}'")
    parents = [run for run in runs if PARENT_TAG not in run.data.tags]
    parents.sort(key=lambda run: (run.info.start_time, run.info.run_id))
    return [run.info.run_id for run in parents]
