"""Spec -> the tuning part of the template context: what the TuneModel step (a SageMaker TuningStep)
searches, how, and for which objective. Values are plain data (dicts, lists, strings, numbers) that
``pipelines/<pkg>/tuning.py`` prints as constants; the local tuner reads the same spec section."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..plan import HYPERBAND_MIN_RESOURCE, Plan, hyperband_max_resource
from ..spec.catalog import hyperparameter_text
from ..spec.checks_tuning import grid_size
from ..spec.models import CategoricalRange, ContinuousRange, IntegerRange, Range, Spec


def range_dict(rng: Range) -> dict[str, Any]:
    """One range as plain data: continuous/integer bounds and scaling, or categorical values as the
    strings the training job receives."""
    if isinstance(rng, CategoricalRange):
        return {"type": "categorical", "values": [hyperparameter_text(value) for value in rng.values]}
    assert isinstance(rng, ContinuousRange | IntegerRange)
    kind = "integer" if isinstance(rng, IntegerRange) else "continuous"
    cast = int if kind == "integer" else float
    return {"type": kind, "min": cast(rng.min), "max": cast(rng.max), "scaling": rng.scaling}


def strategy_config(spec: Spec) -> dict[str, dict[str, int]] | None:
    """HyperParameterTuningJobStrategyConfig as the API spells it (Hyperband only)."""
    if spec.tuning is None or spec.tuning.strategy != "Hyperband":
        return None
    return {
        "HyperbandStrategyConfig": {
            "MinResource": HYPERBAND_MIN_RESOURCE,
            "MaxResource": hyperband_max_resource(spec),
        }
    }


@dataclass(frozen=True)
class TuningGroup:
    """``tuning.*``: the tuning job around the training step, from ``spec.tuning``."""

    step_name: str
    strategy: str
    objective_metric: str
    objective_type: str
    # Grid search trains every combination: SageMaker counts them itself, so no job limit is sent.
    max_jobs: int | None
    grid_size: int | None
    max_parallel_jobs: int
    early_stopping: str
    ranges: dict[str, dict[str, Any]]
    strategy_config: dict[str, dict[str, int]] | None
    warm_start: dict[str, Any] | None


def tuning_group(spec: Spec, plan: Plan) -> TuningGroup | None:
    """None when the spec does not tune (templates test ``{% if tuning %}``)."""
    tuning = spec.tuning if spec.tuning_enabled else None
    if tuning is None:
        return None
    grid = tuning.strategy == "Grid"
    return TuningGroup(
        step_name=next(s.name for s in plan.steps if s.kind == "tuning"),
        strategy=tuning.strategy,
        objective_metric=tuning.objective.metric,
        objective_type=tuning.objective.direction,
        max_jobs=None if grid else tuning.max_jobs,
        grid_size=grid_size(tuning.ranges) if grid else None,
        max_parallel_jobs=tuning.max_parallel_jobs,
        early_stopping=tuning.early_stopping,
        ranges={name: range_dict(rng) for name, rng in tuning.ranges.items()},
        strategy_config=strategy_config(spec),
        warm_start=(
            {"parent_jobs": list(tuning.warm_start.parent_jobs), "type": tuning.warm_start.type}
            if tuning.warm_start is not None
            else None
        ),
    )
