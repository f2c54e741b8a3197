"""`sagespec local run` with a monitoring section, then `sagespec local monitor` over traffic of our own
making: the baselines the quality-check steps suggest and the registry records, no violation for traffic
like the training data, violations naming the feature for drifted traffic, model quality from ground
truth, and the errors a user meets."""

from __future__ import annotations

import csv
import json
import random
import shutil
import tarfile
import uuid
from pathlib import Path
from typing import Any

import pytest

from sagespec.deployment import build_deployment
from sagespec.local.registry import drift_check_baselines, latest
from sagespec.local.runs import capture_root, ground_truth_root, monitoring_root, registry_root
from sagespec.project_modules import import_file
from sagespec.spec import load_spec

MONITORING = {"data_quality": {"schedule": "daily"}, "model_quality": {"schedule": "daily"}}
RATING_CLASS = {"1": "-1", "2": "-1", "3": "0", "4": "1", "5": "1"}  # the example spec's label_mapping


class Traffic:
    """Requests answered by the project's own handler with the registered model, written as SageMaker's
    data capture writes them."""

    def __init__(self, project: Path, scratch: Path):
        self.project = project
        spec = load_spec(project / "spec.yaml").spec
        deployment = build_deployment(spec)
        self.folder = capture_root(project) / deployment.endpoint_name / deployment.variants[0].name
        package = latest(registry_root(project), spec.model_package_group)
        assert package is not None
        model_dir = scratch / "model"
        model_dir.mkdir(parents=True, exist_ok=True)
        with tarfile.open(package.path / "model.tar.gz") as tar:
            tar.extractall(model_dir, filter="data")
        handler_path = project / "pipelines" / spec.project.package / "inference.py"
        self.handler = import_file(handler_path, "_test_monitoring_handler", keep=True)
        self.model = self.handler.model_fn(str(model_dir))

    def answer(self, texts: list[str]) -> str:
        return self.handler.output_fn(self.handler.predict_fn(texts, self.model))

    def record(self, texts: list[str], content_type: str = "json", **metadata: str) -> dict[str, Any]:
        if content_type == "json":
            body, encoding, mime = json.dumps({"instances": texts}), "JSON", "application/json"
        else:
            lines = []
            for text in texts:
                lines.append('"' + text.replace('"', '""') + '"')
            body, encoding, mime = "\n".join(lines) + "\n", "CSV", "text/csv"
        return {
            "captureData": {
                "endpointInput": {
                    "observedContentType": mime,
                    "mode": "INPUT",
                    "data": body,
                    "encoding": encoding,
                },
                "endpointOutput": {
                    "observedContentType": "application/json",
                    "mode": "OUTPUT",
                    "data": self.answer(texts),
                    "encoding": "JSON",
                },
            },
            "eventMetadata": {
                "eventId": str(uuid.uuid4()),
                "inferenceTime": "2026-12-01T07:00:00Z",
                **metadata,
            },
            "eventVersion": "0",
        }

    def write(self, records: list[dict[str, Any]], hour: str = "07") -> Path:
        folder = self.folder / "2026" / "12" / "01" / hour
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"00-00-000-{uuid.uuid4()}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        return path

    def reset(self) -> None:
        shutil.rmtree(capture_root(self.project), ignore_errors=True)
        shutil.rmtree(ground_truth_root(self.project), ignore_errors=True)


@pytest.fixture(scope="module")
def monitored(tmp_path_factory, sample_csv, helpers) -> Path:
    """The BlazingText example with both monitors, run once."""
    spec = helpers.blazingtext_spec(monitoring=MONITORING)
    project = helpers.make_project(tmp_path_factory.mktemp("monitored"), spec, sample_csv)
    result = helpers.run_cli(["local", "run", str(project)])
    assert result.code == 0, result.text
    return project


@pytest.fixture
def project(monitored, tmp_path, helpers) -> Path:
    return helpers.copy_project(monitored, tmp_path / "proj")


@pytest.fixture
def traffic(project, tmp_path) -> Traffic:
    return Traffic(project, tmp_path / "scratch")


