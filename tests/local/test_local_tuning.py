"""The local hyperparameter search (`sagespec local tune`, and TuneModel in `sagespec local run`): the
spec's ranges searched with Optuna, each trial a real training job with the fastText stand-in."""

from __future__ import annotations

import csv
import hashlib
import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from sagespec.local.training import TrainingJob
from sagespec.local.tuning import Dimension, SearchSettings, epoch_value, run_search
from sagespec.plan import build_plan
from sagespec.render.context_tuning import tuning_group
from sagespec.spec import load_spec
from sagespec.spec.models import CategoricalRange, ContinuousRange, IntegerRange, Objective, Tuning

pytest.importorskip("optuna")
pytest.importorskip("fasttext")

MAX_ROWS = "1500"
TUNED = ("learning_rate", "vector_dim", "word_ngrams")
# A small, fast search: 20k hash buckets, small embeddings, one pass of training per trial.
TUNING = {
    "strategy": "Bayesian",
    "objective": {"metric": "validation:accuracy"},
    "max_jobs": 20,
    "max_parallel_jobs": 2,
    "ranges": {
        "learning_rate": {"type": "continuous", "min": 0.05, "max": 1.0, "scaling": "Logarithmic"},
        "vector_dim": {"type": "integer", "min": 10, "max": 40},
        "word_ngrams": {"type": "integer", "min": 1, "max": 2},
    },
}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def tuned(tmp_path_factory, sample_csv, helpers):
    """A tuning project on the sample, searched once with `sagespec local tune` (5 trials, 2 at once)."""
    spec = helpers.blazingtext_spec(model={"hyperparameters": {"epochs": 5}}, tuning=TUNING)
    for name in TUNED:  # tuned now, so no longer fixed
        spec["model"]["hyperparameters"].pop(name)
    project = helpers.make_project(tmp_path_factory.mktemp("tuning"), spec, sample_csv)
    result = helpers.run_cli(
        ["local", "tune", str(project), "--trials", "5", "--parallel", "2", "--max-rows", MAX_ROWS, "-q"]
    )
    assert result.code == 0, result.text
    return project, helpers.latest_run(project), result


def test_local_tune_runs_the_search_and_keeps_the_best_model(tuned):
    project, run, result = tuned
    step = run / "TuneModel"
    rows = _rows(step / "tuning" / "results.csv")
    assert [row["TrainingJobName"] for row in rows] == [f"trial-{n:03d}" for n in range(1, 6)]
    assert {row["TrainingJobStatus"] for row in rows} == {"Completed"}
    # Each trial trained with its own values, in its own folder, under the training contract.
    seen = set()
    for row in rows:
        given = json.loads(
            (step / "trials" / row["TrainingJobName"] / "input/config/hyperparameters.json").read_text()
        )
        assert {name: given[name] for name in TUNED} == {name: row[name] for name in TUNED}
        assert given["buckets"] == "20000" and given["epochs"] == "5"  # the static ones, from the plan
        assert 0.05 <= float(row["learning_rate"]) <= 1.0 and 10 <= int(row["vector_dim"]) <= 40
        seen.add(tuple(row[name] for name in TUNED))
    assert len(seen) == 5
    # The best trial is the highest objective, and its model is the step's model output.
    best = max(rows, key=lambda row: float(row["FinalObjectiveValue"]))
    record = json.loads((step / "step.json").read_text())
    assert record["details"]["best"]["trial"] == best["TrainingJobName"]
    assert record["details"]["best"]["objective"] == pytest.approx(float(best["FinalObjectiveValue"]))
    assert record["details"]["parallel"] == 2 and record["details"]["sampler"] == "TPESampler"
    best_model = step / "trials" / best["TrainingJobName"] / "output" / "model.tar.gz"
    assert _digest(step / "output" / "model.tar.gz") == _digest(best_model)
    assert (
        json.loads((step / "tuning" / "best.json").read_text())["TrainingJobName"] == best["TrainingJobName"]
    )
    # The Markdown table has the same trials, best first; the plots are PNG images.
    markdown = (step / "tuning" / "results.md").read_text()
    table = [line for line in markdown.splitlines() if line.startswith("| ") and "trial-" in line]
    assert len(table) == 5 and best["TrainingJobName"] in table[0]
    for plot in ("objective_by_trial.png", "objective_vs_hyperparameters.png"):
        data = (step / "tuning" / plot).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000
    # `local tune` stops after the search: evaluation and registration are `local run`'s.
    assert not (run / "EvaluateModel").exists()
    assert "best trial-" in result.out and "TuneModel" in result.out


