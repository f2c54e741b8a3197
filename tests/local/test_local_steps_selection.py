"""`sagespec local run --steps A,B`: only the named steps run; the steps before them are reused from the
newest earlier run that finished them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sagespec.errors import SagespecError
from sagespec.local.selection import Selection
from sagespec.plan import (
    BIAS_STEP,
    CONDITION_STEP,
    DATA_QUALITY_STEP,
    EVALUATE_STEP,
    FAIL_STEP,
    MODEL_QUALITY_STEP,
    PREPARE_STEP,
    PREPROCESS_STEP,
    REGISTER_STEP,
    TRAIN_STEP,
    build_plan,
)
from sagespec.spec import load_spec

# What follows the work: the example monitors its endpoint, so its baselines come first.
GATES = {DATA_QUALITY_STEP, MODEL_QUALITY_STEP, CONDITION_STEP, REGISTER_STEP, FAIL_STEP}


@pytest.fixture(scope="module")
def plan(helpers):
    return build_plan(load_spec(helpers.REPO / "specs" / "womens-clothing-blazingtext.yaml").spec)


def test_no_selection_runs_everything(plan):
    selection = Selection.of(plan, None)
    assert selection.reused == () and all(selection.runs(step) for step in plan.steps)


def test_the_steps_before_the_selection_are_reused_and_the_work_after_it_left_out(plan):
    selection = Selection.of(plan, [PREPROCESS_STEP])
    assert selection.reused == (PREPARE_STEP,)
    assert selection.left_out == {BIAS_STEP, TRAIN_STEP, EVALUATE_STEP} | GATES


def test_the_condition_and_its_branch_follow_when_the_selection_reaches_them(plan):
    selection = Selection.of(plan, [TRAIN_STEP, EVALUATE_STEP])
    assert selection.reused == (PREPARE_STEP, PREPROCESS_STEP, BIAS_STEP)
    assert selection.left_out == set()
    # Steps between two selected ones are reused too; naming the condition reuses every work step.
    assert Selection.of(plan, [PREPARE_STEP, EVALUATE_STEP]).reused == (
        PREPROCESS_STEP,
        BIAS_STEP,
        TRAIN_STEP,
    )
    assert Selection.of(plan, [CONDITION_STEP]).reused == (
        PREPARE_STEP,
        PREPROCESS_STEP,
        BIAS_STEP,
        TRAIN_STEP,
        EVALUATE_STEP,
    )


def test_an_unknown_step_is_a_bad_input_error_listing_the_plan(plan):
    with pytest.raises(SagespecError) as error:
        Selection.of(plan, [PREPROCESS_STEP, "Preprocess"])
    assert error.value.exit_code == 2
    assert "named Preprocess in" in str(error.value) and ", ".join(plan.names) in str(error.value)


# ------------------------------------------------------------------------------------ on a project
@pytest.fixture
def project(tmp_path, sample_csv, helpers) -> Path:
    return helpers.make_project(tmp_path, helpers.blazingtext_spec(), sample_csv)


def _record(run: Path, step: str) -> dict:
    return json.loads((run / step / "step.json").read_text())


def _statuses(run: Path) -> dict[str, str]:
    return {s["name"]: s["status"] for s in json.loads((run / "run.json").read_text())["steps"]}


def _runs(project: Path) -> list[Path]:
    root = project / ".sagespec-runs"
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name[0].isdigit()) if root.is_dir() else []


def test_a_step_that_never_ran_must_run_first(project, helpers):
    result = helpers.run_cli(["local", "run", str(project), "--steps", PREPROCESS_STEP, "-q"])
    assert result.code == 2
    assert f"--steps: {PREPARE_STEP} has not finished in any earlier run" in result.err
    assert "Traceback" not in result.text
    assert _runs(project) == []  # nothing written


def test_an_unknown_step_name_exits_2(project, helpers):
    result = helpers.run_cli(["local", "run", str(project), "--steps", "TrainModel,Nope"])
    assert result.code == 2
    assert "no step named Nope" in result.err and PREPROCESS_STEP in result.err
    assert _runs(project) == []


def test_selected_steps_run_on_the_outputs_of_the_newest_earlier_run(project, helpers):
    first = helpers.run_cli(["local", "run", str(project), "--steps", PREPARE_STEP, "-q"])
    assert first.code == 0, first.text
    (first_run,) = _runs(project)
    assert _record(first_run, PREPARE_STEP)["status"] == "done"
    assert _statuses(first_run)[PREPROCESS_STEP] == "skipped"
    assert f"{PREPROCESS_STEP}: skipped (not in --steps)" in first.out

    # --no-cache forces the selected step; the one before it is reused all the same.
    second = helpers.run_cli(["local", "run", str(project), "--steps", PREPROCESS_STEP, "--no-cache", "-q"])
    assert second.code == 0, second.text
    second_run = _runs(project)[-1]
    reused = _record(second_run, PREPARE_STEP)
    assert reused["status"] == "reused" and Path(reused["cached_from"]).parent == first_run
    assert reused["key"] is None  # a reused folder is never a cache hit for a later run's key
    assert f"reused (from run {first_run.name})" in second.out
    assert _record(second_run, PREPROCESS_STEP)["status"] == "done"
    assert any((second_run / PREPROCESS_STEP / "processing/output/train").iterdir())
    statuses = _statuses(second_run)
    assert {name for name, status in statuses.items() if status == "skipped"} == {
        BIAS_STEP,
        TRAIN_STEP,
        EVALUATE_STEP,
        *GATES,
    }
    run_record = json.loads((second_run / "run.json").read_text())
    assert run_record["status"] == "succeeded" and run_record["options"]["steps"] == [PREPROCESS_STEP]

    # A reused step can be reused again: the newest finished copy is taken.
    third = helpers.run_cli(["local", "run", str(project), "--steps", PREPROCESS_STEP, "-q"])
    assert third.code == 0, third.text
    third_run = _runs(project)[-1]
    assert Path(_record(third_run, PREPARE_STEP)["cached_from"]).parent == second_run
    assert _record(third_run, PREPROCESS_STEP)["status"] == "cached"


def test_the_condition_and_registration_follow_a_selected_evaluation(blazingtext_run, helpers, tmp_path):
    project = helpers.copy_project(blazingtext_run.project, tmp_path / "proj")
    result = helpers.run_cli(["local", "run", str(project), "--steps", EVALUATE_STEP, "--no-cache", "-q"])
    assert result.code == 0, result.text
    run = _runs(project)[-1]
    statuses = _statuses(run)
    for name in (PREPARE_STEP, PREPROCESS_STEP, BIAS_STEP, TRAIN_STEP):
        assert statuses[name] == "reused", name
        assert Path(_record(run, name)["cached_from"]).parent.name == blazingtext_run.run_dir.name
    assert statuses[EVALUATE_STEP] == "done" and statuses[CONDITION_STEP] == "done"
    assert statuses[REGISTER_STEP] == "done" and statuses[FAIL_STEP] == "skipped"
    # What the reused steps produced reaches the summary as a cache hit's would.
    assert "bias (" in result.out and "training: " in result.out and "registered: " in result.out
