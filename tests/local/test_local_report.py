"""The run report: every local run writes report.json and one self-contained report.html; `local runs`
lists the runs and `local compare` says what changed between two."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

import sagespec
from sagespec.local import report


@pytest.fixture(scope="module")
def two_runs(blazingtext_run, helpers, tmp_path_factory):
    """The shared BlazingText run, copied, then run again with a threshold it fails: every step up to
    the condition is a cache hit, the FailStep runs instead of the registry."""
    project = helpers.copy_project(blazingtext_run.project, tmp_path_factory.mktemp("report") / "proj")
    first = helpers.latest_run(project)
    again = helpers.run_cli(["local", "run", str(project), "--threshold", "0.99"])
    assert again.code == 1, again.text
    return project, first, helpers.latest_run(project), again


def test_a_run_writes_its_report_and_prints_its_path_last(blazingtext_run):
    run_dir = blazingtext_run.run_dir
    page = run_dir / "report.html"
    assert blazingtext_run.result.out.rstrip().splitlines()[-1] == f"report: {page}"
    html = page.read_text()
    for section in ("dag", "bias", "evaluation", "confusion", "training", "package", "lineage"):
        assert f'id="{section}"' in html
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org", "")
    assert "https://" not in html


def test_the_report_holds_each_section(blazingtext_run):
    found = report.load(blazingtext_run.run_dir)
    assert found is not None and found.status == "succeeded"
    assert [s.name for s in found.steps] == [
        "PrepareData",
        "PreprocessData",
        "CheckDataBias",
        "TrainModel",
        "EvaluateModel",
        "BaselineDataQuality",  # the example monitors its endpoint
        "BaselineModelQuality",
        "CheckEvaluation",
        "RegisterModel",
        "FailPipeline",
    ]
    by_name = {s.name: s for s in found.steps}
    assert by_name["FailPipeline"].status == "skipped" and by_name["RegisterModel"].status == "done"
    assert by_name["TrainModel"].code and by_name["PreprocessData"].code and by_name["TrainModel"].cache_key
    assert {b.metric for b in found.bias} == {"CI", "DPL", "KL", "JS"}
    assert all(b.threshold > 0 for b in found.bias)
    accuracy = next(m for m in found.metrics if m.name == "accuracy")
    assert accuracy.threshold == 0.4 and accuracy.passed is True
    assert found.confusion is not None and found.confusion["labels"] == ["-1", "0", "1"]
    assert sum(map(sum, found.confusion["matrix"])) > 0
    assert found.curves == {}  # no early stopping: the stand-in trains (and prints) once
    assert found.package is not None and found.package.version == 1
    assert re.fullmatch(r"[0-9a-f]{64}", found.lineage.dataset_sha256)
    assert re.fullmatch(r"[0-9a-f]{64}", found.lineage.spec_sha256)
    assert found.lineage.spec_version == 1 and found.lineage.sagespec_version == sagespec.__version__
    assert found.parameters["hyperparameter.vector_dim"] == "50"

    html = (blazingtext_run.run_dir / "report.html").read_text()
    assert html.count('class="node ') == 10
    assert "reported no per-epoch metrics" in html and 'class="threshold"' in html
    assert found.lineage.dataset_sha256[:16] in html and found.lineage.spec_sha256 in html


def test_a_failed_run_reports_the_fail_step_and_the_cache_hits(two_runs):
    _, _, second, again = two_runs
    assert again.out.rstrip().splitlines()[-1] == f"report: {second / 'report.html'}"
    found = report.load(second)
    assert found is not None and found.status == "failed" and found.package is None
    by_name = {s.name: s for s in found.steps}
    assert by_name["TrainModel"].status == "cached" and by_name["TrainModel"].cached_from
    assert by_name["RegisterModel"].status == "skipped" and by_name["FailPipeline"].status == "failed"
    html = (second / "report.html").read_text()
    assert "cache hit" in html and "Not registered: FailPipeline:" in html
    assert next(m for m in found.metrics if m.name == "accuracy").passed is False


def test_runs_lists_each_run(two_runs, helpers):
    project, first, second, _ = two_runs
    listed = helpers.run_cli(["local", "runs", str(project)])
    assert listed.code == 0, listed.text
    lines = listed.out.splitlines()
    assert lines[0].split() == ["run", "started", "status", "metric", "registered"]
    assert lines[1].startswith(first.name) and "succeeded" in lines[1] and "v1" in lines[1]
    assert re.search(r"accuracy 0\.\d{4}", lines[1])
    assert lines[2].startswith(second.name) and "failed" in lines[2] and lines[2].endswith("-")


def test_compare_shows_what_changed(two_runs, helpers):
    project, first, second, _ = two_runs
    shown = helpers.run_cli(["local", "compare", str(project), first.name, second.name])
    assert shown.code == 0, shown.text
    out = shown.out
    assert "  status: succeeded -> failed" in out
    assert "  option.threshold: (none) -> 0.99" in out
    assert "  dataset: " in out  # the copy of the project reads its own copy of the data...
    assert "dataset_sha256" not in out and "spec_sha256" not in out  # ...with the same content
    assert "metrics: same" in out and "step code: same" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["local", "runs", "{tmp}"], "has no spec.yaml: it is not a project generated by sagespec"),
        (["local", "compare", "{project}", "20990101-000000", "{first}"], "20990101-000000: no such run"),
        (["local", "compare", "{project}", "../proj", "{first}"], "../proj: no such run"),
        (["local", "compare", "{project}", "registry", "{first}"], "registry: no such run"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(two_runs, helpers, tmp_path, argv, message):
    project, first, _, _ = two_runs
    values = {"tmp": str(tmp_path), "project": str(project), "first": first.name}
    result = helpers.run_cli([a.format(**values) for a in argv])
    assert result.code == 2
    assert message in result.err and "Traceback" not in result.text
    assert len(result.err.strip().splitlines()) == 1


def test_compare_needs_finished_runs(two_runs, helpers):
    project, first, _, _ = two_runs
    unfinished = project / ".sagespec-runs" / "20000101-000000"
    unfinished.mkdir()
    result = helpers.run_cli(["local", "compare", str(project), unfinished.name, first.name])
    assert result.code == 2 and "no report.json" in result.err
    assert json.loads((first / "report.json").read_text())["run_id"] == first.name
    (project / ".sagespec-runs" / "labeling").mkdir()  # other folders there are no runs
    listed = helpers.run_cli(["local", "runs", str(project)]).out
    assert listed.count("unfinished") == 1 and "labeling" not in listed and "registry" not in listed
    unfinished.rmdir()
    (project / ".sagespec-runs" / "labeling").rmdir()


def _training_run(folder: Path) -> SimpleNamespace:
    return SimpleNamespace(steps=[SimpleNamespace(kind="training", folder=folder)], tuning=None)


def test_curves_come_from_history_json(tmp_path):
    data = tmp_path / "output" / "data"
    data.mkdir(parents=True)
    (data / "history.json").write_text(json.dumps({"loss": [0.9, 0.5, 0.4], "val_accuracy": [0.5, 0.6]}))
    found = report._curves(_training_run(tmp_path), ["validation:accuracy"])
    assert found == {"loss": [0.9, 0.5, 0.4], "val_accuracy": [0.5, 0.6]}


def test_curves_come_from_the_training_log(tmp_path):
    (tmp_path / "logs").mkdir()
    log = "epochs=5\nvalidation:accuracy=0.50\nepochs=6\nvalidation:accuracy=0.55\ntrain:accuracy=0.7\n"
    (tmp_path / "logs" / "output.log").write_text(log)
    found = report._curves(_training_run(tmp_path), ["validation:accuracy", "train:accuracy"])
    assert found == {"validation:accuracy": [0.5, 0.55]}  # one value is no curve


def test_curves_of_a_tuned_model_are_its_best_trials(tmp_path):
    trial = tmp_path / "trials" / "trial-002"
    (trial / "logs").mkdir(parents=True)
    (trial / "logs" / "output.log").write_text("validation:accuracy=0.5\nvalidation:accuracy=0.6\n")
    tuned = SimpleNamespace(
        steps=[SimpleNamespace(kind="tuning", folder=tmp_path)], tuning={"best": {"trial": "trial-002"}}
    )
    assert report._curves(tuned, ["validation:accuracy"]) == {"validation:accuracy": [0.5, 0.6]}
    assert report._curves(SimpleNamespace(steps=tuned.steps, tuning=None), ["validation:accuracy"]) == {}


def test_a_report_that_cannot_be_written_does_not_hide_why_a_run_failed(
    two_runs, helpers, tmp_path, monkeypatch
):
    project = helpers.copy_project(two_runs[0], tmp_path / "proj")

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(report, "collect", broken)
    failed = helpers.run_cli(["local", "run", str(project), "--threshold", "0.99"])
    assert failed.code == 1 and "FailPipeline" in failed.err  # the run's own error, not the report's
    assert "report: not written (OSError: disk full)" in failed.out
    assert not (helpers.latest_run(project) / "report.html").exists()
