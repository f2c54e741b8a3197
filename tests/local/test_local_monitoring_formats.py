"""The monitored features of a generated project (monitoring_features.py) and Model Monitor's file
formats and checks (sagespec.local.monitoring), without a pipeline run."""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path
from types import SimpleNamespace

import pytest

from sagespec.errors import DataError
from sagespec.local.monitoring import constraints, model_quality
from sagespec.local.monitoring.baseline import suggest_baseline
from sagespec.local.monitoring.captures import jsonl_files, read_captures, read_ground_truth
from sagespec.local.monitoring.statistics import dataset_statistics
from sagespec.project_modules import import_file

MONITORING = {"data_quality": {"schedule": "daily"}, "model_quality": {"schedule": "daily"}}
AWKWARD = [
    "Love it!! Fits perfectly, 10/10 &amp; I&#39;d buy again.",
    "  Runs   small\n\tsize up  ",
    "__label__5 is what I'd give it — naïve café style",
    "don't, won't; it's 100% cotton?",
    "",
]


@pytest.fixture(scope="module")
def project(tmp_path_factory, sample_csv, helpers) -> Path:
    spec = helpers.blazingtext_spec(monitoring=MONITORING)
    return helpers.make_project(tmp_path_factory.mktemp("features"), spec, sample_csv)


@pytest.fixture(scope="module")
def features(project):
    return import_file(next(project.glob("pipelines/*/monitoring_features.py")), "_test_monitoring_features")


@pytest.fixture(scope="module")
def handler(project):
    return import_file(next(project.glob("pipelines/*/inference.py")), "_test_monitoring_inference")


def test_the_module_is_generated_only_with_monitoring(tmp_path, sample_csv, helpers, project):
    plain = helpers.make_project(tmp_path, helpers.blazingtext_spec(**{"monitoring!": {}}), sample_csv)
    assert not list(plain.glob("pipelines/*/monitoring_features.py"))
    assert list(project.glob("pipelines/*/monitoring_features.py"))


def test_the_module_needs_nothing_but_the_standard_library(project):
    import ast
    import sys

    source = next(project.glob("pipelines/*/monitoring_features.py")).read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}


def test_the_features_of_a_text(features):
    row = features.features("Hello, world 42!", "1", 0.875)
    assert list(row) == list(features.FEATURES)
    # tokens: hello , world 42 ! -> 14 characters, 3 words (12 characters), 10 letters
    assert row == {
        "characters": 14,
        "words": 3,
        "mean_word_length": 4.0,
        "non_letter_share": round(1 - 10 / 14, 4),
        "predicted_label": "class 1",  # a class that reads as a number stays a string column
        "confidence": 0.875,
    }
    assert features.features("", "pos", None)["predicted_label"] == "pos"
    assert features.features("", "pos", None)["confidence"] is None


@pytest.mark.parametrize("text", AWKWARD)
def test_a_text_counts_alike_raw_tokenized_and_cleaned(features, handler, text):
    """The handler gets the raw text, BlazingText's image the tokens, Autopilot's container the cleaned
    text (deploy/payload.py): the baseline and the monitor must see the same numbers for each."""
    raw = features.features(text, "1", 0.5)
    assert features.features(handler.blazingtext_tokens(text), "1", 0.5) == raw
    assert features.features(handler.clean_text(text), "1", 0.5) == raw


def test_the_handlers_json_and_csv(features):
    answer = {
        "predictions": [
            {"label": "1", "probabilities": {"-1": 0.1, "0": 0.2, "1": 0.7}},
            {"label": "-1", "probabilities": {"-1": 0.6, "0": 0.3, "1": 0.1}},
        ]
    }
    texts = ["Great, really great", 'She said "meh"']
    expected = [("Great, really great", "1", 0.7), ('She said "meh"', "-1", 0.6)]
    request = json.dumps({"instances": texts})
    assert features.captured_predictions(request, "JSON", json.dumps(answer), "JSON") == expected
    csv_body = '"Great, really great"\n"She said ""meh"""\n'
    assert features.captured_predictions(csv_body, "CSV", json.dumps(answer), "JSON") == expected
    one = json.dumps({"inputs": "Great, really great"})
    single = {"predictions": answer["predictions"][:1]}
    assert features.captured_predictions(one, "JSON", json.dumps(single), "JSON") == expected[:1]
    encoded = base64.b64encode(request.encode()).decode()
    assert features.captured_predictions(encoded, "BASE64", json.dumps(answer), "JSON") == expected


