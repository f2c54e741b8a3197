"""One trial's outcome, and which trial is best."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

TrialStatus = Literal["Completed", "Failed", "Stopped"]


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


def best_trial(trials: list[TrialResult], maximize: bool) -> TrialResult | None:
    """The completed trial with the best objective (the earliest on a tie), as SageMaker picks it."""
    completed = [t for t in trials if t.status == "Completed" and t.objective is not None]
    if not completed:
        return None
    sign = -1.0 if maximize else 1.0
    return min(completed, key=lambda t: (sign * t.objective, t.number))  # type: ignore[operator]
