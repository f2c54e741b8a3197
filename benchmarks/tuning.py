"""Benchmark the local hyperparameter search on the BlazingText tuning example, full dataset.

Generates specs/womens-clothing-blazingtext-tuning.yaml's project, runs its search (`sagespec local
tune`: Bayesian search with Optuna's TPE sampler, 20 trials, each a fastText stand-in training job)
once with 1 trial at a time and once with 2, and trains once with the default values of the tuned
hyperparameters (BlazingText's defaults, and the untuned example's values) on the same preprocessed
data. Prints the best validation accuracy found against the defaults', and the wall time of each search.

    python benchmarks/tuning.py [--trials 20] [--keep DIR]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import tempfile
import time
from pathlib import Path

from sagespec.local import RunOptions, run_pipeline
from sagespec.local.training import TrainingJob, run_training_job
from sagespec.plan import build_plan
from sagespec.render import render_project
from sagespec.spec import load_spec
from sagespec.spec.catalog import ALGORITHMS

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "specs" / "womens-clothing-blazingtext-tuning.yaml"
OBJECTIVE = "validation:accuracy"
# The untuned BlazingText example's values of the three tuned hyperparameters.
EXAMPLE_VALUES = {"learning_rate": "0.1", "vector_dim": "50", "word_ngrams": "2"}


def trial_seconds(run_dir: Path) -> float:
    """The trials' own seconds, added up (the search's wall time with one trial at a time)."""
    with (run_dir / "TuneModel" / "tuning" / "results.csv").open(newline="") as fh:
        return sum(float(row["TrainingElapsedTimeSeconds"]) for row in csv.DictReader(fh))


def search(project: Path, trials: int, parallel: int) -> tuple[float, dict, Path]:
    """One `sagespec local tune` run: (wall seconds of the TuneModel step, its record, the run folder)."""
    options = RunOptions(
        project_dir=project,
        tune_trials=trials,
        tune_parallel=parallel,
        stop_after="TuneModel",
        out=io.StringIO(),  # the per-trial lines are in the step's results.md
    )
    result = run_pipeline(options)
    step = result.step("TuneModel")
    assert step.status == "done", f"TuneModel was {step.status}: rerun with a fresh --keep folder"
    return step.seconds, result.tuning or {}, result.run_dir


def train_once(project: Path, run_dir: Path, values: dict[str, str], folder: Path) -> tuple[float, float]:
    """(objective, seconds) of one training job with ``values`` for the tuned hyperparameters."""
    spec = load_spec(project / "spec.yaml").spec
    step = build_plan(spec).step("TuneModel")
    channels = {name: run_dir / "PreprocessData/processing/output" / name for name in ("train", "validation")}
    job = TrainingJob(
        name="default",
        folder=folder,
        hyperparameters={**step.hyperparameters, **values},
        channels=channels,
        script=None,
        project_dir=project,
        instance_type=spec.model.instance_type,
    )
    started = time.perf_counter()
    outcome = run_training_job(job, [OBJECTIVE])
    return outcome.metrics[OBJECTIVE], time.perf_counter() - started


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="generate the project here and keep it")
    args = parser.parse_args()

    workdir = args.keep or Path(tempfile.mkdtemp(prefix="sagespec-tuning-"))
    project = workdir / "project"
    render_project(load_spec(SPEC)).write(project)
    print(f"project: {project}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")

    timings: dict[int, float] = {}
    found: dict[int, dict] = {}
    run_dir = None
    for parallel in (1, 2):
        seconds, tuning, run_dir = search(project, args.trials, parallel)
        timings[parallel], found[parallel] = seconds, tuning
        best = tuning["best"]
        print(
            f"search, {parallel} at once: {seconds:6.1f}s wall, {trial_seconds(run_dir):6.1f}s of trials, "
            f"{tuning['trials']} trials "
            f"({tuning['statuses']}); best {best['trial']} {OBJECTIVE}={best['objective']:.4f} "
            f"{best['hyperparameters']}  [{run_dir / 'TuneModel' / tuning['files']['markdown']}]"
        )
    assert run_dir is not None

    defaults = {name: str(ALGORITHMS["blazingtext"].hyperparameters[name].default) for name in EXAMPLE_VALUES}
    baselines = {
        f"BlazingText defaults {defaults}": defaults,
        f"untuned example {EXAMPLE_VALUES}": EXAMPLE_VALUES,
    }
    for number, (label, values) in enumerate(baselines.items(), start=1):
        objective, seconds = train_once(project, run_dir, values, workdir / f"baseline-{number}")
        print(f"one job, {label}: {OBJECTIVE}={objective:.4f} ({seconds:.1f}s)")

    speedup = timings[1] / timings[2]
    print(f"wall time: 1 at once {timings[1]:.1f}s, 2 at once {timings[2]:.1f}s (x{speedup:.2f})")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (other work on the machine slows both)")
    print(json.dumps({"timings": timings, "best": {p: found[p]["best"] for p in found}}, indent=2))


if __name__ == "__main__":
    main()