def test_blazingtexts_and_autopilots_formats(features):
    request = json.dumps({"instances": ["great dress", "too small"], "configuration": {"k": 3}})
    answer = [
        {"label": ["__label__1", "__label__0", "__label__-1"], "prob": [0.8, 0.15, 0.05]},
        {"label": ["__label__-1", "__label__1"], "prob": [0.55, 0.45]},
    ]
    assert features.captured_predictions(request, "JSON", json.dumps(answer), "JSON") == [
        ("great dress", "1", 0.8),
        ("too small", "-1", 0.55),
    ]
    autopilot = "1.0,0.9,\"[0.05, 0.05, 0.9]\",\"['-1', '0', '1']\"\n0\n"
    assert features.captured_predictions("great dress\ntoo small\n", "CSV", autopilot, "CSV") == [
        ("great dress", "1", 0.9),
        ("too small", "0", None),
    ]


@pytest.mark.parametrize(
    ("request_body", "answer"),
    [
        (
            json.dumps({"instances": ["a", "b"]}),
            json.dumps({"predictions": [{"label": "1"}]}),
        ),  # 2 texts, 1 answer
        (json.dumps({"texts": ["a"]}), json.dumps({"predictions": [{"label": "1"}]})),
        ("a\n", "<html>Bad gateway</html>"),  # CSV that names no class
        ("a\n", json.dumps({"answer": 1})),
        (json.dumps({"instances": ["a"]}), json.dumps([{"label": [], "prob": []}])),
    ],
)
def test_unreadable_captures_raise_value_error(features, request_body, answer):
    encoding = "JSON" if request_body.startswith("{") else "CSV"
    with pytest.raises((ValueError, KeyError)):
        features.captured_predictions(request_body, encoding, answer, "JSON")


def _record(data_in: str, data_out: str) -> SimpleNamespace:
    return SimpleNamespace(
        endpoint_input=SimpleNamespace(data=data_in, encoding="JSON"),
        endpoint_output=SimpleNamespace(data=data_out, encoding="JSON"),
    )


def test_preprocess_handler_gives_a_row_per_text(features):
    answer = {
        "predictions": [
            {"label": "1", "probabilities": {"1": 0.9}},
            {"label": "0", "probabilities": {"0": 0.6}},
        ]
    }
    rows = features.preprocess_handler(
        _record(json.dumps({"instances": ["nice", "ok I guess"]}), json.dumps(answer))
    )
    assert [list(row) for row in rows] == [list(features.FEATURES)] * 2
    assert [row["predicted_label"] for row in rows] == ["class 1", "class 0"]

    warnings = []
    logger = SimpleNamespace(warning=warnings.append)
    assert features.preprocess_handler(_record("{", "{}"), logger) == []
    assert len(warnings) == 1 and "skipping" in warnings[0]


# ---------------------------------------------------------------------------------------------- statistics


def test_statistics_have_model_monitors_schema():
    rows = [{"n": str(i), "x": f"{i / 3:.3f}", "s": "ab"[i % 2], "gone": ""} for i in range(40)]
    rows.append({"n": "", "x": "1.5", "s": "a", "gone": ""})
    statistics = dataset_statistics(rows, ["n", "x", "s", "gone"])
    assert statistics["version"] == 0.0 and statistics["dataset"] == {"item_count": 41}
    n, x, s, gone = statistics["features"]
    assert [f["inferred_type"] for f in (n, x, s, gone)] == ["Integral", "Fractional", "String", "Unknown"]
    numbers = n["numerical_statistics"]
    assert set(numbers) == {"common", "mean", "sum", "std_dev", "min", "max", "distribution"}
    assert numbers["common"] == {"num_present": 40, "num_missing": 1}
    assert numbers["mean"] == pytest.approx(19.5) and numbers["min"] == 0 and numbers["max"] == 39
    kll = numbers["distribution"]["kll"]
    assert len(kll["buckets"]) == 10 and sum(b["count"] for b in kll["buckets"]) == 40
    assert set(kll["buckets"][0]) == {"lower_bound", "upper_bound", "count"}
    assert kll["sketch"]["parameters"] == {"c": 0.64, "k": 2048.0} and len(kll["sketch"]["data"][0]) == 40
    strings = s["string_statistics"]
    assert strings["common"] == {"num_present": 41, "num_missing": 0} and strings["distinct_count"] == 2
    assert {b["value"]: b["count"] for b in strings["distribution"]["categorical"]["buckets"]} == {
        "a": 21,
        "b": 20,
    }


