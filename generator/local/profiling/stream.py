"""The training script's metric lines as a stream of steps: what the rules read.

Both training scripts print one line per epoch (``epoch=2 train:loss=0.41 ... validation:loss=0.52
...``); each is one step of the stream, timed by when the line arrived.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ...spec.catalog import METRIC_VALUE_PATTERN

EPOCH_LINE = re.compile(r"^epoch=(\d+)\s")
TRAIN_LOSS, VALIDATION_LOSS = "train:loss", "validation:loss"


@dataclass(frozen=True)
class StepPoint:
    step: int  # the epoch the line reports
    seconds: float  # since the job started, when the line arrived
    train_loss: float
    validation_loss: float


def _value(line: str, name: str) -> float:
    found = re.search(rf"(?:^|\s){re.escape(name)}={METRIC_VALUE_PATTERN}", line)
    if found is None:
        return math.nan
    try:
        return float(found.group(1))
    except ValueError:
        return math.nan


def parse_step(line: str, seconds: float) -> StepPoint | None:
    """The step a metric line reports, or None for any other line."""
    match = EPOCH_LINE.match(line)
    if match is None:
        return None
    return StepPoint(int(match.group(1)), seconds, _value(line, TRAIN_LOSS), _value(line, VALIDATION_LOSS))


def step_seconds(points: list[StepPoint]) -> list[float]:
    """How long each step took: from the job's start (or the step before) to its line."""
    times = [0.0, *(p.seconds for p in points)]
    return [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
