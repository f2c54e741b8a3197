"""The data steps (PrepareData, PreprocessData) on 1 and on 2 workers, same input, same run.

Makes a large input from the real reviews file (every row repeated, each copy's text made unique), cut into
--files CSV files as one would upload it to S3, renders the BlazingText example project and runs

    sagespec local run PROJECT --data INPUT --steps PrepareData,PreprocessData --no-cache \\
        --processing-instances N

for N = 1 and 2, alternately, --repeats times. Prints per worker count: the best wall time, rows/s, each
step's seconds, the peak memory of the largest process, and the split sizes and class counts, which must be
identical. Goal on this 2-core machine: 2 workers take <= 0.65x the time of 1.

Then the memory check: the same steps on one worker over the input as ONE file, and over a file twice as
large; the peak memory must not grow with the file (each step reads it in chunks).

    python benchmarks/scale_preprocess.py [--rows 600000] [--files 8] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
REVIEWS = ROOT / "data" / "womens_clothing_ecommerce_reviews.csv"
SPEC = ROOT / "specs" / "womens-clothing-blazingtext.yaml"
STEPS = ("PrepareData", "PreprocessData")
GOAL = 0.65

# Runs one command and prints the peak resident memory (KiB) of its largest process, children included.
_MEASURE = (
    "import resource, subprocess, sys; "
    "code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)"
)


def make_input(rows: int, files: int, folder: Path) -> int:
    """``rows`` reviews made from the real ones, in ``files`` CSV files; returns the bytes written."""
    reviews = pd.read_csv(REVIEWS, index_col=0)
    copies = -(-rows // len(reviews))
    frames = []
    for copy in range(copies):
        frame = reviews.copy()
        # Unique texts: the real ones repeated would collapse onto the same keys (and bias the split).
        frame["Review Text"] = frame["Review Text"].where(
            frame["Review Text"].isna(), frame["Review Text"] + f" (copy {copy})"
        )
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True).head(rows)
    folder.mkdir(parents=True)
    for number in range(files):
        table.iloc[number::files].to_csv(folder / f"reviews-{number:03d}.csv", index=False)
    return sum(p.stat().st_size for p in folder.iterdir())


def run_steps(project: Path, data: Path, workers: int) -> tuple[float, int, Path]:
    """(wall seconds, peak KiB of the largest process, the run's folder)."""
    command = [
        sys.executable, "-m", "sagespec", "local", "run", str(project), "--data", str(data),
        "--steps", ",".join(STEPS), "--no-cache", "-q", "--processing-instances", str(workers),
    ]  # fmt: skip
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _MEASURE, *command], capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    runs = sorted(p for p in (project / ".sagespec-runs").iterdir() if p.name != "registry")
    return seconds, int(done.stdout.split()[-1]), runs[-1]


def step_seconds(run_dir: Path) -> dict[str, float]:
    steps = json.loads((run_dir / "run.json").read_text())["steps"]
    return {step["name"]: step["seconds"] for step in steps if step["name"] in STEPS}


def split_counts(run_dir: Path) -> dict[str, Counter[str]]:
    """Examples per class in each split, read from the BlazingText lines PreprocessData wrote."""
    counts = {}
    for split in ("train", "validation", "test"):
        labels: Counter[str] = Counter()
        for path in (run_dir / "PreprocessData").rglob(f"{split}/{split}-*.txt"):
            with path.open(encoding="utf-8") as lines:
                labels.update(line.split(" ", 1)[0] for line in lines)
        counts[split] = labels
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=600_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="scale-preprocess-") as tmp:
        work = Path(tmp)
        size = make_input(options.rows, options.files, work / "data")
        project = work / "project"
        subprocess.run(
            [sys.executable, "-m", "sagespec", "new", str(SPEC), "-o", str(project)],
            check=True,
            capture_output=True,
        )
        print(f"input: {options.rows:,} reviews in {options.files} CSV files, {size / 2**20:.0f} MiB")
        results: dict[int, list[tuple[float, int, Path]]] = {1: [], 2: []}
        for _ in range(options.repeats):
            for workers in results:
                results[workers].append(run_steps(project, work / "data", workers))

        print(f"\n{'workers':>7} {'wall s':>7} {'rows/s':>9} {'peak MiB':>9}  " + "  ".join(STEPS))
        best = {}
        for workers, runs in results.items():
            seconds, peak, run_dir = min(runs, key=lambda run: run[0])
            best[workers] = (seconds, run_dir)
            steps = "  ".join(f"{s:>{len(name)}.1f}" for name, s in step_seconds(run_dir).items())
            print(
                f"{workers:>7} {seconds:>7.1f} {options.rows / seconds:>9,.0f} "
                f"{max(r[1] for r in runs) / 1024:>9.0f}  {steps}"
            )
        ratio = best[2][0] / best[1][0]
        print(
            f"\n2 workers / 1 worker: {ratio:.2f}x (goal <= {GOAL}x): {'met' if ratio <= GOAL else 'NOT met'}"
        )
        one, two = split_counts(best[1][1]), split_counts(best[2][1])
        for split, labels in one.items():
            total = sum(labels.values())
            shares = " ".join(
                f"{label.removeprefix('__label__')}={n / total:.3f}" for label, n in sorted(labels.items())
            )
            print(f"{split:>10}: {total:,} examples ({shares})")
        print("splits identical at 1 and 2 workers:", "yes" if one == two else "NO")
        per_core = options.rows / best[1][0]
        print(f"rows/s per core (1 worker): {per_core:,.0f}")

        print("\nmemory, one worker, the input as a single CSV file:")
        for times in (1, 2):
            single = work / f"single-{times}"
            single.mkdir()
            with (single / "reviews.csv").open("w", encoding="utf-8") as out:
                for copy in range(times):
                    for number, path in enumerate(sorted((work / "data").iterdir())):
                        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
                        out.writelines(lines if copy == number == 0 else lines[1:])
            size = (single / "reviews.csv").stat().st_size
            seconds, peak, _ = run_steps(project, single, 1)
            print(f"  {size / 2**20:>5.0f} MiB file: peak {peak / 1024:.0f} MiB, {seconds:.1f} s")


if __name__ == "__main__":
    main()
