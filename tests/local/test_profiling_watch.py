"""A watched local training job: the profiler report, StopTraining, and the page in headless Chromium
(issue 15)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from sagespec.errors import LocalRunError
from sagespec.local.profiling.job import PROFILER_FOLDER, TENSORBOARD_FOLDER, watched
from sagespec.local.profiling.report import REPORT_HTML, SAMPLES_JSON, VERDICTS_JSON
from sagespec.local.profiling.watch import ProfilingSettings
from sagespec.local.training import TrainingJob, TrainingOutcome, run_training_job


def _run(job: TrainingJob, settings: ProfilingSettings, details: dict) -> TrainingOutcome:
    """What the TrainModel step does (sagespec.local.steps.training)."""
    with watched(settings, None, job.name, job.folder, details) as watch:
        return run_training_job(job, [], details=details, watch=watch)


SCRIPT = """
import os
import time
from pathlib import Path
losses = {losses!r}
for epoch, loss in enumerate(losses, start=1):
    time.sleep({pause})
    print(f"epoch={{epoch}} train:loss={{loss:.4f}} train:accuracy=0.5 validation:loss={{loss + 0.3:.4f}} "
          "validation:accuracy=0.5", flush=True)
Path("{marker}").write_text("finished")
Path(os.environ["SM_MODEL_DIR"], "model.txt").write_text("m")
if os.environ.get("SAGESPEC_TENSORBOARD_DIR"):
    Path(os.environ["SAGESPEC_TENSORBOARD_DIR"]).mkdir(parents=True)
"""


def _job(tmp_path: Path, losses: list[float], pause: float) -> tuple[TrainingJob, Path]:
    project = tmp_path / "project"
    project.mkdir()
    marker = tmp_path / "finished"
    script = project / "train.py"
    script.write_text(textwrap.dedent(SCRIPT.format(losses=losses, pause=pause, marker=marker)))
    job = TrainingJob(
        name="TrainModel",
        folder=tmp_path / "job",
        hyperparameters={},
        channels={},
        script=script,
        project_dir=project,
        instance_type="ml.m5.xlarge",
    )
    return job, marker


def test_stop_training_on_stops_the_local_job(tmp_path):
    job, marker = _job(tmp_path, [1.0, 1.0, 1.0] + [0.5] * 40, pause=0.2)
    settings = ProfilingSettings(
        profiler=True,
        interval_ms=100,
        rules={"LossNotDecreasing": {"num_steps": 1}, "Overfit": {}},
        stop_training_on=["LossNotDecreasing"],
    )
    details: dict = {}
    started = time.monotonic()
    with pytest.raises(LocalRunError, match="stopped by Debugger rule LossNotDecreasing"):
        _run(job, settings, details)
    assert time.monotonic() - started < 6  # 43 epochs of 0.2 s would take 8.6 s
    assert not marker.exists()  # the script never reached its end
    folder = job.folder / PROFILER_FOLDER
    verdicts = json.loads((folder / VERDICTS_JSON).read_text())
    assert verdicts["stopped_by"] == "LossNotDecreasing"
    by_rule = {v["rule"]: v for v in verdicts["rules"]}
    assert (
        by_rule["LossNotDecreasing"]["status"] == "IssuesFound" and by_rule["LossNotDecreasing"]["step"] == 2
    )
    assert by_rule["Overfit"]["parameters"] == {"start_step": 0, "patience": 1, "ratio_threshold": 0.1}
    samples = json.loads((folder / SAMPLES_JSON).read_text())["samples"]
    assert samples and all(len(s["cpu"]) == os.cpu_count() for s in samples)
    assert any("LossNotDecreasing fired at step 2" in line for line in details["debugger"]["summary"])


def test_a_quiet_run_finishes_and_reports(tmp_path):
    job, marker = _job(tmp_path, [1.0, 0.8, 0.6, 0.4], pause=0.05)
    settings = ProfilingSettings(
        True, 100, {"LossNotDecreasing": {"num_steps": 1}}, ["LossNotDecreasing"], tensorboard=True
    )
    details: dict = {}
    outcome = _run(job, settings, details)
    assert marker.exists() and outcome.artifact.exists()
    assert (job.folder / TENSORBOARD_FOLDER).is_dir()  # train.py was told where TensorBoard logs go
    page = (job.folder / PROFILER_FOLDER / REPORT_HTML).read_text()
    assert 'class="NoIssuesFound"' in page and 'id="loss-1"' in page and "<script" not in page
    assert details["debugger"]["summary"][0] == "no issues: LossNotDecreasing"


def _chromium() -> str | None:
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)


def test_the_profiler_report_renders_in_headless_chromium(tmp_path):
    binary = _chromium()
    if binary is None:
        pytest.skip("Chromium is not installed (apt-get install chromium, or set CHROMIUM=/path/to/it)")
    job, _ = _job(tmp_path, [1.0, 0.9, 0.95, 0.97, 0.6, 0.5], pause=0.15)
    settings = ProfilingSettings(True, 100, {"LossNotDecreasing": {"num_steps": 1}, "Overfit": {}}, [])
    _run(job, settings, {})
    page = job.folder / PROFILER_FOLDER / REPORT_HTML
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # the page must need no network
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    dom = subprocess.run(
        [binary, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=90, check=True
    ).stdout
    assert dom.count('data-rule="') == 2 and dom.count('class="IssuesFound"') == 2
    assert 'id="utilisation-1"' in dom and 'id="step-times"' in dom and 'id="loss-2"' in dom
    assert dom.count("<polyline") >= 5  # 3 utilisation lines + 2 loss curves, as Chromium parsed them


def test_tensorboard_alone_tells_the_script_where_and_writes_no_report(tmp_path):
    job, marker = _job(tmp_path, [1.0, 0.8], pause=0.0)
    details: dict = {}
    _run(job, ProfilingSettings(False, 500, {}, [], tensorboard=True), details)
    assert marker.exists() and (job.folder / TENSORBOARD_FOLDER).is_dir()
    assert not (job.folder / PROFILER_FOLDER).exists() and "debugger" not in details


def test_the_run_summary_says_which_rules_fired(tmp_path):
    from types import SimpleNamespace

    from sagespec.local.summary import format_summary

    job, _ = _job(tmp_path, [1.0, 1.0, 0.9], pause=0.0)
    details: dict = {}
    _run(
        job,
        ProfilingSettings(False, 500, {"LossNotDecreasing": {"num_steps": 1}, "Overfit": {}}, []),
        details,
    )
    step = SimpleNamespace(name="TrainModel", status="done", seconds=1.0, cached_from=None, details=details)
    result = SimpleNamespace(
        project_dir=tmp_path,
        run_id="r1",
        status="succeeded",
        run_dir=tmp_path / "run",
        steps=[step],
        plan=SimpleNamespace(names=["TrainModel"]),
        bias=None,
        tuning=None,
        training_metrics={},
        evaluation=None,
        condition=None,
        package=None,
        error=None,
    )
    lines = format_summary(result).splitlines()
    # The validation loss (train + 0.3 here) did not decrease from step 1 to 2.
    assert "debugger: rule LossNotDecreasing fired at step 2: loss 1.3000 at step 2 vs 1.3000 at step 1" in (
        "\n".join(lines)
    )
    assert any(line.startswith("debugger: rule Overfit fired at step 1") for line in lines)
    assert any(line.startswith("debugger: profiler report: ") for line in lines)