def test_suggested_constraints_have_model_monitors_schema():
    rows = [{"n": str(i), "s": "ab"[i % 2], "neg": str(-i)} for i in range(20)]
    suggested = constraints.suggest(dataset_statistics(rows, ["n", "s", "neg"]))
    assert suggested["version"] == 0.0
    n, s, neg = suggested["features"]
    assert n == {
        "name": "n",
        "inferred_type": "Integral",
        "completeness": 1.0,
        "num_constraints": {"is_non_negative": True},
    }
    assert neg["num_constraints"] == {"is_non_negative": False}
    assert s["string_constraints"] == {"domains": ["a", "b"]}
    config = suggested["monitoring_config"]
    assert config["evaluate_constraints"] == "Enabled" and config["emit_metrics"] == "Enabled"
    assert config["datatype_check_threshold"] == 0.1 and config["domain_content_threshold"] == 0.1
    assert config["distribution_constraints"] == {
        "perform_comparison": "Enabled",
        "comparison_threshold": 0.1,
        "comparison_method": "Robust",
        "categorical_comparison_threshold": 0.1,
        "categorical_drift_method": "LInfinity",
    }


def _check(baseline_rows, current_rows, columns, **config):
    baseline = dataset_statistics(baseline_rows, columns)
    suggested = constraints.suggest(baseline)
    suggested["monitoring_config"]["distribution_constraints"].update(config)
    current_columns = list(dict.fromkeys(k for row in current_rows for k in row))
    current = dataset_statistics(current_rows, current_columns)
    values = {c: [str(r[c]) for r in current_rows if r.get(c) not in (None, "")] for c in current_columns}
    return {
        (v["feature_name"], v["constraint_check_type"])
        for v in constraints.check(current, suggested, baseline, values)["violations"]
    }


def _normal(n: int, mean: float, seed: int) -> list[dict[str, str]]:
    rng = random.Random(seed)
    return [{"x": f"{rng.gauss(mean, 1):.4f}", "c": rng.choice("aab")} for _ in range(n)]


def test_a_sample_of_the_same_distribution_violates_nothing():
    assert _check(_normal(1000, 0, 1), _normal(200, 0, 2), ["x", "c"]) == set()


def test_a_shifted_distribution_is_drift():
    assert ("x", "baseline_drift_check") in _check(_normal(1000, 0, 1), _normal(200, 1.0, 2), ["x", "c"])


def test_the_robust_method_forgives_what_chance_explains():
    """Ten requests differ from the baseline by more than 0.1 by chance alone: only Simple says drift."""
    small = _normal(10, 0, 4)
    assert ("x", "baseline_drift_check") not in _check(_normal(1000, 0, 1), small, ["x", "c"])
    assert ("x", "baseline_drift_check") in _check(
        _normal(1000, 0, 1), small, ["x", "c"], comparison_method="Simple"
    )


def test_column_type_completeness_and_domain_checks():
    baseline = _normal(200, 0, 1)
    current = [{"x": "oops" if i % 3 == 0 else "0.1", "c": "z", "extra": "1"} for i in range(30)]
    current += [{"c": "a"} for _ in range(10)]  # x missing
    found = _check(baseline, current, ["x", "c"])
    assert {
        ("x", "data_type_check"),
        ("x", "completeness_check"),
        ("c", "categorical_values_check"),
        ("extra", "extra_column_check"),
    } <= found
    assert ("x", "missing_column_check") in _check(baseline, [{"c": "a"}] * 5, ["x", "c"])


# ---------------------------------------------------------------------------------------------- model quality


