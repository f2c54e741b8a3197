"""Benchmark `sagespec local run` on the BlazingText example and the full reviews file (23,486 rows).

Generates the project from specs/womens-clothing-blazingtext.yaml into a temporary folder, runs every
step without the cache, and prints the wall time of each step, the total, and the test accuracy and
macro-F1. The spec runs unchanged, bias gate included.

    python benchmarks/local_run.py [--spec PATH] [--keep DIR]
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
import tempfile
import time
from pathlib import Path

from sagespec.errors import SagespecError
from sagespec.local import RunOptions, run_pipeline
from sagespec.render import render_project
from sagespec.spec import load_spec

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SPEC = REPO / "specs" / "womens-clothing-blazingtext.yaml"


def benchmark(spec_path: Path, workdir: Path) -> int:
    project = workdir / "project"
    started = time.perf_counter()
    render_project(load_spec(spec_path)).write(project)
    generated = time.perf_counter() - started
    log = io.StringIO()
    started = time.perf_counter()
    error = None
    try:
        result = run_pipeline(RunOptions(project_dir=project, use_cache=False, quiet=True, out=log))
    except SagespecError as exc:
        error = exc
        result = None
    total = time.perf_counter() - started

    run_dir = sorted(p for p in (project / ".sagespec-runs").iterdir() if p.name[0].isdigit())[-1]
    steps = json.loads((run_dir / "run.json").read_text())["steps"]
    preprocess_log = (run_dir / "PreprocessData" / "logs" / "output.log").read_text()
    rows = re.search(r"read (\d+) rows", preprocess_log)
    print(f"spec: {spec_path.relative_to(REPO) if spec_path.is_relative_to(REPO) else spec_path}")
    print(f"generate project: {generated:.2f}s; rows read by preprocess: {rows.group(1) if rows else '?'}")
    for line in preprocess_log.splitlines():
        if re.match(r"(train|validation|test): \d+ examples", line):
            print(f"  {line}")
    for step in steps:
        print(f"  {step['name']:<16} {step['status']:<8} {step['seconds']:8.2f}s")
    print(f"  {'total (run)':<16} {'':<8} {total:8.2f}s")
    evaluation = run_dir / "EvaluateModel" / "processing" / "evaluation" / "evaluation.json"
    if evaluation.is_file():
        metrics = json.loads(evaluation.read_text())["metrics"]
        print(f"test accuracy: {metrics['accuracy']['value']:.4f}")
        print(f"test macro-F1: {metrics['macro_f1']['value']:.4f}")
    report = run_dir / "TrainModel" / "output" / "data" / "training-report.json"
    if report.is_file():
        training = json.loads(report.read_text())
        candidates = [c["epochs"] for c in training["candidates"]]
        print(
            f"training: {training['epochs_trained']} epochs kept, validation accuracy "
            f"{training['validation_accuracy']:.4f}, candidates {candidates}"
        )
    model_bin = run_dir / "TrainModel" / "model" / "model.bin"
    if model_bin.is_file():
        print(f"model.bin: {model_bin.stat().st_size / 1e6:.1f} MB")
    bias = run_dir / "CheckDataBias" / "report.json"
    if bias.is_file():
        print(f"bias breaches: {len(json.loads(bias.read_text())['constraint_violations'])}")
    if error is not None:
        print(f"run stopped: {error}")
        return error.exit_code
    print(f"condition: {result.condition}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC)
    parser.add_argument("--keep", type=Path, help="generate into this (new) folder and keep it")
    args = parser.parse_args(argv)
    try:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            return benchmark(args.spec.resolve(), args.keep)
        with tempfile.TemporaryDirectory(prefix="sagespec-bench-") as tmp:
            return benchmark(args.spec.resolve(), Path(tmp))
    except SagespecError as exc:  # the spec or the templates: nothing ran
        print(exc.render(), file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
