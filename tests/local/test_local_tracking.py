"""Experiment tracking in a local run: the step scripts log to a SQLite MLflow store in .sagespec-runs/,
one parent run per local run with a run nested under it per step (params, metrics, artifacts), and the
registered version links to it. Without a `tracking` section nothing is logged and mlflow is never
imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sagespec.local.registry import PACKAGE_FILE

ARN = "arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/reviews"
TRACKING = {"mlflow": {"tracking_server_arn": ARN, "experiment": "reviews-sentiment"}}
# The steps whose code is the project's: BlazingText's training job is AWS's algorithm (locally its
# stand-in), which logs nothing on SageMaker either.
LOGGED_STEPS = {"PrepareData", "PreprocessData", "EvaluateModel"}


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory, sample_csv, helpers):
    workdir = tmp_path_factory.mktemp("tracking")
    project = helpers.make_project(workdir, helpers.blazingtext_spec(tracking=TRACKING), sample_csv)
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    with pytest.MonkeyPatch.context() as mp:
        for key in set(os.environ) - set(env):
            mp.delenv(key)
        result = helpers.run_cli(["local", "run", str(project)])
    assert result.code == 0, result.text
    return project, helpers.latest_run(project), result


def _client(project: Path):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{project / '.sagespec-runs' / 'mlflow.db'}")


def test_one_parent_run_per_local_run_with_a_nested_run_per_step(tracked_run):
    project, run_dir, _ = tracked_run
    client = _client(project)
    experiment = client.get_experiment_by_name("reviews-sentiment")
    assert experiment.artifact_location.startswith((project / ".sagespec-runs" / "mlflow-artifacts").as_uri())
    runs = client.search_runs([experiment.experiment_id])
    (parent,) = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    assert parent.info.run_name == run_dir.name  # the local run's id is the execution id
    children = {run.info.run_name: run for run in runs if run is not parent}
    assert set(children) == LOGGED_STEPS
    for name, child in children.items():
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id, name
        assert child.data.tags["pipeline_execution_id"] == run_dir.name
        assert child.info.status == "FINISHED"

    prepare = children["PrepareData"].data
    assert prepare.params["text_column"] == "Review Text" and prepare.metrics["rows_read"] > 0
    assert children["PreprocessData"].data.metrics["train_rows"] > 0
    evaluation = json.loads(
        (run_dir / "EvaluateModel" / "processing" / "evaluation" / "evaluation.json").read_text()
    )
    evaluate = children["EvaluateModel"]
    assert evaluate.data.metrics["test_accuracy"] == pytest.approx(evaluation["metrics"]["accuracy"]["value"])
    artifacts = {item.path for item in client.list_artifacts(evaluate.info.run_id)}
    assert artifacts == {"evaluation.json", "confusion_matrix.png"}


def test_the_registered_version_links_to_its_mlflow_run(tracked_run):
    project, run_dir, result = tracked_run
    client = _client(project)
    experiment = client.get_experiment_by_name("reviews-sentiment")
    (parent,) = client.search_runs(
        [experiment.experiment_id], filter_string=f"attributes.run_name = '{run_dir.name}'"
    )
    package = next((project / ".sagespec-runs" / "registry").glob(f"*/1/{PACKAGE_FILE}"))
    metadata = json.loads(package.read_text())["CustomerMetadataProperties"]
    assert metadata["mlflow_run_id"] == parent.info.run_id
    assert f"mlflow: run {parent.info.run_id}" in result.out


def test_without_tracking_nothing_is_logged(blazingtext_run):
    runs = blazingtext_run.project / ".sagespec-runs"
    assert not (runs / "mlflow.db").exists() and not (runs / "mlflow-artifacts").exists()
    package = next((runs / "registry").glob(f"*/1/{PACKAGE_FILE}"))
    assert "mlflow_run_id" not in json.loads(package.read_text())["CustomerMetadataProperties"]


# A step script run as its container runs it, reporting whether mlflow was imported.
PROBE = """
import runpy, sys
sys.argv = [sys.argv[1], *sys.argv[2:]]
sys.path.insert(0, sys.argv[0].rsplit("/", 1)[0])
runpy.run_path(sys.argv[0], run_name="__main__")
print("mlflow imported:", "mlflow" in sys.modules)
"""


def _run_prepare(project: Path, run_dir: Path, output: Path) -> subprocess.CompletedProcess[str]:
    """PrepareData's script again, on the run's raw data, by hand (no pipeline execution)."""
    record = json.loads((run_dir / "PrepareData" / "step.json").read_text())
    arguments = list(record["arguments"])
    arguments[arguments.index("--input-dir") + 1] = str(
        run_dir / "PrepareData" / "processing" / "input" / "data"
    )
    arguments[arguments.index("--output-dir") + 1] = str(output)
    script = next((project / "pipelines").glob("*/prepare.py"))
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MLFLOW_", "PIPELINE_"))}
    return subprocess.run(
        [sys.executable, "-c", PROBE, str(script), *arguments],
        capture_output=True,
        text=True,
        env=env,
        cwd=project,
    )


def test_a_step_script_of_a_project_without_tracking_never_imports_mlflow(blazingtext_run, tmp_path):
    result = _run_prepare(blazingtext_run.project, blazingtext_run.run_dir, tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert "mlflow imported: False" in result.stdout
    assert (tmp_path / "out" / "rows").is_dir()


def test_a_step_script_run_by_hand_logs_nothing_even_with_tracking(tracked_run, tmp_path):
    project, run_dir, _ = tracked_run
    store = project / ".sagespec-runs" / "mlflow.db"
    before = store.stat().st_mtime_ns
    result = _run_prepare(project, run_dir, tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert "mlflow imported: False" in result.stdout
    assert store.stat().st_mtime_ns == before
