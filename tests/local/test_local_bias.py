"""CheckDataBias locally: smclarify's pre-training metrics, thresholds, fail_on_violation."""

from __future__ import annotations

import json
import math
import re

import pytest

from sagespec.local.bias import BiasViolation, compute_bias, load_result
from sagespec.spec.models import Bias


def _bias(**kwargs) -> Bias:
    base = {
        "facets": [{"column": "group"}],
        "positive_labels": [1],
        "metrics": {"CI": {"threshold": 0.9}, "DPL": {"threshold": 0.9}},
    }
    return Bias.model_validate(base | kwargs)


def _write(tmp_path, rows: list[tuple[str, str | None]]):
    folder = tmp_path / "bias"
    folder.mkdir()
    lines = ["label,group"] + [f"{label},{'' if g is None else g}" for label, g in rows]
    (folder / "bias.csv").write_text("\n".join(lines) + "\n")
    return folder


def test_metric_values_match_their_definitions(tmp_path):
    # 6 rows of group a (3 positive), 2 rows of group d (2 positive), 1 row without a group.
    rows = [("1", "a")] * 3 + [("-1", "a")] * 3 + [("1", "d")] * 2 + [("0", None)]
    found = compute_bias(_write(tmp_path, rows), _bias(), tmp_path / "out")
    values = {(v.value, v.metric): v.result for v in found.values}
    assert values[("d", "CI")] == pytest.approx((6 - 2) / 8)  # CI = (n_a - n_d) / n
    assert values[("d", "DPL")] == pytest.approx(3 / 6 - 2 / 2)  # DPL = q_a - q_d
    assert values[("a", "CI")] == pytest.approx((2 - 6) / 8)
    assert found.dropped_rows == {"group": 1}
    assert found.breaches == []
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["pre_training_bias_metrics"]["label_value_or_threshold"] == "1"
    assert {e["value_or_threshold"] for e in report["pre_training_bias_metrics"]["facets"]["group"]} == {
        "a",
        "d",
    }
    assert (tmp_path / "out" / "bias-report.png").read_bytes()[:4] == b"\x89PNG"
    again = load_result(tmp_path / "out", _bias())
    assert {(v.value, v.metric): v.result for v in again.values} == values


def test_listed_facet_values_form_one_group_and_breaches_are_absolute(tmp_path):
    rows = [("1", "a")] * 3 + [("-1", "a")] * 3 + [("1", "d")] * 2 + [("1", "e")]
    bias = _bias(facets=[{"column": "group", "values": ["d", "e"]}], metrics={"DPL": {"threshold": 0.3}})
    found = compute_bias(_write(tmp_path, rows), bias, tmp_path / "out")
    [value] = found.values
    assert value.value == "d,e" and value.result == pytest.approx(0.5 - 1.0)
    assert value.breach  # |-0.5| > 0.3
    violation = BiasViolation(found.breaches, found.report)
    assert "group=d,e: DPL = -0.5000, |value| > threshold 0.3" in str(violation)
    assert violation.exit_code == 1


def test_the_example_metrics_on_the_sample(blazingtext_run):
    report = json.loads((blazingtext_run.run_dir / "CheckDataBias" / "report.json").read_text())
    entries = report["pre_training_bias_metrics"]["facets"]["Class Name"]
    assert len(entries) >= 15  # one-vs-rest for every product class in the sample
    for entry in entries:
        metrics = {m["name"]: m["value"] for m in entry["metrics"]}
        assert set(metrics) == {"CI", "DPL", "KL", "JS"}
        assert -1 <= metrics["CI"] <= 1 and -1 <= metrics["DPL"] <= 1
        assert metrics["JS"] >= 0 and math.isfinite(metrics["KL"])
    assert report["constraint_violations"] == []


def test_a_breach_with_fail_on_violation_stops_the_run(blazingtext_run, helpers, tmp_path):
    project = helpers.copy_project(blazingtext_run.project, tmp_path / "proj")
    helpers.edit_spec(project, bias={"metrics!": {"CI": {"threshold": 0.5}}, "fail_on_violation": True})
    result = helpers.run_cli(["local", "run", str(project), "-q"])
    assert result.code == 1
    assert "CheckDataBias:" in result.err and "bias.fail_on_violation is true" in result.err
    assert "Class Name=Dresses" not in result.err  # the biggest class is under the CI threshold
    # A tiny class breaches: facet value, metric, value and threshold are all in the message.
    assert re.search(r"Class Name=[A-Za-z ]+: CI = \+0\.9\d+, \|value\| > threshold 0\.5", result.err)
    assert "Traceback" not in result.text
    run = helpers.latest_run(project)
    assert json.loads((run / "CheckDataBias" / "step.json").read_text())["status"] == "failed"
    assert not (run / "TrainModel").exists()  # the pipeline stopped at the check


def test_a_breach_without_fail_on_violation_warns(blazingtext_run, helpers, tmp_path):
    project = helpers.copy_project(blazingtext_run.project, tmp_path / "proj")
    helpers.edit_spec(project, bias={"metrics!": {"CI": {"threshold": 0.5}}, "fail_on_violation": False})
    result = helpers.run_cli(["local", "run", str(project), "-q"])
    assert result.code == 0, result.text
    assert re.search(r"warning: bias threshold breached: Class Name=[A-Za-z ]+: CI = \+0\.9", result.out)
    assert "fail_on_violation is false: warnings only" in result.out


@pytest.mark.parametrize("hostile", ["cost $5 # $", "$x_1$", r"\frac{a}{b} $", "50% off & $$"])
def test_facet_values_are_drawn_literally_not_as_mathtext(tmp_path, hostile):
    # matplotlib would parse '$...$' as mathtext and fail on the unbalanced ones; facet values are data.
    rows = [("1", hostile)] * 3 + [("-1", hostile)] + [("1", "plain")] * 2 + [("-1", "plain")] * 2
    found = compute_bias(_write_quoted(tmp_path, rows), _bias(), tmp_path / "out")
    assert {v.value for v in found.values} == {hostile, "plain"}
    assert (tmp_path / "out" / "bias-report.png").read_bytes()[:4] == b"\x89PNG"


def _write_quoted(tmp_path, rows: list[tuple[str, str]]):
    import csv

    folder = tmp_path / "bias"
    folder.mkdir()
    with (folder / "bias.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["label", "group"])
        writer.writerows(rows)
    return folder
