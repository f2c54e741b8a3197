"""Checks of ``model.debugger``: rule names and parameters against the built-in rule catalog, the
rules a model type can feed, and what the SageMaker request can carry."""

from __future__ import annotations

from collections.abc import Iterator

from .catalog import algorithm_for
from .debugger_rules import parameter_problems, rule_problem, steps_to_fire
from .findings import Finding, error, warning
from .models import BertModel, BlazingTextModel, Spec

PATH = "model.debugger"


def check_debugger(spec: Spec) -> Iterator[Finding]:
    model = spec.model
    if isinstance(model, BlazingTextModel):
        if model.debugger is not None:
            yield error(
                PATH,
                "BlazingText is a SageMaker built-in algorithm: there is no training script to hook or "
                "profile; remove model.debugger (or use model.type: bert)",
            )
        return
    if not isinstance(model, BertModel):
        return
    debugger = model.debugger
    epochs = model.hyperparameters.get("epochs", algorithm_for(model).hyperparameters["epochs"].default)
    usable: set[str] = set()
    for name, parameters in debugger.rules.items():
        problem = rule_problem(name)
        if problem:
            yield error(f"{PATH}.rules.{name}", problem)
            continue
        usable.add(name)
        problems = parameter_problems(name, parameters)
        for key, message in problems:
            yield error(f"{PATH}.rules.{name}.{key}", message)
        needed = None if problems else steps_to_fire(name, parameters)
        if needed is not None and needed > epochs:
            yield warning(
                f"{PATH}.rules.{name}",
                f"can never fire: a step is one epoch's metric line, the rule needs {needed} and "
                f"model.hyperparameters.epochs is {epochs}; lower its step parameters or train longer",
            )
    if debugger.tensorboard and model.framework == "pytorch":
        yield error(
            f"{PATH}.tensorboard",
            "the PyTorch training script writes no TensorBoard logs (torch.utils.tensorboard needs the "
            "tensorboard package, which the project does not install in the PyTorch image); "
            "use framework: tensorflow, or leave tensorboard off",
        )
    for i, name in enumerate(debugger.stop_training_on):
        if name not in debugger.rules:
            listed = ", ".join(debugger.rules) or "none"
            yield error(f"{PATH}.stop_training_on.{i}", f"{name!r} is not in model.debugger.rules ({listed})")
        elif debugger.stop_training_on.index(name) != i:
            yield error(f"{PATH}.stop_training_on.{i}", f"{name!r} is listed twice")
    if usable:
        yield warning(
            f"{PATH}.rules",
            "run on SageMaker as Debugger rule jobs, on the losses train.py writes for them after every "
            "epoch (the training images have no smdebug hook), and in `sagespec local run` on its metric "
            "lines; either way a step is an epoch. AWS closed Debugger to new customers on 2026-07-30: "
            "the rule jobs run only in accounts that used it before",
        )


def check_debugger_with_tuning(spec: Spec) -> Iterator[Finding]:
    """Kept apart from check_debugger so that a broken tuning section does not hide the rule checks."""
    model = spec.model
    if not isinstance(model, BertModel) or not model.debugger.enabled:
        return
    if spec.tuning is not None and spec.tuning.enabled:
        yield error(
            PATH,
            "a tuning job's training definition (HyperParameterTrainingJobDefinition) takes no Debugger, "
            "Profiler or TensorBoard settings; set tuning.enabled: false to use them",
        )
