"""Data that does not fit the spec: a clear message and exit status 2, never a traceback."""

from __future__ import annotations

import json


def _assert_clean_exit_2(result, *fragments: str) -> None:
    assert result.code == 2, result.text
    assert "Traceback" not in result.text
    for fragment in fragments:
        assert fragment in result.err, result.err


def test_missing_text_column(blazingtext_run, helpers, tmp_path):
    project = helpers.copy_project(blazingtext_run.project, tmp_path / "proj")
    helpers.edit_spec(project, dataset={"text_column": "Review Txt"})
    result = helpers.run_cli(["local", "run", str(project), "-q"])
    _assert_clean_exit_2(result, "error: PrepareData: ", "column 'Review Txt' (--text-column) is not in")
    run = helpers.latest_run(project)
    assert json.loads((run / "PrepareData" / "step.json").read_text())["status"] == "failed"
    assert not (run / "PreprocessData").exists()


def test_unmapped_label_value(blazingtext_run, helpers, tmp_path):
    project = helpers.copy_project(blazingtext_run.project, tmp_path / "proj")
    helpers.edit_spec(project, dataset={"label_mapping!": {1: -1, 2: -1, 3: 0, 4: 1}})
    result = helpers.run_cli(["local", "run", str(project), "-q"])
    _assert_clean_exit_2(result, "error: PrepareData: ", "values not in --label-mapping: '5'")


def test_a_split_that_would_be_empty(blazingtext_run, helpers, tmp_path):
    project = helpers.copy_project(blazingtext_run.project, tmp_path / "proj")
    result = helpers.run_cli(["local", "run", str(project), "--max-rows", "4", "-q"])
    _assert_clean_exit_2(result, "error: PreprocessData: ", "split is empty")


def test_missing_data_file(blazingtext_run, helpers, tmp_path):
    result = helpers.run_cli(
        ["local", "run", str(blazingtext_run.project), "--data", str(tmp_path / "nope.csv")]
    )
    _assert_clean_exit_2(result, "--data: the data file", "nope.csv does not exist")


def test_dataset_source_missing(blazingtext_run, helpers, tmp_path):
    project = helpers.copy_project(blazingtext_run.project, tmp_path / "proj")
    next((project / "data").iterdir()).unlink()
    result = helpers.run_cli(["local", "run", str(project)])
    _assert_clean_exit_2(result, "dataset.source: the data file")


def test_not_a_project(helpers, tmp_path):
    result = helpers.run_cli(["local", "run", str(tmp_path)])
    _assert_clean_exit_2(result, "no spec.yaml in")


def test_other_data_through_data(blazingtext_run, helpers, tmp_path):
    """--data swaps the dataset: PreprocessData reruns on the new file (its input hash changed)."""
    import pandas as pd

    project = helpers.copy_project(blazingtext_run.project, tmp_path / "proj")
    other = tmp_path / "other.csv"
    frame = pd.read_csv(next((project / "data").iterdir()), index_col=0)
    frame.assign(Rating=frame["Rating"].where(frame.index % 50 != 0, 9)).to_csv(other)
    result = helpers.run_cli(["local", "run", str(project), "--data", str(other), "-q"])
    _assert_clean_exit_2(result, "values not in --label-mapping: '9'")
