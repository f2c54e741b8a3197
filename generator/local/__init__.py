"""Run a generated project's pipeline on this machine, under SageMaker's container contract.

``sagespec local run`` takes its steps from :func:`sagespec.plan.build_plan`, the same step list the
rendered SageMaker pipeline is built from. Heavy libraries (pandas, fastText, smclarify, matplotlib)
are imported only inside the step that needs them. The names below are loaded on first use (PEP 562):
a step process started as ``python -m sagespec.local.<stand-in>`` does not load the runner.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .runner import run_pipeline
    from .runs import RunOptions, RunResult

_HOMES = {"run_pipeline": "runner", "RunOptions": "runs", "RunResult": "runs"}

__all__ = ["RunOptions", "RunResult", "run_pipeline"]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value
