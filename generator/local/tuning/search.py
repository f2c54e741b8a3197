"""The spec's hyperparameter search on this machine, with Optuna: `sagespec local tune`, and the TuneModel
step of `sagespec local run`.

The search is the one the generated pipeline's SageMaker tuning job runs: the same ranges, objective,
strategy, job count and parallelism, read from the same ``tuning`` section of the spec. Each trial is one
training job under SageMaker's training contract (the fastText stand-in for BlazingText, or the
project's train.py), run by :func:`sagespec.local.runner.run_training_job` in its own folder
``<run>/TuneModel/trials/trial-NNN/`` and process; up to ``max_parallel_jobs`` run at once.

How SageMaker's settings map onto Optuna:

- strategy ``Random`` -> ``RandomSampler``.
- strategy ``Bayesian`` -> ``TPESampler``. SageMaker's Bayesian search fits a Gaussian process; TPE is
  Optuna's model-based sampler that needs no extra dependencies. Like SageMaker it starts with random
  trials (a third of the budget, 2 to 10) and, with parallel trials, treats the running ones as
  pessimistic guesses (constant liar) so they are not proposed twice.
- strategy ``Grid`` -> ``GridSampler`` over the categorical values: every combination exactly once.
- strategy ``Hyperband`` -> ``RandomSampler`` + ``HyperbandPruner(min_resource=1,
  max_resource=MaxResource)``, fed with the objective each epoch, as the pipeline's
  ``HyperbandStrategyConfig`` says.
- ``early_stopping: Auto`` -> ``MedianPruner``: a trial whose objective at an epoch is worse than the
  median of earlier trials at that epoch is stopped (SageMaker's rule compares running averages).

Per-epoch values come from the training log: the generated train.py prints
``epoch=N ... validation:accuracy=X`` every epoch; the BlazingText stand-in prints
``epochs=N #train_accuracy: X  #validation_accuracy: Y`` for each early-stopping candidate. A trial is
``Completed`` with the last objective value it printed (what SageMaker's metric definitions keep),
``Stopped`` when a pruner ended it, or ``Failed`` when the job failed or printed no objective; a failed
trial does not end the search. The best completed trial's model.tar.gz becomes the step's ``model``.

Scaling of continuous and integer ranges:

- ``Linear`` -> uniform; ``Logarithmic`` -> ``log=True``;
- ``ReverseLogarithmic`` (continuous, 0 <= min < max < 1) -> ``1 - u`` with ``u`` log-uniform in
  ``[1 - max, 1 - min]``: dense near ``max``, as SageMaker samples it;
- ``Auto`` -> linear for integers; for continuous ranges, logarithmic when ``min > 0`` and the range
  spans at least two orders of magnitude (``max / min >= 100``), else linear.

Results, in ``<run>/TuneModel/tuning/``: ``results.csv`` and ``results.md`` (one row per trial, with the
columns of SageMaker's tuning analytics: hyperparameters, TrainingJobName, TrainingJobStatus,
FinalObjectiveValue, times), ``objective_by_trial.png``, ``objective_vs_hyperparameters.png`` and
``best.json``. Warm start names SageMaker tuning jobs, which a local search cannot read: it starts cold.
"""

from __future__ import annotations

import csv
import json
import math
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..errors import LocalRunError, SagespecError
from ..plan import HYPERBAND_MIN_RESOURCE, _hp_string, hyperband_max_resource
from ..spec.checks import grid_size
from ..spec.models import CategoricalRange, ContinuousRange, IntegerRange, Range, Spec, Tuning
from .runner import TrainingJob, run_training_job

if TYPE_CHECKING:
    import optuna

TrialStatus = Literal["Completed", "Failed", "Stopped"]
RESULTS_DIR = "tuning"
TRIALS_DIR = "trials"
HYPERBAND_REDUCTION_FACTOR = 3
AUTO_LOG_SPAN = 100.0  # Auto scaling of a continuous range: logarithmic from two orders of magnitude on
_FLOAT = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf)"


