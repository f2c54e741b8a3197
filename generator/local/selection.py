"""`sagespec local run --steps A,B`: SageMaker's selective execution, for a local run.

Only the named steps run (a cache hit still counts as running: pass --no-cache to force them). Every
other step of the pipeline's work (processing, bias check, training, tuning) that comes before the last
named one is taken from the newest earlier run of the project that has it finished, whatever its cache
key: its folder is reused, as a cache hit's is, and its record says ``reused`` and from which run. The
work steps after the last named one are not run. The baseline (quality-check), condition, register and
fail steps follow as in a whole run when the selection reaches them (no work step is left out), else they
are not run either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import SagespecError
from ..plan import Plan, Step
from . import cache

# The steps after the work, which read what it produced: the baselines of EvaluateModel's output (a
# --steps selection that evaluates suggests them again), the condition, registration and the fail step.
GATES = ("quality-check", "condition", "register", "fail")
NOT_SELECTED = "not in --steps"


@dataclass(frozen=True)
class Selection:
    selected: frozenset[str]
    reused: tuple[str, ...]  # work steps taken from earlier runs, in plan order
    left_out: frozenset[str]  # steps not run at all

    @classmethod
    def everything(cls) -> Selection:
        return cls(frozenset(), (), frozenset())

    @classmethod
    def of(cls, plan: Plan, names: Sequence[str] | None) -> Selection:
        """The selection ``--steps names`` makes of ``plan`` (None: the whole pipeline)."""
        if names is None:
            return cls.everything()
        unknown = [name for name in names if name not in plan.names]
        if unknown or not names:
            raise SagespecError(
                f"--steps: no step named {', '.join(unknown) or '(none)'} in this pipeline; "
                f"its steps are {', '.join(plan.names)}"
            )
        last = max(plan.names.index(name) for name in names)
        work = [(index, step) for index, step in enumerate(plan.steps) if step.kind not in GATES]
        reused = tuple(step.name for index, step in work if index < last and step.name not in names)
        left_out = {step.name for index, step in work if index > last and step.name not in names}
        if left_out:  # the condition has no evaluation to read
            left_out |= {step.name for step in plan.steps if step.kind in GATES and step.name not in names}
        return cls(frozenset(names), reused, frozenset(left_out))

    def runs(self, step: Step) -> bool:
        return step.name not in self.left_out

    def check_reusable(self, runs_root: Path, project_dir: Path) -> None:
        """Every step to reuse has finished in an earlier run (before anything of this run is written)."""
        for name in self.reused:
            if cache.find_finished(runs_root, name) is None:
                raise SagespecError(
                    f"--steps: {name} has not finished in any earlier run of {project_dir}, so there is "
                    f"nothing to take its outputs from; run it first (add {name} to --steps, or run "
                    "without --steps)"
                )
