"""SageMaker Debugger's built-in rules: which exist, which parameters each takes with its default, and
which of them a sagespec training job can feed.

The names are the catalog of ``smdebug_rulesconfig`` 1.0.1 (``debugger_rules/rule_config_jsons/
ruleConfigs.json``, what the SageMaker SDK's ``rule_configs`` reads; a test holds this table against it).
The parameters and defaults are those of AWS's "List of Debugger built-in rules".

Every built-in rule reads tensors that the ``smdebug`` hook writes during training. The hook is not
available for the images sagespec trains on: smdebug's last release (1.0.34) requires protobuf<=3.20.3
while TensorFlow 2.21 requires protobuf>=6.31.1, and the SageMaker SDK deprecates framework profiling
from TensorFlow 2.12 and PyTorch 2.0. So the rules that read
weights, gradients, activations or inputs can never fire here and the spec refuses them. The rules
that read only the losses get them from the training scripts, one step per epoch: on SageMaker
train.py writes each epoch's training and validation loss in the hook's format for the rule jobs
(the generated ``debug_tensors.py``), and ``sagespec local run`` evaluates the metric lines it prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .catalog import Hyperparameter

RuleInput = Literal["losses", "train_and_validation_losses", "progress", "tensors", "xgboost"]


@dataclass(frozen=True)
class BuiltInRule:
    name: str
    reads: RuleInput
    parameters: tuple[Hyperparameter, ...] = ()
    help: str = ""

    @property
    def supported(self) -> bool:
        """Whether a sagespec BERT job emits what the rule reads (see the module docstring)."""
        return self.reads in ("losses", "train_and_validation_losses", "progress")

    def parameter(self, name: str) -> Hyperparameter | None:
        return next((p for p in self.parameters if p.name == name), None)

    def defaults(self) -> dict[str, object]:
        return {p.name: p.default for p in self.parameters if p.default is not None}


_MODE = Hyperparameter(
    "mode",
    "str",
    None,
    choices=("EVAL", "TRAIN", "GLOBAL"),
    help="the loss to read: EVAL (validation), TRAIN; unset: EVAL where present, else TRAIN",
)

BUILT_IN_RULES: dict[str, BuiltInRule] = {
    rule.name: rule
    for rule in (
        BuiltInRule(
            "LossNotDecreasing",
            "losses",
            (
                Hyperparameter("num_steps", "int", 10, minimum=1, help="steps between the losses compared"),
                Hyperparameter(
                    "diff_percent",
                    "float",
                    0.0,
                    minimum=0.0,
                    maximum=100.0,
                    help="the least decrease, in percent, over num_steps",
                ),
                _MODE,
            ),
            "the loss does not decrease by diff_percent over num_steps",
        ),
        BuiltInRule(
            "Overfit",
            "train_and_validation_losses",
            (
                Hyperparameter("start_step", "int", 0, minimum=0, help="the first step compared"),
                Hyperparameter(
                    "patience", "int", 1, minimum=1, help="steps over the threshold before it fires"
                ),
                Hyperparameter(
                    "ratio_threshold",
                    "float",
                    0.1,
                    minimum=0.0,
                    exclusive_minimum=True,
                    help="(validation loss - training loss) / training loss above which a step counts",
                ),
            ),
            "the validation loss exceeds the training loss by ratio_threshold for patience steps",
        ),
        BuiltInRule(
            "Overtraining",
            "train_and_validation_losses",
            (
                Hyperparameter(
                    "patience_train", "int", 5, minimum=1, help="steps without a new training optimum"
                ),
                Hyperparameter(
                    "patience_validation", "int", 10, minimum=1, help="steps without a new validation optimum"
                ),
                Hyperparameter(
                    "delta",
                    "float",
                    0.1,
                    minimum=0.0,
                    help="how much a loss must improve to be a new optimum",
                ),
            ),
            "the training or the validation loss stops improving by delta for its patience",
        ),
        BuiltInRule(
            "StalledTrainingRule",
            "progress",
            (
                Hyperparameter(
                    "threshold", "int", 1800, minimum=1, help="seconds without a new step before it fires"
                ),
            ),
            "no new step for threshold seconds",
        ),
        *(
            BuiltInRule(name, "tensors")
            for name in (
                "VanishingGradient",
                "WeightUpdateRatio",
                "AllZero",
                "ExplodingTensor",
                "UnchangedTensor",
                "DeadRelu",
                "TensorVariance",
                "PoorWeightInitialization",
                "SaturatedActivation",
                "CheckInputImages",
                "NLPSequenceRatio",
                "SimilarAcrossRuns",
                "ClassImbalance",
                "Confusion",
            )
        ),
        *(
            BuiltInRule(name, "xgboost")
            for name in ("TreeDepth", "FeatureImportanceOverweight", "CreateXgboostReport")
        ),
    )
}

SUPPORTED_RULES = tuple(name for name, rule in BUILT_IN_RULES.items() if rule.supported)

TENSORS_UNAVAILABLE = (
    "reads tensors only the smdebug hook writes, and the hook cannot run on the training images sagespec "
    "uses (smdebug 1.0.34 requires protobuf<=3.20.3, TensorFlow 2.21 protobuf>=6.31; the SDK deprecates "
    "framework profiling from TensorFlow 2.12 and PyTorch 2.0), so it could never fire"
)


def rule_problem(name: str) -> str | None:
    """Why ``name`` cannot be used, or None when it can."""
    rule = BUILT_IN_RULES.get(name)
    if rule is None:
        return f"unknown built-in rule; built-in rules: {', '.join(sorted(BUILT_IN_RULES))}"
    if rule.reads == "xgboost":
        return "is a rule for SageMaker's XGBoost algorithm"
    if rule.reads == "tensors":
        return f"{TENSORS_UNAVAILABLE}; rules that read the losses: {', '.join(SUPPORTED_RULES)}"
    return None


def parameter_problems(name: str, parameters: dict[str, object]) -> list[tuple[str, str]]:
    """(parameter, problem) for each of ``parameters`` that rule ``name`` does not take as given."""
    rule = BUILT_IN_RULES[name]
    problems = []
    for key, value in parameters.items():
        spec = rule.parameter(key)
        if spec is None:
            allowed = ", ".join(p.name for p in rule.parameters) or "none"
            problems.append((key, f"{name} takes no parameter {key!r}; its parameters: {allowed}"))
            continue
        problem = spec.check(value)
        if problem:
            problems.append((key, problem))
    return problems


def resolved_parameters(name: str, parameters: dict[str, object]) -> dict[str, object]:
    """The rule's defaults, overridden by ``parameters``: what the rule evaluates with."""
    return BUILT_IN_RULES[name].defaults() | parameters


def steps_to_fire(name: str, parameters: dict[str, object]) -> int | None:
    """The fewest steps (metric lines) after which rule ``name`` can first fire with ``parameters``
    (None: a rule on the clock, not on steps). A run with fewer steps can never see it fire."""
    p = resolved_parameters(name, parameters)
    if name == "LossNotDecreasing":
        return int(p["num_steps"]) + 1  # the first line is the baseline the first check compares with
    if name == "Overfit":
        return max(int(p["start_step"]), 1) + int(p["patience"]) - 1  # steps count from epoch 1
    if name == "Overtraining":
        return min(int(p["patience_train"]), int(p["patience_validation"])) + 1
    return None


def parameter_text(value: object) -> str:
    """A parameter value as the RuleParameters map carries it (strings; booleans as Python writes them)."""
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)
