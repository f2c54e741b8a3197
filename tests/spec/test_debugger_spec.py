"""model.debugger: rule names and parameters against the built-in rule catalog (issue 15)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import smdebug_rulesconfig
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sagespec.errors import SpecError
from sagespec.spec.debugger_rules import BUILT_IN_RULES, SUPPORTED_RULES, resolved_parameters
from sagespec.spec.loader import load_spec_text


def _findings(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """(errors, warnings) by path."""
    try:
        loaded = load_spec_text(text)
    except SpecError as exc:
        return {i.path: i.message for i in exc.issues}, {w.path: w.message for w in exc.warnings}
    return {}, {w.path: w.message for w in loaded.warnings}


def _bert(example_text, debugger: dict, *, framework: str = "tensorflow") -> str:
    spec = yaml.safe_load(example_text("womens-clothing-bert.yaml"))
    spec["model"]["framework"] = framework
    spec["model"]["debugger"] = debugger
    return yaml.safe_dump(spec, sort_keys=False)


def test_rule_names_are_smdebug_rulesconfigs_catalog():
    configs = Path(smdebug_rulesconfig.__file__).parent / "debugger_rules/rule_config_jsons/ruleConfigs.json"
    assert set(BUILT_IN_RULES) == set(json.loads(configs.read_text()))


@pytest.mark.parametrize("framework", ["tensorflow", "pytorch"])
def test_issue_example_is_accepted_for_both_frameworks(example_text, framework):
    debugger = {
        "profiler": True,
        "system_monitor_interval_ms": 500,
        "rules": {"LossNotDecreasing": {}, "Overtraining": {"patience_train": 5}},
        "stop_training_on": ["LossNotDecreasing"],
        "tensorboard": framework == "tensorflow",
    }
    errors, warnings = _findings(_bert(example_text, debugger, framework=framework))
    assert errors == {}
    # Where the rules run (and that AWS closed Debugger to new customers); and with the example's 3
    # epochs (one step each) the default LossNotDecreasing (every 10 steps) and Overtraining (patience 5)
    # never fire.
    assert sorted(warnings) == [
        "model.debugger.rules",
        "model.debugger.rules.LossNotDecreasing",
        "model.debugger.rules.Overtraining",
    ]
    assert "needs 11" in warnings["model.debugger.rules.LossNotDecreasing"]
    assert (
        "rule jobs" in warnings["model.debugger.rules"] and "2026-07-30" in warnings["model.debugger.rules"]
    )


@pytest.mark.parametrize(
    ("rule", "parameters", "epochs", "fires"),
    [
        ("LossNotDecreasing", {"num_steps": 2}, 3, True),
        ("LossNotDecreasing", {"num_steps": 3}, 3, False),
        ("Overfit", {}, 1, True),
        ("Overfit", {"start_step": 3, "patience": 2}, 3, False),
        ("Overtraining", {"patience_train": 2, "patience_validation": 4}, 3, True),
        ("Overtraining", {"patience_train": 3, "patience_validation": 4}, 3, False),
    ],
)
def test_a_rule_that_cannot_fire_within_the_epochs_is_a_warning(
    example_text, rule, parameters, epochs, fires
):
    spec = yaml.safe_load(_bert(example_text, {"rules": {rule: parameters}}))
    spec["model"]["hyperparameters"]["epochs"] = epochs
    errors, warnings = _findings(yaml.safe_dump(spec))
    assert errors == {}
    assert (f"model.debugger.rules.{rule}" not in warnings) == fires


def test_tensorboard_is_refused_for_pytorch(example_text):
    errors, _ = _findings(_bert(example_text, {"tensorboard": True}, framework="pytorch"))
    assert "writes no TensorBoard logs" in errors["model.debugger.tensorboard"]


def test_profiler_alone_has_no_finding(example_text):
    assert _findings(_bert(example_text, {"profiler": True})) == ({}, {})


def test_unknown_rule_and_tensor_rules_are_refused_with_reasons(example_text):
    debugger = {"rules": {"LossNotDecreasin": {}, "VanishingGradient": {}, "TreeDepth": {}}}
    errors, _ = _findings(_bert(example_text, debugger))
    assert "unknown built-in rule" in errors["model.debugger.rules.LossNotDecreasin"]
    assert "smdebug hook" in errors["model.debugger.rules.VanishingGradient"]
    assert "XGBoost" in errors["model.debugger.rules.TreeDepth"]


def test_every_bad_parameter_is_reported_at_once(example_text):
    debugger = {
        "rules": {
            "LossNotDecreasing": {"num_steps": 0, "mode": "TEST", "windows": 3},
            "Overfit": {"ratio_threshold": 0},
        },
        "stop_training_on": ["Overtraining"],
    }
    errors, _ = _findings(_bert(example_text, debugger))
    assert set(errors) == {
        "model.debugger.rules.LossNotDecreasing.num_steps",
        "model.debugger.rules.LossNotDecreasing.mode",
        "model.debugger.rules.LossNotDecreasing.windows",
        "model.debugger.rules.Overfit.ratio_threshold",
        "model.debugger.stop_training_on.0",
    }


def test_blazingtext_refuses_the_debugger(example_text):
    spec = yaml.safe_load(example_text("womens-clothing-blazingtext.yaml"))
    spec["model"]["debugger"] = {"profiler": True}
    errors, _ = _findings(yaml.safe_dump(spec))
    assert "built-in algorithm" in errors["model.debugger"]


def test_tuning_refuses_the_debugger(example_text):
    spec = yaml.safe_load(example_text("womens-clothing-blazingtext-tuning.yaml"))
    bert = yaml.safe_load(example_text("womens-clothing-bert.yaml"))
    bert["tuning"] = {
        "objective": {"metric": "validation:accuracy"},
        "ranges": {"learning_rate": {"type": "continuous", "min": 1e-5, "max": 1e-4}},
    }
    bert["model"]["debugger"] = {"tensorboard": True}
    assert spec  # the BlazingText tuning example exists; BERT's tuning is built here
    errors, _ = _findings(yaml.safe_dump(bert))
    assert "HyperParameterTrainingJobDefinition" in errors["model.debugger"]


_RULE_WITH_PARAMETER = st.sampled_from(
    [(rule, p) for rule in SUPPORTED_RULES for p in BUILT_IN_RULES[rule].parameters]
)
_VALUES = st.one_of(
    st.integers(-(10**6), 10**6), st.floats(allow_nan=True), st.text(max_size=8), st.booleans()
)
_BERT_SPEC = yaml.safe_load((Path(__file__).parents[2] / "specs/womens-clothing-bert.yaml").read_text())


def _acceptable(parameter, value) -> bool:
    """The documented valid values, written out independently of the catalog's own check."""
    if parameter.choices:
        return value in parameter.choices
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if parameter.kind == "int" and not isinstance(value, int):
        return False
    if value != value or value in (float("inf"), float("-inf")):
        return False
    low = parameter.minimum
    above = low is None or (value > low if parameter.exclusive_minimum else value >= low)
    return above and (parameter.maximum is None or value <= parameter.maximum)


@settings(max_examples=80, deadline=None)
@given(_RULE_WITH_PARAMETER, _VALUES)
def test_a_parameter_is_accepted_exactly_when_it_is_valid(rule_and_parameter, value):
    rule, parameter = rule_and_parameter
    spec = json.loads(json.dumps(_BERT_SPEC))
    spec["model"]["debugger"] = {"rules": {rule: {parameter.name: value}}}
    errors, _ = _findings(yaml.safe_dump(spec))
    path = f"model.debugger.rules.{rule}.{parameter.name}"
    assert (path not in errors) == _acceptable(parameter, value)


def test_resolved_parameters_start_from_the_documented_defaults():
    assert resolved_parameters("Overtraining", {"patience_train": 3}) == {
        "patience_train": 3,
        "patience_validation": 10,
        "delta": 0.1,
    }
    assert resolved_parameters("LossNotDecreasing", {})["num_steps"] == 10