def test_local_run_evaluates_the_best_trials_model(tuned, helpers, tmp_path):
    project = helpers.copy_project(tuned[0], tmp_path / "copy")
    helpers.edit_spec(project, tuning={"max_jobs": 5})  # what `local tune --trials 5` searched
    result = helpers.run_cli(["local", "run", str(project), "--max-rows", MAX_ROWS, "-q"])
    assert result.code == 0, result.text
    run = helpers.latest_run(project)
    # The same search (same spec, trials and parallelism) is reused from `local tune`'s run.
    assert json.loads((run / "TuneModel" / "step.json").read_text())["status"] == "cached"
    evaluate = json.loads((run / "EvaluateModel" / "step.json").read_text())
    assert evaluate["status"] == "done"
    copied = run / "EvaluateModel" / "processing" / "model" / "model.tar.gz"
    assert _digest(copied) == _digest(tuned[1] / "TuneModel" / "output" / "model.tar.gz")


def _finished_job(project: Path, run: Path, folder: Path, **hyperparameters: str) -> TrainingJob:
    """A TuneModel-like training job on the finished run's preprocessed data."""
    spec = load_spec(project / "spec.yaml").spec
    step = build_plan(spec).step("TuneModel")
    channels = {
        name: run / "PreprocessData" / "processing" / "output" / name for name in ("train", "validation")
    }
    return TrainingJob(
        name="TuneModel",
        folder=folder,
        hyperparameters={**step.hyperparameters, **hyperparameters},
        channels=channels,
        script=None,
        project_dir=project,
        instance_type=spec.model.instance_type,
    )


def _with_tuning(project: Path, tuning: Tuning):
    # Built directly: the spec checks would refuse these ranges (a value the stand-in rejects, Hyperband
    # for BlazingText), which is the point of the tests below.
    return load_spec(project / "spec.yaml").spec.model_copy(update={"tuning": tuning})


def test_grid_runs_each_combination_once_and_survives_a_failed_trial(tuned, tmp_path):
    project, run, _ = tuned
    tuning = Tuning(
        strategy="Grid",
        objective=Objective(metric="validation:accuracy"),
        max_parallel_jobs=2,
        ranges={
            "word_ngrams": CategoricalRange(type="categorical", values=[1, 2, "two"]),  # "two": ClientError
            "vector_dim": CategoricalRange(type="categorical", values=[10, 20]),
        },
    )
    settings = SearchSettings.from_spec(_with_tuning(project, tuning))
    assert (settings.trials, settings.parallel) == (6, 2)
    job = _finished_job(project, run, tmp_path / "TuneModel")
    found = run_search(settings, job, ["validation:accuracy"], say=lambda line: None)
    pairs = [(t.hyperparameters["word_ngrams"], t.hyperparameters["vector_dim"]) for t in found.trials]
    assert sorted(pairs) == sorted((w, d) for w in ("1", "2", "two") for d in ("10", "20"))
    for trial in found.trials:
        if trial.hyperparameters["word_ngrams"] == "two":
            assert trial.status == "Failed" and trial.objective is None
            assert "word_ngrams" in trial.message  # the stand-in's ClientError
        else:
            assert trial.status == "Completed" and 0 < trial.objective <= 1
    completed = [t for t in found.trials if t.status == "Completed"]
    assert found.best.objective == max(t.objective for t in completed)
    rows = _rows(found.files["csv"])
    assert [row["TrainingJobStatus"] for row in rows].count("Failed") == 2
    assert all(row["FailureReason"] for row in rows if row["TrainingJobStatus"] == "Failed")


