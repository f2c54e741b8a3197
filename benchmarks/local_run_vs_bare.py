"""`make local` (sagespec local run, uncached) against a bare hand-written script, same data, same run.

The BlazingText example on the full reviews file (23,486 rows). The bare script is what a data
scientist would write by hand: read the CSV with pandas, map the stars to sentiment, downsample to the
smallest class, split 80/10/10 per class, write fastText files, train fastText with the spec's
hyperparameters (one thread and a fixed seed, as the local BlazingText stand-in trains) and score the
test split. It has no bias check, no evaluation report, no plots, no run report and no registry; the
pipeline run has all of them, each step in its own process under the container contract.

Both run as processes of their own, in alternating rounds (bare, pipeline, then pipeline, bare, ...),
so a neighbour's load on a shared machine falls on both alike. Prints each round's wall times, the
medians, their ratio (goal <= 2.0x), the pipeline's per-step times (the median of each step, and of
the runner's own time: the wall time less the steps'), and the CPU time (user + system, the process
and everything it started) each took: on a busy machine the wall times grow with the load, the CPU
times much less.

    python benchmarks/local_run_vs_bare.py [--rounds 3] [--keep DIR] [--before DIR]

--before DIR runs an earlier sagespec too, in the same rounds: DIR holds its package as sagespec/ and
its templates as sagespec/_template/, e.g. `git archive <commit> generator template | tar -x -C DIR`,
then `mv DIR/generator DIR/sagespec && mv DIR/template DIR/sagespec/_template`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sagespec.render import render_project
from sagespec.spec import load_spec

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "specs" / "womens-clothing-blazingtext.yaml"
DATA = REPO / "data" / "womens_clothing_ecommerce_reviews.csv"

BARE_SCRIPT = r"""
import html, re, sys, tempfile
from pathlib import Path

import fasttext
import pandas as pd

TOKEN = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")
data = pd.read_csv(sys.argv[1], usecols=["Review Text", "Rating"]).dropna(subset=["Review Text"])
data["label"] = data["Rating"].map({1: -1, 2: -1, 3: 0, 4: 1, 5: 1})
clean = (" ".join(html.unescape(text).split()).lower() for text in data["Review Text"])
data["text"] = [" ".join(TOKEN.findall(text)) for text in clean]
smallest = data["label"].value_counts().min()
data = data.groupby("label").sample(n=smallest, random_state=42).sample(frac=1, random_state=42)
rank = data.groupby("label").cumcount() / smallest
splits = {
    "train": data[rank < 0.8], "validation": data[(rank >= 0.8) & (rank < 0.9)], "test": data[rank >= 0.9]
}
with tempfile.TemporaryDirectory() as tmp:
    for name, part in splits.items():
        lines = "".join(f"__label__{label} {text}\n" for label, text in zip(part["label"], part["text"]))
        Path(tmp, f"{name}.txt").write_text(lines)
    model = fasttext.train_supervised(
        input=str(Path(tmp, "train.txt")), epoch=15, lr=0.1, wordNgrams=2, dim=50, minCount=2,
        bucket=100000, thread=1, seed=0, verbose=0,
    )
    predicted, _ = model.predict(list(splits["test"]["text"]))