# ------------------------------------------------------------------------------------------ search space
@dataclass(frozen=True)
class Dimension:
    """One tuned hyperparameter as Optuna samples it; ``suggest`` returns the value the job receives."""

    name: str
    kind: Literal["continuous", "integer", "categorical"]
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    reverse: bool = False  # ReverseLogarithmic: sample 1 - x log-uniformly
    choices: tuple[str, ...] = ()

    @classmethod
    def from_range(cls, name: str, rng: Range) -> Dimension:
        if isinstance(rng, CategoricalRange):
            return cls(name, "categorical", choices=tuple(_hp_string(v) for v in rng.values))
        assert isinstance(rng, ContinuousRange | IntegerRange)
        if isinstance(rng, IntegerRange):
            # ReverseLogarithmic is for continuous ranges only (the spec checks refuse it here).
            return cls(name, "integer", rng.min, rng.max, log=rng.scaling == "Logarithmic")
        if rng.scaling == "ReverseLogarithmic":
            return cls(name, "continuous", rng.min, rng.max, log=True, reverse=True)
        auto_log = rng.min > 0 and rng.max / rng.min >= AUTO_LOG_SPAN
        log = rng.scaling == "Logarithmic" or (rng.scaling == "Auto" and auto_log)
        return cls(name, "continuous", rng.min, rng.max, log=log)

    @property
    def scale(self) -> str:
        if self.kind == "categorical":
            return "categorical"
        if self.reverse:
            return "reverse-log"
        return "log" if self.log else "linear"

    def suggest(self, trial: optuna.Trial) -> str:
        if self.kind == "categorical":
            return str(trial.suggest_categorical(self.name, list(self.choices)))
        if self.kind == "integer":
            return str(trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log))
        if self.reverse:
            distance = trial.suggest_float(f"1-{self.name}", 1 - self.high, 1 - self.low, log=True)
            return _hp_string(_round(min(max(1 - distance, self.low), self.high)))
        return _hp_string(_round(trial.suggest_float(self.name, self.low, self.high, log=self.log)))


def _round(value: float) -> float:
    """Six significant digits: what the job receives, the table shows and a rerun can type back."""
    return float(f"{value:.6g}")


