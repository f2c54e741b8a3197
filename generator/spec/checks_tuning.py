"""Cross-field checks of the tuning section: ranges against the algorithm's hyperparameters, the
strategy's rules, and CreateHyperParameterTuningJob's limits."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping

from .catalog import algorithm_for, hyperparameter_text
from .findings import Finding, error, warning
from .models import CategoricalRange, ContinuousRange, IntegerRange, Range, Spec

# CreateHyperParameterTuningJob's limits: values of one categorical range, and tuning job names.
MAX_CATEGORICAL_VALUES = 30
TUNING_JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}$")
# Hyperparameters that one step before training also reads, so they cannot vary per training job.
NOT_TUNABLE: dict[str, dict[str, str]] = {
    "bert": {
        "max_seq_length": "PreprocessData tokenizes to this length once for every training job; "
        "set it in model.hyperparameters",
    },
}


def check_tuning(spec: Spec) -> Iterator[Finding]:
    tuning = spec.tuning
    if tuning is None or not tuning.enabled:
        return
    algorithm = algorithm_for(spec.model)
    if tuning.objective.metric not in algorithm.metrics:
        yield error(
            "tuning.objective.metric",
            f"{spec.model.type} never emits {tuning.objective.metric!r}; it emits "
            + ", ".join(algorithm.metrics),
        )
    else:
        expected = algorithm.metrics[tuning.objective.metric].direction
        if tuning.objective.direction != expected:
            yield warning(
                "tuning.objective.direction",
                f"{tuning.objective.metric} is usually {expected}d, not {tuning.objective.direction}d",
            )
    if tuning.max_parallel_jobs > tuning.max_jobs:
        yield error("tuning.max_parallel_jobs", f"must not exceed max_jobs ({tuning.max_jobs})")
    for name, rng in tuning.ranges.items():
        path = f"tuning.ranges.{name}"
        hp = algorithm.hyperparameters.get(name)
        if hp is None:
            allowed = ", ".join(sorted(algorithm.hyperparameters))
            yield error(path, f"{spec.model.type} has no hyperparameter {name!r}; allowed: {allowed}")
            continue
        if name in spec.model.hyperparameters:
            yield error(path, f"is also fixed in model.hyperparameters.{name}; keep one")
        if name in NOT_TUNABLE.get(spec.model.type, {}):
            yield error(path, NOT_TUNABLE[spec.model.type][name])
        if tuning.strategy == "Grid" and not isinstance(rng, CategoricalRange):
            yield error(f"{path}.type", "Grid search takes only categorical ranges")
        if isinstance(rng, ContinuousRange | IntegerRange):
            if isinstance(rng, ContinuousRange) and hp.kind == "int":
                yield error(f"{path}.type", f"{name} is an integer; use an integer range")
            if hp.kind in ("bool", "str"):
                yield error(f"{path}.type", f"{name} is not numeric; use a categorical range")
            if not rng.min < rng.max:
                yield error(f"{path}.min", f"must be below max ({rng.max:g})")
            if rng.scaling == "Logarithmic" and not rng.min > 0:
                yield error(f"{path}.scaling", "Logarithmic scaling needs min > 0")
            if rng.scaling == "ReverseLogarithmic":
                if isinstance(rng, IntegerRange):
                    yield error(f"{path}.scaling", "ReverseLogarithmic scaling is for continuous ranges")
                elif not (rng.min >= 0 and rng.max < 1):
                    yield error(f"{path}.scaling", "ReverseLogarithmic scaling needs 0 <= min and max < 1")
            for bound in ("min", "max"):
                problem = hp.check(getattr(rng, bound))
                if problem and hp.kind in ("int", "float"):
                    yield error(f"{path}.{bound}", problem)
        if isinstance(rng, CategoricalRange):
            if len(rng.values) > MAX_CATEGORICAL_VALUES:
                yield error(f"{path}.values", f"SageMaker takes at most {MAX_CATEGORICAL_VALUES} values")
            seen: list[str] = []
            for i, value in enumerate(rng.values):
                problem = hp.check(value)
                if problem:
                    yield error(f"{path}.values.{i}", problem)
                    continue
                # The job parses a float hyperparameter's text: 1 and 1.0 are the same choice.
                text = hyperparameter_text(float(value) if hp.kind == "float" else value)
                if text in seen:
                    yield error(f"{path}.values.{i}", f"{value!r} is listed twice")
                seen.append(text)
    if tuning.strategy == "Hyperband":
        if tuning.early_stopping != "Off":
            yield error("tuning.early_stopping", "Hyperband stops trials itself; set it to Off")
        objective = algorithm.metrics.get(tuning.objective.metric)
        if objective is not None and not objective.per_epoch:
            yield error(
                "tuning.strategy",
                f"Hyperband needs a metric reported every epoch; {spec.model.type} reports "
                f"{tuning.objective.metric} only at the end",
            )
    if tuning.strategy == "Grid":
        if tuning.early_stopping != "Off":
            yield error("tuning.early_stopping", "Grid search does not support early stopping")
        grid = grid_size(tuning.ranges)
        if "max_jobs" in tuning.model_fields_set and grid and tuning.max_jobs != grid:
            yield warning(
                "tuning.max_jobs",
                f"Grid search trains every combination of the categorical values ({grid} jobs); "
                "max_jobs is not used",
            )
    if tuning.strategy == "Hyperband" and "epochs" in tuning.ranges:
        yield warning(
            "tuning.ranges.epochs", "Hyperband decides how many epochs each job trains; tune other values"
        )
    if tuning.warm_start is not None:
        if tuning.strategy not in ("Bayesian", "Random"):
            yield error("tuning.warm_start", "warm start works with Bayesian or Random search only")
        for i, name in enumerate(tuning.warm_start.parent_jobs):
            if not TUNING_JOB_NAME.match(name):
                yield error(
                    f"tuning.warm_start.parent_jobs.{i}",
                    f"{name!r} is not a tuning job name (1-32 letters, digits and '-')",
                )


def grid_size(ranges: Mapping[str, Range]) -> int:
    """How many jobs a Grid search runs: the product of the categorical ranges' sizes (0: not a grid)."""
    if not ranges or not all(isinstance(r, CategoricalRange) for r in ranges.values()):
        return 0
    return math.prod(len(r.values) for r in ranges.values() if isinstance(r, CategoricalRange))
