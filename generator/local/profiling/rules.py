"""The spec's built-in Debugger rules evaluated on the metric stream, step by step, with the parameters
the spec gives (over the catalog's defaults: :func:`sagespec.spec.debugger_rules.resolved_parameters`).

What each rule does here, after AWS's "List of Debugger built-in rules" (a step is one metric line):

- LossNotDecreasing: every ``num_steps`` steps the loss (``mode`` EVAL: validation, TRAIN or GLOBAL:
  training; unset: validation where the line has it) is compared with the loss at the last check; it
  fires when it did not decrease by more than ``diff_percent`` percent (by anything, at 0).
- Overfit: from ``start_step``, a step counts when (validation loss - training loss) / training loss
  exceeds ``ratio_threshold``; it fires after ``patience`` such steps in a row.
- Overtraining: each loss keeps its best value; a new best must beat it by ``delta``; it fires when the
  training loss has gone ``patience_train`` steps, or the validation loss ``patience_validation`` steps,
  without a new best.
- StalledTrainingRule: no new step for ``threshold`` seconds.

A rule fires once; its verdict keeps the step and the reason. SageMaker's rule statuses name the outcome.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ...spec.debugger_rules import resolved_parameters
from .stream import StepPoint

ISSUES_FOUND, NO_ISSUES_FOUND = "IssuesFound", "NoIssuesFound"


@dataclass
class Verdict:
    rule: str
    parameters: dict[str, Any]
    stop_training: bool
    status: str = NO_ISSUES_FOUND
    step: int | None = None  # the step it fired at
    seconds: float | None = None  # when it fired, since the job started
    reason: str = ""
    steps_seen: int = 0

    @property
    def fired(self) -> bool:
        return self.status == ISSUES_FOUND

    @property
    def where(self) -> str:
        """When it fired, in words: at a step, or (a time-based rule) after some seconds."""
        if self.step is not None:
            return f"at step {self.step}"
        return f"after {self.seconds or 0:.0f} s"

    def as_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "status": self.status,
            "parameters": self.parameters,
            "stop_training": self.stop_training,
            "step": self.step,
            "seconds": self.seconds,
            "reason": self.reason,
            "steps_seen": self.steps_seen,
        }


@dataclass
class _State:
    """What the stateful rules remember between steps."""

    last_checked: StepPoint | None = None
    in_a_row: int = 0
    best: dict[str, float] = field(default_factory=dict)
    since_best: dict[str, int] = field(default_factory=dict)


def _finite(value: float) -> bool:
    return not math.isnan(value) and not math.isinf(value)


def _loss_for_mode(point: StepPoint, mode: str | None) -> float:
    if mode == "EVAL" or (mode is None and _finite(point.validation_loss)):
        return point.validation_loss
    return point.train_loss


def _loss_not_decreasing(p: dict[str, Any], s: _State, point: StepPoint) -> str | None:
    if s.last_checked is None:
        s.last_checked = point
        return None
    if point.step - s.last_checked.step < p["num_steps"]:
        return None
    before, now = _loss_for_mode(s.last_checked, p.get("mode")), _loss_for_mode(point, p.get("mode"))
    previous_step, s.last_checked = s.last_checked.step, point
    if not (_finite(before) and _finite(now)):
        return f"the loss at step {point.step} is not a number ({now})" if not _finite(now) else None
    decrease = (before - now) / abs(before) * 100 if before else -math.inf
    if decrease > 0 and decrease >= p["diff_percent"]:
        return None
    return (
        f"loss {now:.4f} at step {point.step} vs {before:.4f} at step {previous_step}: "
        f"a decrease of {decrease:.2f}%, wanted more than {p['diff_percent']:g}%"
    )


def _overfit(p: dict[str, Any], s: _State, point: StepPoint) -> str | None:
    train, validation = point.train_loss, point.validation_loss
    if point.step < p["start_step"] or not (_finite(train) and _finite(validation)) or train == 0:
        return None
    ratio = (validation - train) / train
    s.in_a_row = s.in_a_row + 1 if ratio > p["ratio_threshold"] else 0
    if s.in_a_row < p["patience"]:
        return None
    return (
        f"(validation - training loss) / training loss = {ratio:.3f} > {p['ratio_threshold']:g} "
        f"for {s.in_a_row} step(s) in a row (patience {p['patience']})"
    )


def _overtraining(p: dict[str, Any], s: _State, point: StepPoint) -> str | None:
    for name, value, patience in (
        ("training", point.train_loss, p["patience_train"]),
        ("validation", point.validation_loss, p["patience_validation"]),
    ):
        if not _finite(value):
            continue
        if name not in s.best or value < s.best[name] - p["delta"]:
            s.best[name], s.since_best[name] = value, 0
            continue
        s.since_best[name] += 1
        if s.since_best[name] >= patience:
            return (
                f"the {name} loss has not improved on {s.best[name]:.4f} by {p['delta']:g} "
                f"for {s.since_best[name]} step(s) (patience {patience})"
            )
    return None


_STEP_RULES = {
    "LossNotDecreasing": _loss_not_decreasing,
    "Overfit": _overfit,
    "Overtraining": _overtraining,
}


class RuleSet:
    """The spec's rules on one job's metric stream: feed each step, poll the clock for stalls."""

    def __init__(self, rules: dict[str, dict[str, Any]], stop_training_on: list[str]) -> None:
        self.verdicts = {
            name: Verdict(name, resolved_parameters(name, params), name in stop_training_on)
            for name, params in rules.items()
        }
        self._states = {name: _State() for name in rules}
        self._last_step_at = 0.0

    def _fire(self, verdict: Verdict, point_step: int | None, seconds: float, reason: str) -> None:
        verdict.status, verdict.step = ISSUES_FOUND, point_step
        verdict.seconds, verdict.reason = seconds, reason

    def feed(self, point: StepPoint) -> list[Verdict]:
        """Evaluate every rule on ``point``; return the verdicts that fired on it."""
        self._last_step_at = point.seconds
        fired = []
        for name, verdict in self.verdicts.items():
            verdict.steps_seen += 1
            evaluate = _STEP_RULES.get(name)
            if verdict.fired or evaluate is None:
                continue
            reason = evaluate(verdict.parameters, self._states[name], point)
            if reason:
                self._fire(verdict, point.step, point.seconds, reason)
                fired.append(verdict)
        return fired

    def tick(self, seconds: float) -> list[Verdict]:
        """Evaluate the time-based rules at ``seconds`` since the job started."""
        verdict = self.verdicts.get("StalledTrainingRule")
        if verdict is None or verdict.fired:
            return []
        waited = seconds - self._last_step_at
        if waited < verdict.parameters["threshold"]:
            return []
        reason = f"no new step for {waited:.0f} s (threshold {verdict.parameters['threshold']} s)"
        self._fire(verdict, None, seconds, reason)
        return [verdict]

    def fired(self) -> list[Verdict]:
        return [v for v in self.verdicts.values() if v.fired]
