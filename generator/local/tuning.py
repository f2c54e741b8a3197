"""What a local run trains with when the spec tunes: one job, every tuned hyperparameter at one value.

The plan leaves tuned hyperparameters out of the static set (the tuner sets them on SageMaker). The local
run does not search; it trains once with each tuned hyperparameter at the catalog default, clamped into
the tuning range (a categorical range: its first value, unless the default is one of them).
"""

from __future__ import annotations

import math

from ..plan import _hp_string
from ..spec.catalog import ALGORITHMS
from ..spec.models import CategoricalRange, ContinuousRange, IntegerRange, Spec


def untuned_values(spec: Spec) -> dict[str, str]:
    if not spec.tuning_enabled or spec.tuning is None:
        return {}
    algorithm = ALGORITHMS[spec.model.type]
    values: dict[str, str] = {}
    for name, rng in spec.tuning.ranges.items():
        hp = algorithm.hyperparameters.get(name)
        default = hp.default if hp is not None else None
        if isinstance(rng, CategoricalRange):
            value = default if default in rng.values else rng.values[0]
        elif isinstance(rng, IntegerRange | ContinuousRange):
            if isinstance(default, int | float) and not isinstance(default, bool) and math.isfinite(default):
                value = min(max(default, rng.min), rng.max)
            else:
                value = (rng.min + rng.max) / 2
            if isinstance(rng, IntegerRange):
                value = int(round(value))
        else:  # pragma: no cover - the spec allows no other range type
            continue
        values[name] = _hp_string(value)
    return values