# ------------------------------------------------------------------------------------------ settings
@dataclass(frozen=True)
class SearchSettings:
    """What one search runs: the spec's tuning section, with the trial count and parallelism to use."""

    tuning: Tuning
    trials: int
    parallel: int
    seed: int
    max_resource: int | None  # Hyperband: the most epochs a trial trains

    @classmethod
    def from_spec(cls, spec: Spec, trials: int | None = None, parallel: int | None = None) -> SearchSettings:
        if not spec.tuning_enabled or spec.tuning is None:
            raise SagespecError(
                "the spec has no tuning section (or tuning.enabled is false): nothing to tune"
            )
        tuning = spec.tuning
        count = trials or tuning.max_jobs
        if tuning.strategy == "Grid":
            # Grid search trains every combination once, as SageMaker does; --trials may cut it short.
            count = min(trials or grid_size(tuning.ranges), grid_size(tuning.ranges))
        if count < 1:
            raise SagespecError("tuning: the search space is empty")
        max_resource = hyperband_max_resource(spec) if tuning.strategy == "Hyperband" else None
        return cls(
            tuning=tuning,
            trials=count,
            parallel=max(1, min(parallel or tuning.max_parallel_jobs, count)),
            seed=spec.dataset.seed,
            max_resource=max_resource,
        )

    @property
    def dimensions(self) -> list[Dimension]:
        return [Dimension.from_range(name, rng) for name, rng in self.tuning.ranges.items()]

    @property
    def metric(self) -> str:
        return self.tuning.objective.metric

    @property
    def maximize(self) -> bool:
        return self.tuning.objective.direction == "Maximize"

    def sampler_name(self) -> str:
        return {
            "Random": "RandomSampler",
            "Bayesian": "TPESampler",
            "Grid": "GridSampler",
            "Hyperband": "RandomSampler",
        }[self.tuning.strategy]

    def pruner_name(self) -> str:
        if self.tuning.strategy == "Hyperband":
            return f"HyperbandPruner(min_resource={HYPERBAND_MIN_RESOURCE}, max_resource={self.max_resource})"
        return "MedianPruner" if self.tuning.early_stopping == "Auto" else "none"

    def describe(self) -> dict[str, Any]:
        """Everything that decides the search's outcome, as JSON (the step's cache key holds it):
        ``trials`` and ``parallel`` stand for the spec's job limits, which they may override."""
        return {
            "tuning": self.tuning.model_dump(mode="json", exclude={"max_jobs", "max_parallel_jobs"}),
            "trials": self.trials,
            "parallel": self.parallel,
            "seed": self.seed,
            "sampler": self.sampler_name(),
            "pruner": self.pruner_name(),
        }

    def sampler(self) -> optuna.samplers.BaseSampler:
        import optuna

        strategy = self.tuning.strategy
        if strategy == "Grid":
            return _grid_sampler({d.name: list(d.choices) for d in self.dimensions}, self.seed)
        if strategy == "Bayesian":
            startup = min(10, max(2, self.trials // 3))
            return optuna.samplers.TPESampler(
                seed=self.seed, n_startup_trials=startup, constant_liar=self.parallel > 1
            )
        return optuna.samplers.RandomSampler(seed=self.seed)

    def pruner(self) -> optuna.pruners.BasePruner:
        import optuna

        if self.tuning.strategy == "Hyperband":
            return optuna.pruners.HyperbandPruner(
                min_resource=HYPERBAND_MIN_RESOURCE,
                max_resource=self.max_resource or "auto",
                reduction_factor=HYPERBAND_REDUCTION_FACTOR,
            )
        if self.tuning.early_stopping == "Auto":
            return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
        return optuna.pruners.NopPruner()


def _grid_sampler(space: dict[str, list[str]], seed: int) -> optuna.samplers.BaseSampler:
    import optuna

    class AskTellGridSampler(optuna.samplers.GridSampler):
        """GridSampler for an ask-and-tell loop. The loop asks for each grid point once (Grid counts as
        many trials as points), so the sampler need not stop the study when the grid is done, which
        Optuna allows only inside ``Study.optimize``."""

        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            pass

    return AskTellGridSampler(space, seed=seed)


# ------------------------------------------------------------------------------------------ log parsing
def epoch_value(line: str, metric: str) -> tuple[int, float] | None:
    """``(epoch, value)`` of ``metric`` on one per-epoch line of a training log, or None.

    The generated train.py prints ``epoch=3 ... validation:accuracy=0.81``; the BlazingText stand-in
    prints ``epochs=3 #train_accuracy: 0.90  #validation_accuracy: 0.80`` (its log names metrics
    ``#<channel>_<name>``).
    """
    head = re.match(r"\s*epochs?=(\d+)\b", line)
    if head is None:
        return None
    stand_in = "#" + metric.replace(":", "_")
    found = re.search(rf"(?:{re.escape(metric)}=|{re.escape(stand_in)}:\s*){_FLOAT}", line)
    if found is None:
        return None
    return int(head.group(1)), float(found.group(1))


def last_value(output: str, metric: str) -> float | None:
    """The last ``metric=value`` a job printed: its final objective, as a metric definition reads it."""
    values = re.findall(rf"{re.escape(metric)}={_FLOAT}", output)
    return float(values[-1]) if values else None


# ------------------------------------------------------------------------------------------ trials
@dataclass
class TrialResult:
    number: int  # 1-based, in the order trials started
    hyperparameters: dict[str, str]  # the tuned values the job received
    status: TrialStatus
    objective: float | None
    seconds: float
    started: datetime
    ended: datetime
    folder: Path
    message: str = ""
    epochs: list[tuple[int, float]] = field(default_factory=list)  # the per-epoch objective reported

    @property
    def name(self) -> str:
        return f"trial-{self.number:03d}"

    @property
    def artifact(self) -> Path:
        return self.folder / "output" / "model.tar.gz"


@dataclass
class SearchResult:
    settings: SearchSettings
    trials: list[TrialResult]
    best: TrialResult
    files: dict[str, Path]
    seconds: float

    @property
    def best_artifact(self) -> Path:
        return self.best.artifact

    def counts(self) -> dict[str, int]:
        counts = {"Completed": 0, "Stopped": 0, "Failed": 0}
        for trial in self.trials:
            counts[trial.status] += 1
        return counts

    def summary(self, root: Path) -> dict[str, Any]:
        """The step record's details: best trial, counts, files (relative to ``root``)."""
        return {
            "strategy": self.settings.tuning.strategy,
            "sampler": self.settings.sampler_name(),
            "pruner": self.settings.pruner_name(),
            "objective": {
                "metric": self.settings.metric,
                "direction": self.settings.tuning.objective.direction,
            },
            "trials": len(self.trials),
            "parallel": self.settings.parallel,
            "statuses": self.counts(),
            "best": {
                "trial": self.best.name,
                "objective": self.best.objective,
                "hyperparameters": self.best.hyperparameters,
            },
            "metrics": {self.settings.metric: self.best.objective},
            "files": {name: str(path.relative_to(root)) for name, path in self.files.items()},
            "seconds": round(self.seconds, 3),
        }


class _Search:
    """One search: asks Optuna for trials, runs them in worker threads (each job in its own process)."""

    def __init__(
        self,
        settings: SearchSettings,
        job: TrainingJob,
        metric_names: list[str],
        say: Callable[[str], None],
    ) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.settings = settings
        self.job = job
        self.metric_names = metric_names
        self.say = say
        self.dimensions = settings.dimensions
        self.study = optuna.create_study(
            study_name=job.name,
            direction="maximize" if settings.maximize else "minimize",
            sampler=settings.sampler(),
            pruner=settings.pruner(),
        )
        self.stops: dict[int, threading.Event] = {}

    def run(self) -> list[TrialResult]:
        results: list[TrialResult] = []
        running: dict[Future[TrialResult], optuna.Trial] = {}
        started = 0
        with ThreadPoolExecutor(max_workers=self.settings.parallel, thread_name_prefix="trial") as pool:
            try:
                while started < self.settings.trials or running:
                    while started < self.settings.trials and len(running) < self.settings.parallel:
                        trial = self.study.ask()  # asked one at a time: Grid hands out each point once
                        started += 1
                        hyperparameters = {d.name: d.suggest(trial) for d in self.dimensions}
                        self.stops[started] = threading.Event()
                        future = pool.submit(self._run_trial, trial, started, hyperparameters)
                        running[future] = trial
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        trial = running.pop(future)
                        result = future.result()
                        self._tell(trial, result)
                        results.append(result)
                        self._report(result, len(results))
            except BaseException:  # KeyboardInterrupt, or a bug: stop the running jobs before leaving
                for stop in self.stops.values():
                    stop.set()
                raise
        return sorted(results, key=lambda r: r.number)

    def _run_trial(self, trial: optuna.Trial, number: int, hyperparameters: dict[str, str]) -> TrialResult:
        folder = self.job.folder / TRIALS_DIR / f"trial-{number:03d}"
        stop = self.stops[number]
        epochs: list[tuple[int, float]] = []
        metric = self.settings.metric

        pruner_errors: list[str] = []

        def on_line(line: str) -> None:
            # Called by the thread reading the job's output: it must not raise, or the pipe stalls.
            found = epoch_value(line, metric)
            if found is None or stop.is_set() or not math.isfinite(found[1]):
                return
            epochs.append(found)
            try:
                trial.report(found[1], found[0])
                if trial.should_prune():
                    stop.set()
            except Exception as exc:  # reported as the trial's failure below
                pruner_errors.append(f"{type(exc).__name__}: {exc}")
                stop.set()

        job = replace(
            self.job,
            name=f"{self.job.name} trial {number}",
            folder=folder,
            hyperparameters={**self.job.hyperparameters, **hyperparameters},
        )
        began, clock = datetime.now(), time.perf_counter()
        status: TrialStatus
        objective: float | None = None
        message = ""
        try:
            outcome = run_training_job(job, self.metric_names, echo=on_line, stop=stop)
        except LocalRunError as exc:  # the job failed; the search goes on
            status, message = "Failed", str(exc).splitlines()[0]
        else:
            objective = last_value(outcome.output, metric)
            if pruner_errors:
                status, message, objective = "Failed", f"early stopping failed: {pruner_errors[0]}", None
            elif outcome.stopped:
                status, message = "Stopped", f"stopped early after epoch {epochs[-1][0] if epochs else '?'}"
                objective = epochs[-1][1] if epochs else objective
            elif objective is None or not math.isfinite(objective):
                status, message = "Failed", f"the job printed no {metric}=<value>"
                objective = None
            else:
                status = "Completed"
        return TrialResult(
            number=number,
            hyperparameters=hyperparameters,
            status=status,
            objective=objective,
            seconds=time.perf_counter() - clock,
            started=began,
            ended=datetime.now(),
            folder=folder,
            message=message,
            epochs=epochs,
        )

    def _tell(self, trial: optuna.Trial, result: TrialResult) -> None:
        from optuna.trial import TrialState

        if result.status == "Completed":
            self.study.tell(trial, result.objective)
        elif result.status == "Stopped":
            self.study.tell(trial, state=TrialState.PRUNED)
        else:
            self.study.tell(trial, state=TrialState.FAIL)

    def _report(self, result: TrialResult, finished: int) -> None:
        values = " ".join(f"{k}={v}" for k, v in result.hyperparameters.items())
        objective = "-" if result.objective is None else f"{result.objective:.4f}"
        line = (
            f"      {result.name} ({finished}/{self.settings.trials}) {values}: "
            f"{self.settings.metric}={objective} {result.status} in {result.seconds:.1f}s"
        )
        if result.status == "Failed":
            line += f" ({result.message})"
        self.say(line)


def best_trial(trials: list[TrialResult], maximize: bool) -> TrialResult | None:
    """The completed trial with the best objective (the earliest on a tie), as SageMaker picks it."""
    completed = [t for t in trials if t.status == "Completed" and t.objective is not None]
    if not completed:
        return None
    sign = -1.0 if maximize else 1.0
    return min(completed, key=lambda t: (sign * t.objective, t.number))  # type: ignore[operator]


def run_search(
    settings: SearchSettings,
    job: TrainingJob,
    metric_names: list[str],
    say: Callable[[str], None] = print,
) -> SearchResult:
    """Run the search; each trial trains ``job`` (its folder: the tuning step's) with its values.

    Raises LocalRunError when no trial completes.
    """
    tuning = settings.tuning
    say(
        f"      {tuning.strategy} search ({settings.sampler_name()}, pruner: {settings.pruner_name()}): "
        f"{settings.trials} trials, {settings.parallel} at once, "
        f"{tuning.objective.direction.lower()} {settings.metric}"
    )
    if tuning.warm_start is not None:
        say("      note: warm start names SageMaker tuning jobs; the local search starts cold")
    clock = time.perf_counter()
    trials = _Search(settings, job, metric_names, say).run()
    seconds = time.perf_counter() - clock
    out = job.folder / RESULTS_DIR
    best = best_trial(trials, settings.maximize)
    files = write_results(settings, trials, best, out)
    if best is None:
        raise LocalRunError(
            f"{job.name}: no trial completed ({len(trials)} tried); see {files['markdown']} and the "
            f"logs under {job.folder / TRIALS_DIR}"
        )
    say(
        f"      best: {best.name} {settings.metric}={best.objective:.4f} "
        + " ".join(f"{k}={v}" for k, v in best.hyperparameters.items())
        + f"  (results: {files['markdown']})"
    )
    return SearchResult(settings, trials, best, files, seconds)


# ------------------------------------------------------------------------------------------ results
def _columns(settings: SearchSettings) -> list[str]:
    return [
        *settings.tuning.ranges,
        "TrainingJobName",
        "TrainingJobStatus",
        "FinalObjectiveValue",
        "TrainingStartTime",
        "TrainingEndTime",
        "TrainingElapsedTimeSeconds",
        "FailureReason",
    ]


def _row(trial: TrialResult) -> dict[str, Any]:
    return {
        **trial.hyperparameters,
        "TrainingJobName": trial.name,
        "TrainingJobStatus": trial.status,
        "FinalObjectiveValue": "" if trial.objective is None else trial.objective,
        "TrainingStartTime": trial.started.isoformat(timespec="seconds"),
        "TrainingEndTime": trial.ended.isoformat(timespec="seconds"),
        "TrainingElapsedTimeSeconds": round(trial.seconds, 2),
        "FailureReason": trial.message if trial.status == "Failed" else "",
    }


def write_results(
    settings: SearchSettings, trials: list[TrialResult], best: TrialResult | None, out: Path
) -> dict[str, Path]:
    """results.csv, results.md, best.json and the two plots; returns their paths by kind."""
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "csv": out / "results.csv",
        "markdown": out / "results.md",
        "best": out / "best.json",
        "objective_by_trial": out / "objective_by_trial.png",
        "objective_vs_hyperparameters": out / "objective_vs_hyperparameters.png",
    }
    columns = _columns(settings)
    with files["csv"].open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(_row(trial) for trial in trials)
    files["markdown"].write_text(_markdown(settings, trials, best, columns))
    files["best"].write_text(
        json.dumps(
            None
            if best is None
            else {
                "TrainingJobName": best.name,
                "FinalObjectiveValue": best.objective,
                "hyperparameters": best.hyperparameters,
                "model": str(best.artifact),
            },
            indent=2,
        )
        + "\n"
    )
    # Categorical choices are the spec's strings: a '$' in one must not switch matplotlib into math mode.
    with _pyplot().rc_context({"text.parse_math": False}):
        _plot_by_trial(settings, trials, best, files["objective_by_trial"])
        _plot_vs_hyperparameters(settings, trials, best, files["objective_vs_hyperparameters"])
    return files


def _markdown(
    settings: SearchSettings, trials: list[TrialResult], best: TrialResult | None, columns: list[str]
) -> str:
    tuning = settings.tuning
    sign = -1.0 if settings.maximize else 1.0
    ordered = sorted(
        trials,
        key=lambda t: (t.objective is None, t.status != "Completed", sign * (t.objective or 0.0), t.number),
    )
    lines = [
        f"# Tuning results: {settings.metric} ({tuning.objective.direction})",
        "",
        f"{tuning.strategy} search with Optuna's {settings.sampler_name()} "
        f"(pruner: {settings.pruner_name()}), {len(trials)} trials, {settings.parallel} at once, "
        f"seed {settings.seed}.",
        "",
    ]
    if best is not None:
        values = ", ".join(f"{k}={v}" for k, v in best.hyperparameters.items())
        lines += [f"Best: **{best.name}**, {settings.metric} = {best.objective:.4f} ({values}).", ""]
    else:
        lines += ["No trial completed.", ""]
    shown = [c for c in columns if c not in ("TrainingStartTime", "TrainingEndTime")]
    lines.append("| " + " | ".join(shown) + " |")
    lines.append("|" + "---|" * len(shown))
    for trial in ordered:
        row = _row(trial)
        if isinstance(row["FinalObjectiveValue"], float):
            row["FinalObjectiveValue"] = f"{row['FinalObjectiveValue']:.4f}"
        if trial is best:
            row["TrainingJobName"] = f"**{trial.name}** (best)"
        cells = [str(row[c]).replace("|", "\\|") for c in shown]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plot_by_trial(
    settings: SearchSettings, trials: list[TrialResult], best: TrialResult | None, path: Path
) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for status, marker, color in (("Completed", "o", "tab:blue"), ("Stopped", "s", "tab:orange")):
        points = [(t.number, t.objective) for t in trials if t.status == status and t.objective is not None]
        if points:
            ax.scatter(*zip(*points, strict=True), marker=marker, color=color, label=status, zorder=3)
    running_best: list[tuple[int, float]] = []
    current: float | None = None
    for trial in trials:
        if trial.status == "Completed" and trial.objective is not None:
            better = current is None or (
                trial.objective > current if settings.maximize else trial.objective < current
            )
            current = trial.objective if better else current
        if current is not None:
            running_best.append((trial.number, current))
    if running_best:
        ax.step(*zip(*running_best, strict=True), where="post", color="tab:green", label="best so far")
    failed = [t.number for t in trials if t.status == "Failed"]
    for number in failed:
        ax.axvline(number, color="tab:red", alpha=0.3, linestyle=":")
    if failed:
        ax.plot([], [], color="tab:red", alpha=0.3, linestyle=":", label="Failed")
    if best is not None:
        ax.annotate(best.name, (best.number, best.objective), textcoords="offset points", xytext=(5, 5))
    ax.set_xlabel("trial")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel(settings.metric)
    ax.set_title(f"{settings.tuning.strategy} search: {settings.metric} by trial")
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_vs_hyperparameters(
    settings: SearchSettings, trials: list[TrialResult], best: TrialResult | None, path: Path
) -> None:
    plt = _pyplot()
    dimensions = settings.dimensions
    fig, axes = plt.subplots(1, len(dimensions), figsize=(4 * len(dimensions), 3.6), squeeze=False)
    scored = [t for t in trials if t.objective is not None]
    for ax, dim in zip(axes[0], dimensions, strict=True):
        if dim.kind == "categorical":
            positions = {choice: i for i, choice in enumerate(dim.choices)}
            ax.set_xticks(range(len(dim.choices)), dim.choices)
            x_of = lambda t, d=dim, p=positions: p[t.hyperparameters[d.name]]  # noqa: E731
        else:
            if dim.log and not dim.reverse:
                ax.set_xscale("log")
            x_of = lambda t, d=dim: float(t.hyperparameters[d.name])  # noqa: E731
        for status, marker, color in (("Completed", "o", "tab:blue"), ("Stopped", "s", "tab:orange")):
            points = [(x_of(t), t.objective) for t in scored if t.status == status]
            if points:
                ax.scatter(*zip(*points, strict=True), marker=marker, color=color, label=status)
        if best is not None:
            ax.scatter([x_of(best)], [best.objective], s=160, facecolors="none", edgecolors="tab:green")
        ax.set_xlabel(f"{dim.name} ({dim.scale})")
        ax.set_ylabel(settings.metric)
        ax.grid(alpha=0.3)
    fig.suptitle(f"{settings.metric} against each tuned hyperparameter (circled: best)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
