"""`make local` (sagespec local run, uncached) against a bare hand-written script, same data, same run.

The BlazingText example on the full reviews file (23,486 rows). The bare script is what a data
scientist would write by hand: read the CSV with pandas, map the stars to sentiment, downsample to the
smallest class, split 80/10/10 per class, write fastText files, train fastText with the spec's
hyperparameters (one thread and a fixed seed, as the local BlazingText stand-in trains) and score the
test split. It has no bias check, no evaluation report, no plots, no run report and no registry; the
pipeline run has all of them, each step in its own process under the container contract.

Both run as processes of their own, in alternating rounds (bare, pipeline, then pipeline, bare, ...),
so a neighbour's load on a shared machine falls on both alike. Prints each round's wall times, the
medians, their ratio (goal <= 2.0x), the pipeline's per-step times (the median of each step), and the
CPU time (user + system, the process and everything it started) each took: on a busy machine the wall
times grow with the load, the CPU times much less.

    python benchmarks/local_run_vs_bare.py [--rounds 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
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


def timed(command: list[str]) -> tuple[float, float, str]:
    """Run ``command``; its wall time, its CPU time (with every process it started) and its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu, out


def run_bare(workdir: Path) -> tuple[float, float, str]:
    script = workdir / "bare.py"
    script.write_text(BARE_SCRIPT)
    wall, cpu, out = timed([sys.executable, str(script), str(DATA)])
    return wall, cpu, out.strip()


def run_pipeline(project: Path) -> tuple[float, float, dict[str, float]]:
    """`sagespec local run --no-cache` as `make local` starts it; wall and CPU time, and each step's."""
    wall, cpu, _ = timed([sys.executable, "-m", "sagespec", "local", "run", str(project), "--no-cache", "-q"])
    runs = sorted(p for p in (project / ".sagespec-runs").iterdir() if p.name[:1].isdigit())
    steps = json.loads((runs[-1] / "run.json").read_text())["steps"]
    return wall, cpu, {s["name"]: s["seconds"] for s in steps if s["status"] != "skipped"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="generate the project into this (new) folder and keep it")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sagespec-run-vs-bare-") as tmp:
        workdir = args.keep or Path(tmp)
        project = workdir / "project"
        render_project(load_spec(SPEC)).write(project)
        bare_times: list[float] = []
        pipeline_times: list[float] = []
        cpu: dict[str, list[float]] = {"bare": [], "pipeline": []}
        step_times: dict[str, list[float]] = {}
        summary = ""
        for index in range(args.rounds):
            for which in ("bare", "pipeline") if index % 2 == 0 else ("pipeline", "bare"):
                if which == "bare":
                    seconds, cpu_seconds, summary = run_bare(workdir)
                    bare_times.append(seconds)
                else:
                    seconds, cpu_seconds, steps = run_pipeline(project)
                    pipeline_times.append(seconds)
                    for name, step_seconds in steps.items():
                        step_times.setdefault(name, []).append(step_seconds)
                cpu[which].append(cpu_seconds)
    bare, pipeline = statistics.median(bare_times), statistics.median(pipeline_times)
    print(f"full reviews file, {args.rounds} alternating rounds; {summary}")
    print(f"  bare hand-written script        {bare:6.2f} s  (rounds: {_list(bare_times)})")
    print(f"  make local (uncached, all steps) {pipeline:6.2f} s  (rounds: {_list(pipeline_times)})")
    for name, times in step_times.items():
        print(f"    {name:<28} {statistics.median(times):6.2f} s")
    ratio = pipeline / bare
    print(f"  ratio {ratio:.2f}x (goal <= 2.0x): {'met' if ratio <= 2.0 else 'NOT met'}")
    bare_cpu, pipeline_cpu = statistics.median(cpu["bare"]), statistics.median(cpu["pipeline"])
    print(
        f"  CPU time: bare {bare_cpu:.2f} s, make local {pipeline_cpu:.2f} s ({pipeline_cpu / bare_cpu:.2f}x)"
    )
    return 0


def _list(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    sys.exit(main())
