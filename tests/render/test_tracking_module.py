"""The generated tracking.py (what the step scripts call) against a real MLflow store: jobs of one
execution share its parent run, the oldest when several jobs created one at once, and logging never
fails a job."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

MODULE = Path(__file__).resolve().parents[2] / "template" / "pipelines" / "__pkg__" / "tracking.py"


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("tracking_under_test", MODULE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "reviews")
    monkeypatch.setenv("MLFLOW_ARTIFACT_ROOT", (tmp_path / "artifacts").as_uri())
    monkeypatch.setenv("PIPELINE_EXECUTION_ID", "execution-1")
    monkeypatch.delenv("TRAINING_JOB_NAME", raising=False)
    return module


def _client():
    from mlflow import MlflowClient

    return MlflowClient()


def test_jobs_of_one_execution_nest_under_the_oldest_parent(tracking, tmp_path):
    client = _client()
    experiment = client.create_experiment("reviews", artifact_location=(tmp_path / "artifacts").as_uri())
    tags = {"pipeline_execution_id": "execution-1"}
    # Two jobs that started together each made a parent; the older one is the execution's run.
    oldest = client.create_run(experiment, start_time=1_000, run_name="execution-1", tags=tags).info.run_id
    client.create_run(experiment, start_time=2_000, run_name="execution-1", tags=tags)

    history = tmp_path / "history.json"
    history.write_text('{"loss": [0.9, 0.5]}\n')
    run_id = tracking.log_step(
        "TrainModel",
        params={"epochs": 2, "model_dir": Path("/opt/ml/model")},
        metrics={"seconds": 3.5},
        history={"loss": [0.9, 0.5], "val_loss": [1.0, 0.7]},
        artifacts=[history, tmp_path / "missing.png"],
    )
    run = client.get_run(run_id)
    assert run.data.tags["mlflow.parentRunId"] == oldest
    assert run.data.tags["pipeline_step"] == "TrainModel" and run.info.run_name == "TrainModel"
    assert run.data.params == {"epochs": "2", "model_dir": "/opt/ml/model"}
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "val_loss")] == [(1, 1.0), (2, 0.7)]
    assert [item.path for item in client.list_artifacts(run_id)] == ["history.json"]
    assert client.get_run(oldest).info.status == "FINISHED"


def test_the_first_job_creates_the_parent_and_a_trial_is_named_after_its_job(tracking, monkeypatch):
    monkeypatch.setenv("TRAINING_JOB_NAME", "tune-abc-001-1a2b3c4d")
    first = tracking.log_step("TrainModel", metrics={"accuracy": 0.5})
    second = tracking.log_step("TrainModel", metrics={"accuracy": 0.6})
    client = _client()
    parents = {client.get_run(run).data.tags["mlflow.parentRunId"] for run in (first, second)}
    (parent,) = parents
    assert client.get_run(parent).info.run_name == "execution-1"
    assert client.get_run(first).info.run_name == "TrainModel tune-abc-001-1a2b3c4d"
    experiment = client.get_experiment_by_name("reviews")
    assert experiment.artifact_location.endswith("/artifacts")


def test_a_store_it_cannot_reach_costs_a_warning_not_the_job(tracking, monkeypatch, capsys):
    # As a server ARN is where the sagemaker-mlflow plugin is missing: no installed store serves the URI.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "no-such-store://tracking")
    assert tracking.log_step("EvaluateModel", metrics={"accuracy": 0.5}) is None
    assert "tracking: could not log EvaluateModel to MLflow" in capsys.readouterr().err


def test_without_an_execution_nothing_is_logged(tracking, monkeypatch, tmp_path):
    monkeypatch.delenv("PIPELINE_EXECUTION_ID")
    assert tracking.log_step("PrepareData", metrics={"rows": 1}) is None
    assert not (tmp_path / "mlflow.db").exists()
