"""Benchmark the local Autopilot stand-in against the BlazingText example's, on the same split.

Generates the Autopilot example (specs/womens-clothing-autopilot.yaml) and the BlazingText example
(specs/womens-clothing-blazingtext.yaml) into a temporary folder and runs both with `sagespec local run`
(no cache) in this one process. Both specs read the same reviews with the same split ratios, balance and
seed, so PreprocessData puts the same rows in each test split (the script checks the test labels agree).
Prints every AutoML candidate's validation objective and time, then both models' test accuracy.

    python benchmarks/autopilot_local.py [--candidates N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from sagespec.local import RunOptions, run_pipeline
from sagespec.render import render_project
from sagespec.spec import load_spec_text

REPO = Path(__file__).resolve().parents[1]
SPECS = REPO / "specs"


def run_example(name: str, workdir: Path, replace: tuple[str, str] | None = None) -> tuple[Path, float]:
    """Generate specs/<name>.yaml into ``workdir`` and run it locally; the run folder and its seconds."""
    text = (SPECS / f"{name}.yaml").read_text()
    if replace:
        assert text.count(replace[0]) == 1, replace
        text = text.replace(*replace)
    project = workdir / name
    render_project(load_spec_text(text, SPECS / f"{name}.yaml")).write(project)
    started = time.perf_counter()
    run_pipeline(RunOptions(project_dir=project, use_cache=False, quiet=True, out=io.StringIO()))
    seconds = time.perf_counter() - started
    runs = sorted(p for p in (project / ".sagespec-runs").iterdir() if p.name[0].isdigit())
    return runs[-1], seconds


def test_labels(run: Path) -> Counter[str]:
    """The class counts of a run's test split (its text,label CSV parts)."""
    counts: Counter[str] = Counter()
    for part in sorted((run / "PreprocessData" / "processing" / "output" / "test").glob("*.csv")):
        with part.open(newline="") as rows:
            counts.update(row["label"] for row in csv.DictReader(rows))
    return counts


def accuracy(run: Path) -> float:
    report = run / "EvaluateModel" / "processing" / "evaluation" / "evaluation.json"
    return float(json.loads(report.read_text())["metrics"]["accuracy"]["value"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--candidates", type=int, default=None, help="max_candidates (default: the spec's 3)")
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="autopilot-bench-") as scratch:
        workdir = args.keep or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        replace = None
        if args.candidates is not None:
            replace = ("  max_candidates: 3 ", f"  max_candidates: {args.candidates} ")
        autopilot, autopilot_seconds = run_example("womens-clothing-autopilot", workdir, replace)
        blazingtext, blazingtext_seconds = run_example("womens-clothing-blazingtext", workdir)

        same_split = test_labels(autopilot) == test_labels(blazingtext)
        counts = test_labels(autopilot)
        print(
            f"test split: {sum(counts.values())} reviews {dict(sorted(counts.items()))}; same in both runs: "
            f"{same_split}"
        )
        leaderboard = autopilot / "TrainModel" / "output" / "data" / "leaderboard.csv"
        print("\nAutoML candidates (validation split):")
        with leaderboard.open(newline="") as table:
            for row in csv.DictReader(table):
                score = f"{row['objective']}={row['value'] or '-':<8}"
                print(
                    f"  {row['rank'] or '-':>2} {row['candidate']} {row['family']:<15} {score} "
                    f"{float(row['seconds']):7.1f} s  {row['status']}"
                )
        print("\ntest accuracy (same split):")
        for label, run, seconds in (
            ("Autopilot stand-in, best candidate", autopilot, autopilot_seconds),
            ("BlazingText stand-in (fastText)", blazingtext, blazingtext_seconds),
        ):
            print(f"  {label:<36} {accuracy(run):.4f}  (run {seconds:.1f} s)")
        return 0 if same_split else 1


if __name__ == "__main__":
    sys.exit(main())
