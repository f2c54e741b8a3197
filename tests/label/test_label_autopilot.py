"""`sagespec local label --from run` on an Autopilot project: the run's test split is scored through the
project's inference handler, whose JSON answer is read in the handler's format, not as the CSV that
Autopilot's container answers on SageMaker (read that way, every answer was refused with a traceback)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from sagespec.label.cli import prepare_queue

AUTOPILOT = Path(__file__).resolve().parents[2] / "specs" / "womens-clothing-autopilot.yaml"


@pytest.fixture
def autopilot_run(tmp_path, generate_project) -> Path:
    """The Autopilot example, small: one candidate of the local AutoML search, no bias step, a condition
    every model passes; after one real local run (a few seconds)."""
    from sagespec.local.runner import RunOptions, run_pipeline

    spec = YAML(typ="safe").load(AUTOPILOT.read_text())
    spec["dataset"]["source"] = "reviews.csv"
    spec["bias"]["enabled"] = False
    spec["model"]["max_candidates"] = 1
    spec["evaluation"]["threshold"] = 0.0
    project = generate_project(tmp_path / "label-autopilot", spec)
    result = run_pipeline(RunOptions(project_dir=project, quiet=True, out=io.StringIO()))
    assert result.status == "succeeded" and result.package is not None
    return project


def test_the_run_is_scored_through_the_handler_and_read_as_its_json(autopilot_run, capsys):
    queue = prepare_queue(autopilot_run, source="run", threshold=1.01)  # every prediction is reviewed
    assert "pipelines/reviews_autopilot/inference.py" in capsys.readouterr().out
    assert queue.about["scored"] > 0 and len(queue.tasks) == queue.about["scored"]
    classes = {"-1", "0", "1"}
    for task in queue.tasks:
        prediction = task.input_content["prediction"]
        assert prediction["label"] in classes and set(prediction["probabilities"]) == classes
        assert prediction["confidence"] == max(prediction["probabilities"].values())
