"""The local AutoML search: Optuna over the candidate families, under the spec's AutoML settings.

Like Autopilot, the search first tries each family with its defaults (enqueued trials, best-known first,
so that a small ``max_candidates`` still covers the families that suit text), then lets Optuna's TPE
sampler pick a family and its hyperparameters for each further candidate. Each candidate trains in its
own process, killed when it runs past ``max_runtime_per_training_job_seconds`` (a training job's limit);
no candidate starts after ``max_total_runtime_seconds`` and none runs past it. Candidates are ranked by
the spec's objective on the validation channel; ties go to the earlier candidate.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .families import FAMILIES


def objective_score(objective: str, truth: list[str], predicted: list[str]) -> float:
    """Autopilot's multiclass objectives as scikit-learn computes them (all: higher is better)."""
    from sklearn import metrics

    if objective == "Accuracy":
        return float(metrics.accuracy_score(truth, predicted))
    if objective == "BalancedAccuracy":
        return float(metrics.balanced_accuracy_score(truth, predicted))
    average = {"F1macro": "f1", "PrecisionMacro": "precision", "RecallMacro": "recall"}.get(objective)
    if average is None:
        raise ValueError(f"unknown objective {objective!r}")
    score = {"f1": metrics.f1_score, "precision": metrics.precision_score, "recall": metrics.recall_score}
    return float(score[average](truth, predicted, average="macro", zero_division=0))


@dataclass(frozen=True)
class Settings:
    """The AutoML job's configuration (the spec's model section, as the plan hands it on)."""

    max_candidates: int
    objective: str
    max_runtime_per_job: float
    max_total_runtime: float
    seed: int = 42

    @classmethod
    def from_hyperparameters(cls, hps: dict[str, Any]) -> Settings:
        return cls(
            max_candidates=int(hps["max_candidates"]),
            objective=str(hps["objective"]),
            max_runtime_per_job=float(hps["max_runtime_per_training_job_seconds"]),
            max_total_runtime=float(hps["max_total_runtime_seconds"]),
            seed=int(hps.get("seed", 42)),
        )


@dataclass
class Candidate:
    name: str
    family: str
    params: dict[str, Any]
    status: str  # "done", "timeout" (ran past its limit) or "failed"
    seconds: float
    score: float | None = None
    error: str = ""
    folder: Path | None = None


@dataclass
class SearchResult:
    objective: str
    candidates: list[Candidate] = field(default_factory=list)

    @property
    def best(self) -> Candidate | None:
        done = [c for c in self.candidates if c.status == "done" and c.score is not None]
        return max(done, key=lambda c: c.score or 0.0) if done else None  # max keeps the first of ties


Data = tuple[list[str], list[str]]


def _train_candidate(
    family: str, params: dict[str, Any], train: Data, valid: Data, seed: int, out: Path
) -> None:
    """In the candidate's process: fit, save into ``out`` and write the validation predictions.

    One thread for the numerical libraries (OpenMP, BLAS), as fastText trains: candidates are compared
    on equal terms, and on a shared machine a multi-threaded fit does not slow to a crawl.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        predict = FAMILIES[family].train(params, train[0], train[1], seed, out)
        (out / "predictions.json").write_text(json.dumps(predict(valid[0])))


def run_candidate(
    name: str,
    family: str,
    params: dict[str, Any],
    train: Data,
    valid: Data,
    settings: Settings,
    limit: float,
    root: Path,
) -> Candidate:
    """Train one candidate in its own (forked) process within ``limit`` seconds and score it."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    context = multiprocessing.get_context("fork")  # the child shares the loaded data
    process = context.Process(
        target=_train_candidate, args=(family, params, train, valid, settings.seed, folder), daemon=True
    )
    started = time.perf_counter()
    process.start()
    process.join(max(limit, 0.0))
    seconds = time.perf_counter() - started
    if process.is_alive():
        process.terminate()
        process.join()
        return Candidate(
            name, family, params, "timeout", seconds, error=f"ran past {limit:.0f} s", folder=folder
        )
    predictions = folder / "predictions.json"
    if process.exitcode != 0 or not predictions.is_file():
        error = f"exit code {process.exitcode}"
        return Candidate(name, family, params, "failed", seconds, error=error, folder=folder)
    predicted = json.loads(predictions.read_text())
    predictions.unlink()
    score = objective_score(settings.objective, valid[1], predicted)
    return Candidate(name, family, params, "done", seconds, score=score, folder=folder)


def search(
    settings: Settings,
    train: Data,
    valid: Data,
    workdir: Path,
    say: Callable[[str], None] = print,
) -> SearchResult:
    """Train up to ``max_candidates`` candidates within the time limits; every candidate is kept in
    ``workdir/<candidate>/``."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=settings.seed)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    for family in FAMILIES.values():
        study.enqueue_trial({"family": family.name, **family.defaults}, skip_if_exists=True)
    result = SearchResult(settings.objective)
    deadline = time.monotonic() + settings.max_total_runtime

    def objective(trial: Any) -> float:
        name = f"candidate-{trial.number + 1:03d}"
        family = trial.suggest_categorical("family", list(FAMILIES))
        params = FAMILIES[family].sample(trial)
        limit = min(settings.max_runtime_per_job, deadline - time.monotonic())
        candidate = run_candidate(name, family, params, train, valid, settings, limit, workdir)
        result.candidates.append(candidate)
        shown = (
            f"{settings.objective}={candidate.score:.4f}" if candidate.score is not None else candidate.error
        )
        say(f"{name} {family:<15} {shown} ({candidate.seconds:.1f} s) {json.dumps(params)}")
        if candidate.score is None:
            raise optuna.TrialPruned(candidate.error)
        return candidate.score

    study.optimize(objective, n_trials=settings.max_candidates, timeout=settings.max_total_runtime)
    return result
