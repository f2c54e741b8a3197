"""Template context for SageMaker Debugger's profiling and TensorBoard output (``debugger.*``): what
``pipelines/<pkg>/debugging.py`` puts on the TrainModel step's request."""

from __future__ import annotations

from dataclasses import dataclass

from ..spec.models import BertModel, Spec


@dataclass(frozen=True)
class DebuggerGroup:
    """``debugger.*``, from ``model.debugger`` (the group is None when it asks SageMaker for nothing)."""

    profiler: bool
    interval_ms: int
    tensorboard: bool


def debugger_group(spec: Spec) -> DebuggerGroup | None:
    model = spec.model
    if not isinstance(model, BertModel) or spec.tuning_enabled:
        return None
    debugger = model.debugger
    if not (debugger.profiler or debugger.tensorboard):
        return None
    return DebuggerGroup(debugger.profiler, debugger.system_monitor_interval_ms, debugger.tensorboard)
