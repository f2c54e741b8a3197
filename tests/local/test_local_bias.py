"""CheckDataBias locally: smclarify's pre-training metrics, thresholds, fail_on_violation."""

from __future__ import annotations

import json
import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sagespec.errors import DataError
from sagespec.local.bias import BiasCheck, BiasViolation, compute_bias, load_result, read_bias_table
from sagespec.spec import load_spec_text
from sagespec.spec.models import Bias


def _bias(**kwargs) -> BiasCheck:
    base = {
        "facets": [{"column": "group"}],
        "positive_labels": [1],
        "metrics": {"CI": {"threshold": 0.9}, "DPL": {"threshold": 0.9}},
    }
    return BiasCheck.of(Bias.model_validate(base | kwargs))


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


# ---------------------------------------------------------------------------------------------- parts
# PreprocessData writes the bias output as headerless parts, bias/bias-<part>.csv, one per row part.

ROWS = [("1", "a")] * 3 + [("-1", "a")] * 3 + [("1", "d")] * 2 + [("0", None)]


def _write_parts(tmp_path, parts: list[list[tuple[str, str | None]]], names: list[str] | None = None):
    folder = tmp_path / "parts"
    folder.mkdir()
    for name, rows in zip(names or [f"bias-{i:05d}.csv" for i in range(len(parts))], parts, strict=True):
        (folder / name).write_text("".join(f"{label},{'' if g is None else g}\n" for label, g in rows))
    return folder


def test_headerless_parts_give_the_metrics_of_one_headered_file(tmp_path):
    whole = compute_bias(_write(tmp_path, ROWS), _bias(), tmp_path / "one")
    parts = _write_parts(tmp_path, [ROWS[:2], ROWS[2:7], ROWS[7:]])
    found = compute_bias(parts, _bias(), tmp_path / "out", columns=["label", "group"])
    assert {(v.value, v.metric): v.result for v in found.values} == {
        (v.value, v.metric): v.result for v in whole.values
    }
    assert found.rows == len(ROWS) and found.dropped_rows == {"group": 1}


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(0, len(ROWS)), max_size=5).map(sorted))
def test_the_parts_are_read_in_name_order_whatever_the_cut(tmp_path_factory, cuts):
    bounds = [0, *cuts, len(ROWS)]
    parts = [ROWS[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    # Names that sort differently as text and as numbers: the order is the names' (as S3 lists them).
    names = [f"bias-{chr(ord('a') + i)}{10 - i}.csv" for i in range(len(parts))]
    folder = _write_parts(tmp_path_factory.mktemp("bias"), parts, names)
    table = read_bias_table(folder, ["label", "group"])
    read = [(label, g if isinstance(g, str) else None) for label, g in table.itertuples(index=False)]
    assert read == ROWS  # an empty facet value is missing (NaN), as in one file


def test_an_old_headered_bias_csv_is_still_read_with_the_columns_given(tmp_path):
    table = read_bias_table(_write(tmp_path, ROWS), ["label", "group"])
    assert len(table) == len(ROWS) and list(table.columns) == ["label", "group"]
    assert table.iloc[0].tolist() == ["1", "a"]


def test_the_columns_are_named_by_the_spec_not_read_from_the_first_row(tmp_path):
    # A headerless part whose first row happens to hold a value called "label" is still data.
    folder = _write_parts(tmp_path, [[("group", "label"), ("1", "a")]])
    table = read_bias_table(folder, ["label", "group"])
    assert table.values.tolist() == [["group", "label"], ["1", "a"]]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no .csv files in"),
        ("1,a,extra\n", "has 3 columns, not the 2 of ['label', 'group']"),
        ("", "has no rows"),
    ],
)
def test_a_bad_bias_output_is_a_data_error_naming_the_folder(tmp_path, content, message):
    folder = tmp_path / "bias"
    folder.mkdir()
    if content is not None:
        (folder / "bias-00000.csv").write_text(content)
    with pytest.raises(DataError, match=re.escape(message)) as caught:
        compute_bias(folder, _bias(), tmp_path / "out", columns=["label", "group"])
    assert str(folder) in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_bias_columns_are_label_facets_then_the_group(example_text):
    spec = load_spec_text(example_text()).spec
    facets = list(spec.dataset.facet_columns)
    assert facets and spec.bias_columns[: len(facets) + 1] == ["label", *facets]
    with_group = spec.model_copy(update={"bias": spec.bias.model_copy(update={"group_column": "Age"})})
    assert with_group.bias_columns == ["label", *facets, "Age"]
    # A group column that is a facet already is not listed twice.
    as_facet = spec.model_copy(update={"bias": spec.bias.model_copy(update={"group_column": facets[0]})})
    assert as_facet.bias_columns == ["label", *facets]


def test_the_checks_settings_cross_to_its_process_unchanged():
    """The bias check's process gets the spec's bias section as JSON (BiasCheck, without pydantic)."""
    settings = _bias(
        facets=[{"column": "group", "values": ["d", 7]}, {"column": "other"}],
        positive_labels=[1, "yes"],
        group_column="cohort",
        fail_on_violation=False,
    )
    assert BiasCheck.from_json(settings.to_json()) == settings
    assert settings.facets == (("group", ("d", "7")), ("other", ()))
    assert settings.thresholds == {"CI": 0.9, "DPL": 0.9}
    assert settings.positive_labels == ("1", "yes")