def test_multiclass_metrics_match_scikit_learn():
    from sklearn.metrics import accuracy_score, fbeta_score, precision_score, recall_score

    rng = random.Random(0)
    truth = [rng.choice("abc") for _ in range(300)]
    predicted = [t if rng.random() < 0.7 else rng.choice("abc") for t in truth]
    section = model_quality.statistics(truth, predicted)[model_quality.SECTION]
    assert section["accuracy"]["value"] == pytest.approx(accuracy_score(truth, predicted))
    assert section["weighted_recall"]["value"] == pytest.approx(
        recall_score(truth, predicted, average="weighted")
    )
    assert section["weighted_precision"]["value"] == pytest.approx(
        precision_score(truth, predicted, average="weighted")
    )
    for name, beta in (("weighted_f0_5", 0.5), ("weighted_f1", 1), ("weighted_f2", 2)):
        assert section[name]["value"] == pytest.approx(
            fbeta_score(truth, predicted, beta=beta, average="weighted")
        )
    assert 0 < section["accuracy"]["standard_deviation"] < 0.1
    assert section["confusion_matrix"]["a"]["a"] == sum(
        t == p == "a" for t, p in zip(truth, predicted, strict=True)
    )
    assert section["accuracy_best_constant_classifier"]["value"] == pytest.approx(
        max(truth.count(c) for c in "abc") / 300
    )


def test_model_quality_constraints_and_their_violations(tmp_path):
    baseline = tmp_path / "model-quality-baseline.csv"
    baseline.write_text("label,prediction,probability\n" + "a,a,0.9\n" * 8 + "b,a,0.6\n" * 2)
    details = suggest_baseline("model-quality", baseline, tmp_path / "out")
    assert details == {"rows": 10, "accuracy": 0.8}
    suggested = json.loads((tmp_path / "out" / "constraints.json").read_text())
    rules = suggested["multiclass_classification_constraints"]
    assert rules["accuracy"] == {"threshold": 0.8, "comparison_operator": "LessThanThreshold"}
    assert set(rules) == set(model_quality.CONSTRAINED)
    worse = model_quality.statistics(["a", "b", "a", "b"], ["a", "a", "b", "b"])
    found = model_quality.check(worse, suggested)["violations"]
    assert {v["metric_name"] for v in found} >= {"accuracy"}
    accuracy = next(v for v in found if v["metric_name"] == "accuracy")
    assert accuracy == {
        "constraint_check_type": "LessThanThreshold",
        "description": "Metric accuracy with 0.5000 was LessThanThreshold '0.8000'",
        "metric_name": "accuracy",
    }
    assert model_quality.check(model_quality.statistics(["a"] * 5, ["a"] * 5), suggested) == {
        "violations": []
    }


# ---------------------------------------------------------------------------------------------- files


def test_malformed_capture_and_ground_truth_lines_name_file_and_line(tmp_path):
    folder = tmp_path / "Current" / "2026" / "12" / "01" / "07"
    folder.mkdir(parents=True)
    good = {
        "captureData": {
            "endpointInput": {"data": "{}", "encoding": "JSON"},
            "endpointOutput": {"data": "{}", "encoding": "JSON"},
        },
        "eventMetadata": {"eventId": "e1", "inferenceId": "i1"},
    }
    path = folder / "a.jsonl"
    path.write_text(json.dumps(good) + "\n\n[1, 2]\n")
    with pytest.raises(DataError, match=rf"{path}:3: not a JSON object"):
        read_captures(jsonl_files(tmp_path / "Current"))
    path.write_text(json.dumps(good) + "\n")
    (record,) = read_captures(jsonl_files(tmp_path / "Current"))
    assert record.join_id == "i1" and record.where == f"{path}:1"

    truth = tmp_path / "gt" / "2026" / "12" / "01" / "08" / "loop.jsonl"
    truth.parent.mkdir(parents=True)
    truth.write_text(
        json.dumps({"groundTruthData": {"data": 1, "encoding": "CSV"}, "eventMetadata": {"eventId": "i1"}})
        + "\n"
    )
    assert read_ground_truth(tmp_path / "gt") == {"i1": "1"}
    truth.write_text(
        json.dumps({"groundTruthData": {"data": ["x"]}, "eventMetadata": {"eventId": "i1"}}) + "\n"
    )
    with pytest.raises(DataError, match=rf"{truth}:1: groundTruthData.data must be the class label"):
        read_ground_truth(tmp_path / "gt")
