"""smdebug 1.0.34 (SageMaker Debugger's own library) in an environment of its own, for reading what the
generated training scripts write for Debugger's rules.

smdebug requires protobuf<=3.20.3 and TensorFlow 2.21 protobuf>=6.31, so it cannot live in .venv:
scripts/test.sh creates .venv-smdebug (SAGESPEC_SMDEBUG_PYTHON names another interpreter). Code runs
there as a separate process and answers with one line of JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SMDEBUG_PYTHON = Path(os.environ.get("SAGESPEC_SMDEBUG_PYTHON", REPO / ".venv-smdebug" / "bin" / "python"))
DEBUG_TENSORS = REPO / "template" / "pipelines" / "__pkg__" / "debug_tensors.py"

# A trial's losses as smdebug's trial API gives them to a rule: per global step its mode, mode step and
# the "loss" tensor's value; the tensor names of the "losses" collection; whether all steps are loaded.
READ_TRIAL = """
import json, sys
from smdebug.core.modes import ModeKeys
from smdebug.trials import create_trial

trial = create_trial(sys.argv[1])
loss = trial.tensor("loss")
steps = []
for step in trial.steps():
    mode, mode_step = trial.mode(step), trial.mode_step(step)
    steps.append([step, mode.name, mode_step, float(loss.value(mode_step, mode=mode)[0])])
print(json.dumps({
    "losses": sorted(trial.tensor_names(collection="losses")),
    "workers": trial.workers(),
    "steps": steps,
    "train_steps": trial.steps(mode=ModeKeys.TRAIN),
    "eval_steps": trial.steps(mode=ModeKeys.EVAL),
    "loaded_all_steps": trial.loaded_all_steps,
}))
"""


def needs_smdebug() -> None:
    if not SMDEBUG_PYTHON.exists():
        pytest.skip(f"{SMDEBUG_PYTHON} is missing: create .venv-smdebug with smdebug (scripts/test.sh does)")


def run_smdebug(code: str, *args: str, timeout: int = 120) -> Any:
    """Run ``code`` with smdebug's interpreter, debug_tensors.py importable; its last line, as JSON."""
    needs_smdebug()
    env = {**os.environ, "PYTHONPATH": str(DEBUG_TENSORS.parent), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("TRAINING_JOB_NAME", None)
    done = subprocess.run(
        [str(SMDEBUG_PYTHON), "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def read_trial(folder: Path) -> dict[str, Any]:
    return run_smdebug(READ_TRIAL, str(folder))