hits = sum(p[0] == f"__label__{label}" for p, label in zip(predicted, splits["test"]["label"]))
accuracy = hits / len(predicted)
print(f"bare: {len(splits['train'])} train, {len(splits['test'])} test, accuracy {accuracy:.4f}")
"""


def timed(command: list[str], environment: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Run ``command``; its wall time, its CPU time (with every process it started) and its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    out = subprocess.run(command, capture_output=True, text=True, check=True, env=environment).stdout
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu, out


def run_bare(workdir: Path) -> tuple[float, float, str]:
    script = workdir / "bare.py"
    script.write_text(BARE_SCRIPT)
    wall, cpu, out = timed([sys.executable, str(script), str(DATA)])
    return wall, cpu, out.strip()


def run_pipeline(project: Path, sagespec_root: Path | None = None) -> tuple[float, float, dict[str, float]]:
    """`sagespec local run --no-cache` as `make local` starts it; wall and CPU time, and each step's.
    ``sagespec_root``: a folder holding another sagespec package (see --before) to run instead."""
    command = [sys.executable, "-m", "sagespec", "local", "run", str(project), "--no-cache", "-q"]
    environment = None
    if sagespec_root is not None:
        environment = {**os.environ, "PYTHONPATH": str(sagespec_root)}
    wall, cpu, _ = timed(command, environment)
    runs = sorted(p for p in (project / ".sagespec-runs").iterdir() if p.name[:1].isdigit())
    steps = json.loads((runs[-1] / "run.json").read_text())["steps"]
    return wall, cpu, {s["name"]: s["seconds"] for s in steps if s["status"] != "skipped"}


def render_before(root: Path, project: Path) -> None:
    """Generate the project with the sagespec package under ``root`` (its own templates)."""
    code = (
        "import sys; from pathlib import Path; from sagespec.render import render_project; "
        "from sagespec.spec import load_spec; "
        "render_project(load_spec(Path(sys.argv[1]))).write(Path(sys.argv[2]))"
    )
    environment = {**os.environ, "PYTHONPATH": str(root)}
    subprocess.run([sys.executable, "-c", code, str(SPEC), str(project)], env=environment, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="generate the project into this (new) folder and keep it")
    parser.add_argument(
        "--before",
        type=Path,
        help="a folder holding an earlier sagespec package as sagespec/ (with sagespec/_template/): "
        "its make local runs in the same rounds and is printed beside this one",
    )
    args = parser.parse_args(argv)
    sides = {"bare": None, "make local": None}
    if args.before:
        sides["make local (before)"] = args.before.resolve()
    wall: dict[str, list[float]] = {name: [] for name in sides}
    cpu: dict[str, list[float]] = {name: [] for name in sides}
    steps: dict[str, dict[str, list[float]]] = {name: {} for name in sides if name != "bare"}
    # The runner's own time: its start, what it does between steps, the report, the registry, its exit.
    overhead: dict[str, list[float]] = {name: [] for name in steps}
    summary = ""
    with tempfile.TemporaryDirectory(prefix="sagespec-run-vs-bare-") as tmp:
        workdir = args.keep or Path(tmp)
        projects = {"make local": workdir / "project"}
        render_project(load_spec(SPEC)).write(projects["make local"])
        if args.before:
            projects["make local (before)"] = workdir / "project-before"
            render_before(args.before.resolve(), projects["make local (before)"])
        order = list(sides)
        for index in range(args.rounds):
            for name in order if index % 2 == 0 else reversed(order):
                if name == "bare":
                    seconds, cpu_seconds, summary = run_bare(workdir)
                else:
                    seconds, cpu_seconds, step_seconds = run_pipeline(projects[name], sides[name])
                    for step, value in step_seconds.items():
                        steps[name].setdefault(step, []).append(value)
                    overhead[name].append(seconds - sum(step_seconds.values()))
                wall[name].append(seconds)
                cpu[name].append(cpu_seconds)
    bare = statistics.median(wall["bare"])
    print(f"full reviews file, {args.rounds} alternating rounds (medians); {summary}")
    for name in sides:
        seconds, cpu_seconds = statistics.median(wall[name]), statistics.median(cpu[name])
        print(
            f"  {name:<22} {seconds:6.2f} s = {seconds / bare:4.2f}x bare  CPU {cpu_seconds:5.2f} s  "
            f"(rounds: {_list(wall[name])})"
        )
    names = list(steps)
    width = max(len(step) for step in [*steps["make local"], "(runner)"]) + 2
    print("  per step:" + " " * (width - 7) + "".join(f" {name:>22}" for name in names))
    for step in steps["make local"]:
        figures = "".join(f" {statistics.median(steps[name].get(step, [0.0])):21.2f}s" for name in names)
        print(f"    {step:<{width}}{figures}")
    figures = "".join(f" {statistics.median(overhead[name]):21.2f}s" for name in names)
    print(f"    {'(runner)':<{width}}{figures}  (start, between steps, report, registry, exit)")
    ratio = statistics.median(wall["make local"]) / bare
    print(f"  ratio {ratio:.2f}x (goal <= 2.0x): {'met' if ratio <= 2.0 else 'NOT met'}")
    return 0


def _list(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    sys.exit(main())
