"""The local Debugger rules on synthetic metric streams: each must fire where its condition holds and
stay quiet where it does not (issue 15)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sagespec.local.profiling.rules import ISSUES_FOUND, NO_ISSUES_FOUND, RuleSet
from sagespec.local.profiling.stream import StepPoint, parse_step, step_seconds
from sagespec.spec.debugger_rules import SUPPORTED_RULES, steps_to_fire


def _stream(train: list[float], validation: list[float] | None = None) -> list[StepPoint]:
    validation = validation if validation is not None else [math.nan] * len(train)
    return [
        StepPoint(i + 1, float(i + 1), t, v) for i, (t, v) in enumerate(zip(train, validation, strict=True))
    ]


def _run(rule: str, params: dict, points: list[StepPoint]) -> RuleSet:
    rules = RuleSet({rule: params}, [])
    for point in points:
        rules.feed(point)
    return rules


DECREASING = [1.0, 0.8, 0.6, 0.45, 0.35, 0.28, 0.22, 0.18]

# For every supported rule: (parameters, a stream it must fire on, a stream it must not fire on).
CASES = {
    "LossNotDecreasing": (
        {"num_steps": 2, "mode": "TRAIN"},
        _stream([1.0, 0.9, 0.95, 0.97, 1.0]),
        _stream(DECREASING),
    ),
    "Overfit": (
        {"patience": 2, "ratio_threshold": 0.1},
        _stream([0.5, 0.4, 0.3, 0.2], [0.52, 0.5, 0.45, 0.4]),
        _stream([0.5, 0.4, 0.3, 0.2], [0.52, 0.42, 0.31, 0.21]),
    ),
    "Overtraining": (
        {"patience_train": 3, "patience_validation": 3, "delta": 0.01},
        _stream([0.5, 0.4, 0.3, 0.2, 0.1, 0.05], [0.6, 0.55, 0.56, 0.58, 0.6, 0.62]),
        _stream(DECREASING, DECREASING),
    ),
}


def test_every_supported_rule_has_a_firing_case():
    assert set(CASES) | {"StalledTrainingRule"} == set(SUPPORTED_RULES)


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_fires_on_its_condition(rule):
    params, firing, _ = CASES[rule]
    verdict = _run(rule, params, firing).verdicts[rule]
    assert verdict.status == ISSUES_FOUND and verdict.step is not None and verdict.reason


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_is_quiet_without_its_condition(rule):
    params, _, quiet = CASES[rule]
    assert _run(rule, params, quiet).verdicts[rule].status == NO_ISSUES_FOUND


def test_defaults_apply_when_the_spec_gives_none():
    # LossNotDecreasing checks every 10 steps by default: a flat loss over 10 steps does not fire,
    # over 11 it does.
    assert _run("LossNotDecreasing", {}, _stream([1.0] * 10)).verdicts["LossNotDecreasing"].step is None
    assert _run("LossNotDecreasing", {}, _stream([1.0] * 11)).verdicts["LossNotDecreasing"].step == 11


def test_loss_not_decreasing_reads_the_validation_loss_unless_told_otherwise():
    points = _stream(DECREASING[:3], [0.5, 0.6, 0.7])
    assert _run("LossNotDecreasing", {"num_steps": 1}, points).verdicts["LossNotDecreasing"].step == 2
    train = _run("LossNotDecreasing", {"num_steps": 1, "mode": "TRAIN"}, points)
    assert train.verdicts["LossNotDecreasing"].status == NO_ISSUES_FOUND


def test_diff_percent_asks_for_a_large_enough_decrease():
    points = _stream([1.0, 0.97, 0.94])  # 3% a step
    assert _run("LossNotDecreasing", {"num_steps": 1, "diff_percent": 2.0}, points).fired() == []
    assert _run("LossNotDecreasing", {"num_steps": 1, "diff_percent": 5.0}, points).fired()


def test_stalled_training_fires_on_the_clock_only():
    rules = RuleSet({"StalledTrainingRule": {"threshold": 30}}, ["StalledTrainingRule"])
    rules.feed(StepPoint(1, 10.0, 1.0, 1.0))
    assert rules.tick(39.0) == []
    fired = rules.tick(41.0)
    assert [v.rule for v in fired] == ["StalledTrainingRule"] and fired[0].stop_training
    assert fired[0].where == "after 41 s"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0.01, 10.0), min_size=2, max_size=30),
    st.integers(1, 5),
)
def test_a_strictly_decreasing_loss_never_fires_loss_not_decreasing(start, num_steps):
    losses = sorted(set(start), reverse=True)
    assert _run("LossNotDecreasing", {"num_steps": num_steps}, _stream(losses)).fired() == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.01, 10.0), min_size=1, max_size=30))
def test_validation_at_or_below_training_never_overfits(losses):
    points = _stream(losses, [loss * 0.99 for loss in losses])
    assert _run("Overfit", {"patience": 1}, points).fired() == []


def test_metric_lines_become_steps():
    line = "epoch=3 train:loss=0.5123 train:accuracy=0.7 validation:loss=0.6012 validation:accuracy=0.68"
    point = parse_step(line, 12.5)
    assert point == StepPoint(3, 12.5, 0.5123, 0.6012)
    assert parse_step("examples: train=10 validation=2", 1.0) is None
    assert step_seconds([StepPoint(1, 4.0, 1, 1), StepPoint(2, 10.0, 1, 1)]) == [4.0, 6.0]


_STEP_PARAMETERS = {
    "LossNotDecreasing": st.fixed_dictionaries({"num_steps": st.integers(1, 6)}),
    "Overfit": st.fixed_dictionaries({"start_step": st.integers(0, 4), "patience": st.integers(1, 4)}),
    "Overtraining": st.fixed_dictionaries(
        {"patience_train": st.integers(1, 5), "patience_validation": st.integers(1, 5), "delta": st.just(0.0)}
    ),
}


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(sorted(_STEP_PARAMETERS)).flatmap(lambda r: st.tuples(st.just(r), _STEP_PARAMETERS[r])),
    st.lists(st.tuples(st.floats(0.01, 5.0), st.floats(0.01, 5.0)), min_size=1, max_size=12),
)
def test_no_rule_fires_before_the_spec_checks_fewest_steps(rule_and_parameters, losses):
    """The spec warns that a rule can never fire when the epochs are fewer than steps_to_fire: the
    local rules must agree, on any stream."""
    rule, parameters = rule_and_parameters
    needed = steps_to_fire(rule, parameters)
    points = _stream([t for t, _ in losses], [v for _, v in losses])
    verdict = _run(rule, parameters, points).verdicts[rule]
    if verdict.fired:
        assert verdict.step is not None and verdict.step >= needed