@pytest.fixture(scope="module")
def reviews(sample_csv) -> dict[str, list[str]]:
    """The sample's review texts by class."""
    by_class: dict[str, list[str]] = {"-1": [], "0": [], "1": []}
    with sample_csv.open(newline="", encoding="utf-8") as lines:
        for row in csv.DictReader(lines):
            if row["Review Text"].strip():
                by_class[RATING_CLASS[row["Rating"]]].append(row["Review Text"])
    return by_class


def balanced(reviews: dict[str, list[str]], per_class: int, seed: int = 3) -> list[str]:
    """Texts like the training data: the spec balances the classes (balance: downsample)."""
    rng = random.Random(seed)
    texts = [text for texts in reviews.values() for text in rng.sample(texts, per_class)]
    rng.shuffle(texts)
    return texts


def monitor(helpers, project: Path, *extra: str):
    return helpers.run_cli(["local", "monitor", str(project), *extra])


def violations(project: Path, variant: str, kind: str) -> list[dict[str, Any]]:
    run = sorted(monitoring_root(project).iterdir())[-1]
    return json.loads((run / variant / kind / "constraint_violations.json").read_text())["violations"]


# ---------------------------------------------------------------------------------------------- baselines


def test_the_run_suggests_the_baselines_and_registers_them(monitored):
    run = sorted(p for p in (monitored / ".sagespec-runs").iterdir() if p.name[0].isdigit())[-1]
    for step in ("BaselineDataQuality", "BaselineModelQuality"):
        record = json.loads((run / step / "step.json").read_text())
        assert record["kind"] == "quality-check" and record["status"] == "done"
    baseline_csv = run / "EvaluateModel" / "processing" / "monitoring" / "data-quality-baseline.csv"
    with baseline_csv.open() as lines:
        rows = list(csv.DictReader(lines))
    features = import_file(next(monitored.glob("pipelines/*/monitoring_features.py")), "_test_features")
    assert list(rows[0]) == list(features.FEATURES)
    model_csv = baseline_csv.with_name("model-quality-baseline.csv")
    with model_csv.open() as lines:
        quality = list(csv.DictReader(lines))
    assert len(quality) == len(rows) > 50
    assert list(quality[0]) == ["label", "prediction", "probability"]
    evaluation = json.loads(
        (run / "EvaluateModel" / "processing" / "evaluation" / "evaluation.json").read_text()
    )
    accuracy = sum(r["label"] == r["prediction"] for r in quality) / len(quality)
    assert accuracy == pytest.approx(evaluation["metrics"]["accuracy"]["value"])

    spec = load_spec(monitored / "spec.yaml").spec
    package = latest(registry_root(monitored), spec.model_package_group)
    document = package.document
    assert set(document["DriftCheckBaselines"]) == {"ModelDataQuality", "ModelQuality"}
    found = drift_check_baselines(package)
    constraints = json.loads(found["ModelQuality"]["Constraints"].read_text())
    assert constraints["multiclass_classification_constraints"]["accuracy"] == {
        "threshold": pytest.approx(accuracy),
        "comparison_operator": "LessThanThreshold",
    }
    statistics = json.loads(found["ModelDataQuality"]["Statistics"].read_text())
    assert statistics["dataset"]["item_count"] == len(rows)
    assert [f["name"] for f in statistics["features"]] == list(features.FEATURES)
    types = {f["name"]: f["inferred_type"] for f in statistics["features"]}
    assert types["characters"] == "Integral" and types["confidence"] == "Fractional"
    assert types["predicted_label"] == "String"  # numeric classes stay categorical ("class 1")


def test_a_rerun_reuses_the_registered_version_with_its_baselines(project, helpers):
    result = helpers.run_cli(["local", "run", str(project)])
    assert result.code == 0, result.text
    assert "already registered" in result.out


# ---------------------------------------------------------------------------------------------- traffic


