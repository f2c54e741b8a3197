"""The local stand-in for Autopilot (sagespec.local.automl): a real search over the candidate families on a
small data set, under the training contract; its leaderboard; its best candidate, which the generated
project's own inference handler loads and serves; and the per-candidate time limit."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import random
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from sagespec.local.automl import families
from sagespec.local.automl.search import Settings, objective_score, run_candidate

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "template" / "pipelines" / "__pkg__"
WORDS = {
    "-1": "awful poor ripped cheap returned scratchy tight ugly",
    "0": "okay average fine decent plain alright mixed so-so",
    "1": "lovely gorgeous perfect soft flattering great beautiful comfy",
}
FILLER = ["the", "dress", "fabric", "color", "size", "fit", "this", "it", "was", "and", "i"]


def reviews(count: int, seed: int) -> list[tuple[str, str]]:
    """Short reviews whose class shows in some of their words (and noise words in all)."""
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        label = list(WORDS)[index % 3]
        words = rng.sample(WORDS[label].split(), 2) + rng.sample(FILLER, 5)
        rng.shuffle(words)
        rows.append((" ".join(words).capitalize() + ".", label))
    return rows


def write_channel(folder: Path, rows: list[tuple[str, str]], parts: int = 2) -> Path:
    folder.mkdir(parents=True)
    for part in range(parts):
        with (folder / f"part-{part}.csv").open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["text", "label"])
            writer.writerows(rows[part::parts])
    return folder


def load_inference() -> Any:
    spec = importlib.util.spec_from_file_location("project_inference", PACKAGE / "inference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One AutoML job with 5 candidates (every family once), run as the local runner runs it."""
    root = tmp_path_factory.mktemp("automl")
    config = root / "input" / "config"
    config.mkdir(parents=True)
    settings = {
        "max_candidates": "5",
        "objective": "F1macro",
        "mode": "ENSEMBLING",
        "max_runtime_per_training_job_seconds": "120",
        "max_total_runtime_seconds": "600",
        "target": "label",
    }
    (config / "hyperparameters.json").write_text(json.dumps(settings))
    env = os.environ | {
        "SM_INPUT_CONFIG_DIR": str(config),
        "SM_CHANNEL_TRAIN": str(write_channel(root / "input" / "data" / "train", reviews(240, 1))),
        "SM_CHANNEL_VALIDATION": str(write_channel(root / "input" / "data" / "validation", reviews(60, 2))),
        "SM_MODEL_DIR": str(root / "model"),
        "SM_OUTPUT_DATA_DIR": str(root / "output" / "data"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "sagespec.local.automl"], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (root / "stdout.txt").write_text(result.stdout)
    return root


def test_every_family_is_tried_and_ranked_on_the_objective(job: Path) -> None:
    with (job / "output" / "data" / "leaderboard.csv").open() as table:
        rows = list(csv.DictReader(table))
    assert {row["family"] for row in rows} == set(families.FAMILIES)
    assert [row["candidate"] for row in rows if row["rank"] == "1"]
    assert all(row["objective"] == "F1macro" and row["status"] == "done" for row in rows)
    values = [float(row["value"]) for row in rows]
    assert values == sorted(values, reverse=True)
    assert all(json.loads(row["hyperparameters"]) for row in rows)
    assert all(float(row["seconds"]) > 0 for row in rows)
    markdown = (job / "output" / "data" / "leaderboard.md").read_text()
    assert markdown.count("\n| ") == len(rows) + 2  # header, separator, one line per candidate
    assert (job / "output" / "data" / "leaderboard.png").stat().st_size > 1000
    # The job reports the best candidate's objective as its metric.
    assert f"validation:objective={float(rows[0]['value']):.6f}" in (job / "stdout.txt").read_text()


def test_the_best_candidate_is_served_by_the_projects_handler(job: Path) -> None:
    inference = load_inference()
    model = inference.model_fn(str(job / "model"))
    assert sorted(model.classes) == ["-1", "0", "1"]
    body = json.dumps({"instances": ["Lovely, gorgeous and soft.", "Awful and ripped, returned it."]})
    answer = json.loads(inference.output_fn(inference.predict_fn(inference.input_fn(body), model)))
    assert [p["label"] for p in answer["predictions"]] == ["1", "-1"]
    for prediction in answer["predictions"]:
        assert set(prediction["probabilities"]) == {"-1", "0", "1"}
        assert sum(prediction["probabilities"].values()) == pytest.approx(1, abs=1e-3)


def test_evaluate_scores_the_best_candidate_on_the_test_split(job: Path, tmp_path: Path) -> None:
    """evaluate.py (the project's EvaluateModel) reads the packed candidate and the test CSV parts."""
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    with tarfile.open(model_dir / "model.tar.gz", "w:gz") as tar:
        for path in (job / "model").iterdir():
            tar.add(path, arcname=path.name)
    test_dir = write_channel(tmp_path / "test", reviews(60, 3))
    (test_dir / "labels.json").write_text(json.dumps({"classes": ["-1", "0", "1"]}))
    out = tmp_path / "evaluation"
    command = [sys.executable, str(PACKAGE / "evaluate.py"), "--model-type", "autopilot"]
    command += ["--model-dir", str(model_dir), "--test-dir", str(test_dir), "--output-dir", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=PACKAGE)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((out / "evaluation.json").read_text())
    assert report["metrics"]["accuracy"]["value"] > 0.8


def test_fasttext_candidates_tokenize_as_the_project_does() -> None:
    spec = importlib.util.spec_from_file_location("project_format", PACKAGE / "blazingtext_format.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for text in ["Don't &amp; it's GREAT!!", "__label__5 stars, 100%", "naïve   café\n"]:
        assert families.fasttext_tokens(text) == module.blazingtext_tokens(text)
    for label in ["very bad", "5%", "-1"]:
        assert families.fasttext_label(label) == module.blazingtext_label(label)


def test_a_candidate_past_its_time_limit_is_stopped(tmp_path: Path) -> None:
    rows = reviews(60, 4)
    data = ([text for text, _ in rows], [label for _, label in rows])
    settings = Settings(max_candidates=1, objective="Accuracy", max_runtime_per_job=0.0, max_total_runtime=1)
    candidate = run_candidate("candidate-001", "tfidf-boosted", {}, data, data, settings, 0.0, tmp_path)
    assert candidate.status == "timeout" and candidate.score is None


@pytest.mark.parametrize(
    ("objective", "expected"),
    [
        ("Accuracy", 3 / 4),
        ("BalancedAccuracy", 5 / 6),  # the mean of the recalls 1/2, 1, 1
        ("RecallMacro", 5 / 6),
        ("PrecisionMacro", 5 / 6),  # 1, 1/2, 1
        ("F1macro", 7 / 9),  # 2/3, 2/3, 1
    ],
)
def test_objectives_are_autopilots_multiclass_metrics(objective: str, expected: float) -> None:
    truth, predicted = ["a", "a", "b", "c"], ["a", "b", "b", "c"]
    assert objective_score(objective, truth, predicted) == pytest.approx(expected)
