"""Caching: unchanged steps are reused from an earlier finished run; changes and --no-cache rerun."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

WORK_STEPS = ["PrepareData", "PreprocessData", "CheckDataBias", "TrainModel", "EvaluateModel"]


def _statuses(run: Path) -> dict[str, str]:
    return {s["name"]: s["status"] for s in json.loads((run / "run.json").read_text())["steps"]}


def _registry_versions(project: Path) -> list[str]:
    group = project / ".sagespec-runs" / "registry" / "reviews-blazingtext-models"
    return sorted(p.name for p in group.iterdir())


def test_rerun_is_cached(blazingtext_run, helpers, tmp_path):
    project = helpers.copy_project(blazingtext_run.project, tmp_path / "proj")
    result = helpers.run_cli(["local", "run", str(project)])
    assert result.code == 0, result.text
    run = helpers.latest_run(project)
    assert run != project / ".sagespec-runs" / blazingtext_run.run_dir.name
    statuses = _statuses(run)
    assert [statuses[name] for name in WORK_STEPS] == ["cached"] * 5
    assert result.out.count("cached (from run ") == 5 + 2  # the work steps and the example's two baselines
    assert statuses["BaselineDataQuality"] == statuses["BaselineModelQuality"] == "cached"
    # The reused outputs are in the new run's own folder.
    evaluation = Path("EvaluateModel/processing/evaluation/evaluation.json")
    assert (run / evaluation).read_bytes() == (blazingtext_run.run_dir / evaluation).read_bytes()
    assert (run / "TrainModel/output/model.tar.gz").is_file()
    # The same model is not registered twice.
    assert statuses["RegisterModel"] == "done" and _registry_versions(project) == ["1"]
    assert "unchanged model: existing version" in result.out


def test_no_cache_runs_every_step(blazingtext_run, helpers, tmp_path):
    project = helpers.copy_project(blazingtext_run.project, tmp_path / "proj")
    result = helpers.run_cli(["local", "run", str(project), "--no-cache", "--quiet"])
    assert result.code == 0, result.text
    statuses = _statuses(helpers.latest_run(project))
    assert [statuses[name] for name in WORK_STEPS] == ["done"] * 5
    assert "cached" not in result.out.split("\n\n")[0]  # the progress part
    assert _registry_versions(project) == ["1", "2"]  # --no-cache registers a new version


# evaluate.py itself, or the module it picks for the model (imported inside a function).
@pytest.mark.parametrize("edited", ["evaluate.py", "predict_blazingtext.py"])
def test_a_changed_script_reruns_its_step_only(blazingtext_run, helpers, tmp_path, edited):
    project = helpers.copy_project(blazingtext_run.project, tmp_path / "proj")
    script = next(project.glob(f"pipelines/*/{edited}"))
    script.write_text(script.read_text() + "\n# a harmless edit\n")
    result = helpers.run_cli(["local", "run", str(project), "-q"])
    assert result.code == 0, result.text
    statuses = _statuses(helpers.latest_run(project))
    assert [statuses[name] for name in WORK_STEPS] == ["cached"] * 4 + ["done"]


def test_a_failed_step_is_never_reused_and_earlier_outputs_stay(blazingtext_run, helpers, tmp_path):
    project = helpers.copy_project(blazingtext_run.project, tmp_path / "proj")
    script = next(project.glob("pipelines/*/evaluate.py"))
    original = script.read_text()
    script.write_text("import sys\nprint('evaluation exploded', file=sys.stderr)\nsys.exit(3)\n")
    failed = helpers.run_cli(["local", "run", str(project), "-q"])
    assert failed.code == 1
    assert "EvaluateModel failed (exit code 3)" in failed.err and "evaluation exploded" in failed.err
    failed_run = helpers.latest_run(project)
    record = json.loads((failed_run / "EvaluateModel" / "step.json").read_text())
    assert record["status"] == "failed" and record["key"] is None
    assert (failed_run / "TrainModel" / "output" / "model.tar.gz").is_file()  # nothing produced is lost
    assert (failed_run / "EvaluateModel" / "logs" / "output.log").is_file()

    script.write_text(original)
    again = helpers.run_cli(["local", "run", str(project), "-q"])
    assert again.code == 0, again.text
    statuses = _statuses(helpers.latest_run(project))
    assert statuses["EvaluateModel"] == "cached"  # reused from the first, finished run, not the failed one
    cached_from = json.loads((helpers.latest_run(project) / "EvaluateModel" / "step.json").read_text())[
        "cached_from"
    ]
    assert Path(cached_from).parent.name == blazingtext_run.run_dir.name


def test_a_step_script_is_keyed_with_the_modules_beside_it_that_it_imports(tmp_path):
    from sagespec.local.artifacts import script_digest

    (tmp_path / "preprocess.py").write_text("import json\n\ndef f():\n    import tfrecord_format\n")
    (tmp_path / "tfrecord_format.py").write_text("from feature_store import x\n")
    (tmp_path / "feature_store.py").write_text("x = 1\n")
    (tmp_path / "pipeline.py").write_text("# not imported by the script\n")
    before = script_digest(tmp_path / "preprocess.py")
    assert sorted(before) == ["feature_store.py", "preprocess.py", "tfrecord_format.py"]
    (tmp_path / "pipeline.py").write_text("# edited\n")
    assert script_digest(tmp_path / "preprocess.py") == before
    (tmp_path / "feature_store.py").write_text("x = 2\n")
    assert script_digest(tmp_path / "preprocess.py") != before


def test_a_training_script_is_keyed_with_its_modules_and_the_handler_its_export_ships(tmp_path):
    """A BERT train.py imports its batches, model and loop from beside it: editing any of them, or the
    inference.py the export copies, is a new training step (its cached model is not reused)."""
    from types import SimpleNamespace

    from sagespec.local.steps import training_program

    train = tmp_path / "train.py"
    session = SimpleNamespace(script=lambda step: tmp_path / step.script)

    def training_script_digest(script: Path) -> str:  # the implementation part of TrainModel's key
        found, implementation = training_program(session, SimpleNamespace(script=script.name))
        assert found == script
        return implementation

    train.write_text("from token_batches import batches\nfrom training_loop import Trainer\n")
    (tmp_path / "token_batches.py").write_text("batches = 1\n")
    (tmp_path / "training_loop.py").write_text("Trainer = object\n")
    (tmp_path / "evaluate.py").write_text("# another step's script\n")
    keys = [training_script_digest(train)]
    (tmp_path / "evaluate.py").write_text("# edited\n")
    assert training_script_digest(train) == keys[0]
    for edited in ("training_loop.py", "token_batches.py", "train.py"):
        (tmp_path / edited).write_text((tmp_path / edited).read_text() + "# edited\n")
        keys.append(training_script_digest(train))
    (tmp_path / "inference.py").write_text("def model_fn(model_dir): ...\n")
    keys.append(training_script_digest(train))
    (tmp_path / "inference.py").write_text("def model_fn(model_dir): return None\n")
    keys.append(training_script_digest(train))
    assert len(set(keys)) == len(keys)


def test_steps_reuse_the_newest_finished_copy_whatever_its_key(tmp_path):
    from sagespec.local import cache

    root = tmp_path / ".sagespec-runs"
    records = [
        ("20260101-000001", "done", "a"),
        ("20260101-000002", "reused", None),
        ("20260101-000003", "failed", None),
        ("20260101-000004", "skipped", None),
    ]
    for run, status, key in records:
        cache.write_record(root / run / "PrepareData", {"status": status, "key": key})
    newest = root / "20260101-000002" / "PrepareData"
    assert cache.find_finished(root, "PrepareData") == newest
    assert cache.find_finished(root, "PrepareData", exclude=root / "20260101-000002") == (
        root / "20260101-000001" / "PrepareData"
    )
    assert cache.find_finished(root, "TrainModel") is None
    assert cache.find_finished(tmp_path / "none", "PrepareData") is None
    # A reused copy (no key) is never a cache hit; the run it came from still is.
    assert cache.find_cached(root, "PrepareData", "a") == root / "20260101-000001" / "PrepareData"