def test_traffic_like_the_training_data_violates_nothing(project, traffic, reviews, helpers):
    texts = balanced(reviews, 60)
    records = [traffic.record([t]) for t in texts[:120]]
    records += [traffic.record(texts[i : i + 5], "csv") for i in range(120, 180, 5)]  # several texts each
    traffic.write(records)
    result = monitor(helpers, project)
    assert result.code == 0, result.text
    assert "data quality: no violations" in result.out
    variant = traffic.folder.name
    assert violations(project, variant, "data-quality") == []
    run = sorted(monitoring_root(project).iterdir())[-1]
    statistics = json.loads((run / variant / "data-quality" / "statistics.json").read_text())
    assert statistics["dataset"]["item_count"] == 180
    assert (run / "report.html").is_file()
    assert f"report: {run / 'report.html'}" in result.out


def test_much_longer_texts_drift_in_characters_and_words(project, traffic, reviews, helpers):
    texts = [" ".join([text] * 6) for text in balanced(reviews, 30)]
    traffic.write([traffic.record([t]) for t in texts])
    result = monitor(helpers, project)
    assert result.code == 0, result.text
    found = violations(project, traffic.folder.name, "data-quality")
    drifted = {v["feature_name"] for v in found if v["constraint_check_type"] == "baseline_drift_check"}
    assert {"characters", "words"} <= drifted
    assert "mean_word_length" not in drifted  # the same words, only more of them
    assert "characters (baseline_drift_check)" in result.out and "words (baseline_drift_check)" in result.out
    assert all("exceeds threshold" in v["description"] for v in found)


def test_one_class_only_drifts_in_the_predicted_class_shares(project, traffic, reviews, helpers):
    positive = random.Random(5).sample(reviews["1"], 120)
    traffic.write([traffic.record([t]) for t in positive])
    assert monitor(helpers, project).code == 0
    found = violations(project, traffic.folder.name, "data-quality")
    assert any(
        v["feature_name"] == "predicted_label" and v["constraint_check_type"] == "baseline_drift_check"
        for v in found
    ), found


def test_predictions_outside_the_baseline_classes_violate_the_domain(project, traffic, reviews, helpers):
    texts = balanced(reviews, 20)
    records = [traffic.record([t]) for t in texts]
    for record in records:  # a model that answers a class the baseline never saw
        answer = json.loads(record["captureData"]["endpointOutput"]["data"])
        answer["predictions"][0]["label"] = "mystery"
        answer["predictions"][0]["probabilities"] = {"mystery": 0.9}
        record["captureData"]["endpointOutput"]["data"] = json.dumps(answer)
    traffic.write(records)
    assert monitor(helpers, project).code == 0
    checks = {
        (v["feature_name"], v["constraint_check_type"])
        for v in violations(project, traffic.folder.name, "data-quality")
    }
    assert ("predicted_label", "categorical_values_check") in checks


# ---------------------------------------------------------------------------------------------- model quality


def _ground_truth(project: Path, labels: dict[str, str]) -> None:
    folder = ground_truth_root(project) / "2026" / "12" / "01" / "08"
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps(
            {
                "groundTruthData": {"data": label, "encoding": "CSV"},
                "eventMetadata": {"eventId": event},
                "eventVersion": "0",
            }
        )
        for event, label in labels.items()
    ]
    (folder / "review-loop.jsonl").write_text("\n".join(lines) + "\n")