def test_hyperband_stops_hopeless_trials(tuned, tmp_path):
    project, run, _ = tuned
    tuning = Tuning(
        strategy="Hyperband",
        objective=Objective(metric="validation:accuracy"),
        max_jobs=5,
        max_parallel_jobs=1,
        ranges={
            # A learning rate of 1e-7 learns next to nothing: its accuracy trails from the first epoch.
            "learning_rate": CategoricalRange(type="categorical", values=[1.0, 0.0000001]),
            "vector_dim": CategoricalRange(type="categorical", values=[10, 20]),
        },
    )
    settings = SearchSettings.from_spec(_with_tuning(project, tuning))
    assert settings.pruner_name() == "HyperbandPruner(min_resource=1, max_resource=5)"  # static epochs
    # 4 epochs, reported every epoch: the stand-in's early stopping from epoch 1 on, never giving up itself.
    settings = replace(settings, max_resource=4, seed=42)
    job = _finished_job(
        project, run, tmp_path / "TuneModel", epochs="4", early_stopping="true", min_epochs="1", patience="99"
    )
    found = run_search(settings, job, ["validation:accuracy"], say=lambda line: None)
    assert all(t.epochs for t in found.trials)  # every trial fed its per-epoch objective to the pruner
    stopped = [t for t in found.trials if t.status == "Stopped"]
    assert stopped, [(t.hyperparameters, t.status, t.epochs) for t in found.trials]
    for trial in stopped:
        assert trial.hyperparameters["learning_rate"] == "1e-07"
        assert len(trial.epochs) < 4 and not (trial.folder / "output" / "model.tar.gz").exists()
        assert trial.objective == trial.epochs[-1][1]  # its last reported value, as SageMaker shows it
    assert found.best.hyperparameters["learning_rate"] == "1.0"


def test_scaling_maps_onto_optuna():
    def dim(rng):
        return Dimension.from_range("x", rng)

    assert dim(ContinuousRange(type="continuous", min=1e-4, max=1e-1, scaling="Logarithmic")).log
    assert dim(ContinuousRange(type="continuous", min=1e-4, max=1e-1)).log  # Auto: 3 orders of magnitude
    assert not dim(ContinuousRange(type="continuous", min=0.1, max=0.9)).log  # Auto: less than 2
    assert not dim(ContinuousRange(type="continuous", min=0.0, max=10.0)).log  # Auto: min 0
    assert not dim(IntegerRange(type="integer", min=1, max=1000)).log  # Auto: integers are linear
    assert dim(IntegerRange(type="integer", min=1, max=1000, scaling="Logarithmic")).log
    reverse = dim(ContinuousRange(type="continuous", min=0.9, max=0.999, scaling="ReverseLogarithmic"))
    assert reverse.reverse and reverse.scale == "reverse-log"

    import optuna

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    values = [float(reverse.suggest(study.ask())) for _ in range(400)]
    assert all(0.9 <= v <= 0.999 for v in values)
    # Sampled log-uniformly in 1 - x: as many values in [0.99, 0.999] as in [0.9, 0.99].
    near_max = sum(v >= 0.99 for v in values) / len(values)
    assert 0.4 < near_max < 0.6


def test_local_search_reads_the_ranges_the_pipeline_renders(tuned):
    spec = load_spec(tuned[0] / "spec.yaml").spec
    rendered = tuning_group(spec, build_plan(spec))
    assert rendered is not None
    settings = SearchSettings.from_spec(spec)
    assert [d.name for d in settings.dimensions] == list(rendered.ranges)
    for dimension in settings.dimensions:
        rng = rendered.ranges[dimension.name]
        assert (dimension.low, dimension.high) == (rng["min"], rng["max"])
    assert (settings.trials, settings.parallel) == (rendered.max_jobs, rendered.max_parallel_jobs)
    assert settings.sampler_name() == "TPESampler" and settings.metric == rendered.objective_metric


def test_epoch_lines_of_both_trainers():
    assert epoch_value(
        "epoch=3 train:loss=0.5 validation:accuracy=0.8125 validation:loss=0.4", "validation:accuracy"
    ) == (3, 0.8125)
    stand_in = "epochs=4 #train_accuracy: 0.9000  #validation_accuracy: 0.7000  (0.1s)"
    assert epoch_value(stand_in, "validation:accuracy") == (4, 0.7)
    assert epoch_value(stand_in, "train:accuracy") == (4, 0.9)
    assert epoch_value("validation:accuracy=0.5", "validation:accuracy") is None  # the final line
    assert epoch_value("epoch=2 train:loss=nan", "validation:accuracy") is None
    assert math.isnan(epoch_value("epoch=2 validation:loss=nan", "validation:loss")[1])


def test_local_tune_needs_a_tuning_section(tmp_path, sample_csv, helpers):
    project = helpers.make_project(tmp_path, helpers.blazingtext_spec(), sample_csv)
    result = helpers.run_cli(["local", "tune", str(project), "--trials", "2"])
    assert result.code != 0
    assert "no tuning section" in result.err
