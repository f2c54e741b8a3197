"""What one search runs, and the Optuna sampler and pruner that run it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...errors import SagespecError
from ...plan import HYPERBAND_MIN_RESOURCE, hyperband_max_resource, tuning_job_count
from ...spec.models import Spec, Tuning
from .space import Dimension

if TYPE_CHECKING:
    import optuna

HYPERBAND_REDUCTION_FACTOR = 3


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
        jobs = tuning_job_count(spec)
        count = trials or jobs
        if tuning.strategy == "Grid":
            # Grid search trains every combination once, as SageMaker does; --trials may cut it short.
            count = min(count, jobs)
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
