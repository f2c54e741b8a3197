"""Template context for SageMaker Debugger (``debugger.*``): what ``pipelines/<pkg>/debugging.py`` puts on
the TrainModel step's request: the profiler, TensorBoard output, and the spec's built-in rules."""

from __future__ import annotations

from dataclasses import dataclass

from ..spec.debugger_rules import parameter_text, resolved_parameters
from ..spec.models import BertModel, Spec


@dataclass(frozen=True)
class DebuggerGroup:
    """``debugger.*``, from ``model.debugger`` (the group is None when it asks SageMaker for nothing)."""

    profiler: bool
    interval_ms: int
    tensorboard: bool
    # Rule name -> its parameters as RuleParameters carries them: the spec's over the catalog's defaults,
    # the same values `sagespec local run` evaluates with.
    rules: dict[str, dict[str, str]]
    stop_training_on: tuple[str, ...]


def debugger_group(spec: Spec) -> DebuggerGroup | None:
    model = spec.model
    if not isinstance(model, BertModel) or spec.tuning_enabled:
        return None
    debugger = model.debugger
    if not debugger.enabled:
        return None
    rules = {
        name: {key: parameter_text(value) for key, value in resolved_parameters(name, parameters).items()}
        for name, parameters in debugger.rules.items()
    }
    return DebuggerGroup(
        debugger.profiler,
        debugger.system_monitor_interval_ms,
        debugger.tensorboard,
        rules,
        tuple(debugger.stop_training_on),
    )
