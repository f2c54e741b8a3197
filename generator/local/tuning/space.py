"""The search space: each tuned range of the spec as Optuna samples it (the package docstring says
how SageMaker's scalings map onto Optuna)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ...spec.catalog import hyperparameter_text
from ...spec.models import CategoricalRange, ContinuousRange, IntegerRange, Range

if TYPE_CHECKING:
    import optuna

AUTO_LOG_SPAN = 100.0  # Auto scaling of a continuous range: logarithmic from two orders of magnitude on


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
            return cls(name, "categorical", choices=tuple(hyperparameter_text(v) for v in rng.values))
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
            return hyperparameter_text(_round(min(max(1 - distance, self.low), self.high)))
        return hyperparameter_text(_round(trial.suggest_float(self.name, self.low, self.high, log=self.log)))


def _round(value: float) -> float:
    """Six significant digits: what the job receives, the table shows and a rerun can type back."""
    return float(f"{value:.6g}")