def test_model_quality_is_measured_on_the_labeled_predictions(project, traffic, reviews, helpers):
    texts = balanced(reviews, 20)
    records = [
        traffic.record([t], inferenceId=f"req-{i}") if i % 2 else traffic.record([t])
        for i, t in enumerate(texts)
    ]
    traffic.write(records)
    predicted = [
        json.loads(r["captureData"]["endpointOutput"]["data"])["predictions"][0]["label"] for r in records
    ]
    join = [r["eventMetadata"].get("inferenceId", r["eventMetadata"]["eventId"]) for r in records]
    # People agree with every prediction: accuracy 1 breaks no constraint.
    _ground_truth(project, dict(zip(join, predicted, strict=True)))
    result = monitor(helpers, project)
    assert result.code == 0, result.text
    run = sorted(monitoring_root(project).iterdir())[-1]
    statistics = json.loads((run / traffic.folder.name / "model-quality" / "statistics.json").read_text())
    metrics = statistics["multiclass_classification_metrics"]
    assert statistics["dataset"]["item_count"] == len(texts)
    assert metrics["accuracy"]["value"] == 1.0 and metrics["weighted_f1"]["value"] == 1.0
    assert violations(project, traffic.folder.name, "model-quality") == []
    assert f"{len(texts)} labeled" in result.out

    # People disagree with every other one: accuracy 0.5, under the baseline's.
    classes = sorted(set(predicted) | {"-1", "0", "1"})
    wrong = {
        j: (p if i % 2 else next(c for c in classes if c != p))
        for i, (j, p) in enumerate(zip(join, predicted, strict=True))
    }
    shutil.rmtree(ground_truth_root(project))
    _ground_truth(project, wrong)
    result = monitor(helpers, project, "--fail-on-violation")
    assert result.code == 1
    found = violations(project, traffic.folder.name, "model-quality")
    assert {v["metric_name"] for v in found} >= {"accuracy", "weighted_f1"}
    assert all(v["constraint_check_type"] == "LessThanThreshold" for v in found)
    assert "Metric accuracy with 0.5000 was LessThanThreshold" in result.out


def test_a_request_of_several_texts_is_not_joined_to_ground_truth(project, traffic, reviews, helpers):
    texts = balanced(reviews, 4)
    record = traffic.record(texts)
    traffic.write([record])
    _ground_truth(project, {record["eventMetadata"]["eventId"]: "1"})
    result = monitor(helpers, project)
    assert result.code == 0, result.text
    assert "0 labeled" in result.out and "no captured prediction has a ground-truth label" in result.out


# ---------------------------------------------------------------------------------------------- errors


def test_no_capture_yet_is_a_clear_error(project, helpers):
    result = monitor(helpers, project)
    assert result.code == 2
    assert "no captured traffic" in result.err and "make serve" in result.err
    assert "Traceback" not in result.text


def test_a_malformed_capture_line_names_the_file_and_line(project, traffic, reviews, helpers):
    path = traffic.write([traffic.record([t]) for t in balanced(reviews, 1)])
    with path.open("a") as out:
        out.write("{not json\n")
    result = monitor(helpers, project)
    assert result.code == 2
    assert f"{path}:4:" in result.err and "Traceback" not in result.text

    path.write_text(json.dumps({"captureData": {}, "eventMetadata": {"eventId": "x"}}) + "\n")
    result = monitor(helpers, project)
    assert result.code == 2 and f"{path}:1: the record has no captureData.endpointInput" in result.err


def test_an_unreadable_captured_body_names_the_record(project, traffic, reviews, helpers):
    record = traffic.record(balanced(reviews, 1)[:1])
    record["captureData"]["endpointOutput"]["data"] = "<html>oops</html>"
    path = traffic.write([record])
    result = monitor(helpers, project)
    assert result.code == 2 and f"{path}:1: the captured request or answer cannot be read" in result.err


def test_a_malformed_ground_truth_line_names_the_file_and_line(project, traffic, reviews, helpers):
    traffic.write([traffic.record([t]) for t in balanced(reviews, 1)])
    folder = ground_truth_root(project) / "2026" / "12" / "01" / "08"
    folder.mkdir(parents=True)
    (folder / "loop.jsonl").write_text('{"groundTruthData": {"data": "1"}}\n')
    result = monitor(helpers, project)
    assert result.code == 2 and "loop.jsonl:1: the record has no eventMetadata.eventId" in result.err


def test_no_registered_model_is_a_clear_error(project, traffic, reviews, helpers):
    traffic.write([traffic.record([t]) for t in balanced(reviews, 1)])
    shutil.rmtree(registry_root(project))
    result = monitor(helpers, project)
    assert result.code == 2 and "no model registered" in result.err and "Traceback" not in result.text


def test_a_version_without_baselines_is_a_clear_error(project, traffic, reviews, helpers):
    traffic.write([traffic.record([t]) for t in balanced(reviews, 1)])
    for path in registry_root(project).rglob("*-quality-*.json"):
        path.unlink()
    result = monitor(helpers, project)
    assert result.code == 2 and "has no Model Monitor baselines" in result.err


