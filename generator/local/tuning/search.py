"""The search loop: Optuna asks, each trial trains one job in its own process, Optuna is told.

Per-epoch values for the pruners come from the job's log as it runs (:func:`epoch_value`); a trial's
final objective is the last value it printed, as a metric definition reads it.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import LocalRunError
from ...spec.catalog import METRIC_VALUE_PATTERN
from ..training import TrainingJob, parse_metrics, run_training_job
from .report import write_results
from .settings import SearchSettings
from .trials import TrialResult, TrialStatus, best_trial

if TYPE_CHECKING:
    import optuna

RESULTS_DIR = "tuning"
TRIALS_DIR = "trials"


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
    found = re.search(rf"(?:{re.escape(metric)}=|{re.escape(stand_in)}:\s*){METRIC_VALUE_PATTERN}", line)
    try:
        return (int(head.group(1)), float(found.group(1))) if found else None
    except ValueError:  # the pattern also takes '1.2.3' or '-', which are no numbers
        return None


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
            objective = parse_metrics(outcome.output, [metric]).get(metric)
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