def test_a_spec_without_monitoring_is_a_clear_error(project, helpers):
    helpers.edit_spec(project, **{"monitoring!": {}})
    result = monitor(helpers, project)
    assert result.code == 2 and "has no monitoring section" in result.err


# ---------------------------------------------------------------------------------------------- the report


def test_the_report_renders_in_headless_chromium(project, traffic, reviews, helpers, tmp_path):
    import os
    import subprocess

    binary = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.skip("Chromium is not installed (apt-get install chromium, or set CHROMIUM=/path/to/it)")
    texts = balanced(reviews, 20)
    records = [traffic.record([" ".join([t] * 5)], inferenceId=f"r{i}") for i, t in enumerate(texts)]
    answer = json.loads(records[0]["captureData"]["endpointOutput"]["data"])
    answer["predictions"][0]["label"] = "<b>bold</b>"  # a hostile class name is text on the page
    records[0]["captureData"]["endpointOutput"]["data"] = json.dumps(answer)
    traffic.write(records)
    _ground_truth(project, {f"r{i}": "1" for i in range(len(texts))})
    assert monitor(helpers, project).code == 0
    page = sorted(monitoring_root(project).iterdir())[-1] / "report.html"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-proxy-server"]
    flags += ["--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(
        [binary, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=90, check=True
    ).stdout
    features = import_file(next(project.glob("pipelines/*/monitoring_features.py")), "_test_features_report")
    for name in features.FEATURES:  # a plot of baseline vs current per feature
        assert f'data-feature="{name}"' in dom
    assert dom.count('class="base"') >= 10 and "drift" in dom
    assert 'id="quality-1"' in dom and "accuracy" in dom  # model quality over the labeled traffic
    assert "baseline_drift_check" in dom and "LessThanThreshold" in dom
    assert "&lt;b&gt;bold&lt;/b&gt;" in dom and "<b>" not in dom
    assert "<script" not in dom


def test_model_quality_is_measured_on_labels_given_through_the_labeling_page(
    project, traffic, reviews, helpers
):
    """The loop of `make serve` -> `make label` -> `make monitor`: the page's answers are the ground truth."""
    import threading
    import urllib.request

    from sagespec.label.cli import prepare_queue
    from sagespec.label.server import LabelingApp, LabelingServer

    texts = balanced(reviews, 4)
    records = [traffic.record([t], inferenceId=f"req-{i}") for i, t in enumerate(texts)]
    traffic.write(records)
    predicted = {
        r["captureData"]["endpointInput"]["data"]: json.loads(r["captureData"]["endpointOutput"]["data"])[
            "predictions"
        ][0]["label"]
        for r in records
    }
    queue = prepare_queue(project, threshold=1.01)  # every captured prediction goes to people
    assert queue.folder.name == "captured-traffic" and len(queue.tasks) == len(texts)
    names = {v: k for k, v in load_spec(project / "spec.yaml").spec.labeling.labels.items()}
    server = LabelingServer(LabelingApp(queue), port=0)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        agreed = 0
        for i, task in enumerate(queue.tasks):
            said = predicted[json.dumps({"instances": [task.input_content["taskObject"]]})]
            if i % 3 == 0:  # people correct every third prediction
                said = next(c for c in ("-1", "0", "1") if c != said)
            else:
                agreed += 1
            body = json.dumps({"answerContent": {"crowd-classifier": {"label": names[int(said)]}}}).encode()
            request = urllib.request.Request(
                f"{server.url}task/{task.name}/submit",
                data=body,
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=10):
                pass
    finally:
        server.shutdown()
        server.server_close()
    result = monitor(helpers, project)
    assert result.code == 0, result.text
    run = sorted(monitoring_root(project).iterdir())[-1]
    statistics = json.loads((run / traffic.folder.name / "model-quality" / "statistics.json").read_text())
    assert statistics["dataset"]["item_count"] == len(texts)
    accuracy = statistics["multiclass_classification_metrics"]["accuracy"]["value"]
    assert accuracy == pytest.approx(agreed / len(texts))
