"""The commands the generated documents name exist in the generated project: every `make <target>` that
README.md, deploy/README.md or the Makefile's comments name is a target of the generated Makefile, for
every example spec, the BlazingText example with Model Monitor (tests/pipeline_variants.py) and the tuning
example (whose `make tune` passes the knobs its help names on to `sagespec local tune`)."""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache

import pytest

from sagespec.plan import build_plan
from sagespec.render import render_project
from sagespec.spec import load_spec

from ..conftest import EXAMPLE_SPECS, SPECS
from ..pipeline_variants import MONITORED, load_monitored

# `make tune`, ``make -s definition``, "make monitor" at a line's start (a code block), never "make sure".
_MAKE = re.compile(r"(?:`|^)make (?:-s )?([a-z][a-z-]*)", re.MULTILINE)
_TARGET = re.compile(r"^([a-z][a-z-]*):", re.MULTILINE)
DOCUMENTS = ("README.md", "deploy/README.md", "Makefile")


@cache
def rendered(case: str) -> dict[str, str]:
    spec = load_monitored() if case == MONITORED else load_spec(SPECS / f"{case}.yaml")
    files = render_project(spec).files
    return {name: files[name].decode() for name in DOCUMENTS if name in files}


@pytest.fixture(params=[*(path.stem for path in EXAMPLE_SPECS), MONITORED])
def documents(request) -> dict[str, str]:
    return rendered(request.param)


def named_targets(text: str) -> set[str]:
    return set(_MAKE.findall(text))


def test_the_target_pattern_reads_commands_not_prose():
    text = "make local   # run\n`make -s definition > x`, `make monitor`; make sure of it, remake `x`"
    assert named_targets(text) == {"local", "definition", "monitor"}


def test_every_make_target_the_documents_name_is_in_the_makefile(documents):
    targets = set(_TARGET.findall(documents["Makefile"]))
    for name, text in documents.items():
        missing = named_targets(text) - targets
        assert not missing, f"{name} names `make {', '.join(sorted(missing))}`, which the Makefile lacks"


def test_a_project_without_monitoring_says_how_to_get_make_monitor():
    """The autopilot example labels captured traffic as ground truth but monitors nothing: its README
    says which spec section adds a local monitor, and its Makefile names no monitor command."""
    documents = rendered("womens-clothing-autopilot")
    assert "monitor:" not in documents["Makefile"]
    assert "sagespec local monitor" not in documents["Makefile"]
    assert "`monitoring.model_quality` section in `spec.yaml` adds, not for" in documents["README.md"]
    monitored = rendered(MONITORED)
    assert "\nmonitor: ##" in monitored["Makefile"]
    assert "these files are for `make monitor`, not for the monitor on SageMaker" in monitored["README.md"]


@cache
def step_names(case: str) -> tuple[str, ...]:
    spec = load_monitored() if case == MONITORED else load_spec(SPECS / f"{case}.yaml")
    return tuple(build_plan(spec.spec).names)


@pytest.mark.parametrize("case", [*(path.stem for path in EXAMPLE_SPECS), MONITORED])
def test_the_steps_example_names_steps_of_the_pipeline(case):
    """`--steps TrainModel,...` in a tuning project (whose training step is TuneModel) exits 2."""
    readme = rendered(case)["README.md"]
    selections = re.findall(r"--steps ([A-Za-z]+(?:,[A-Za-z]+)*)", readme)
    assert selections, "the README shows no --steps example"
    for selection in selections:
        unknown = set(selection.split(",")) - set(step_names(case))
        assert not unknown, f"--steps {selection}: no step {unknown} in {step_names(case)}"
    # What follows the selection is said as the runner does it (sagespec.local.selection): the condition
    # and its branch follow a selection that reaches the evaluation.
    assert "goes on as a whole run does,\nto " in readme


# A value no Makefile default or spec holds, so finding it in the dry run means the variable got there.
_PROBE = "probe{}"


@pytest.mark.parametrize("case", [path.stem for path in EXAMPLE_SPECS])
def test_every_variable_a_targets_help_names_reaches_its_command(case, tmp_path):
    """`make tune MAX_ROWS=2000` ran the search on the whole dataset: the help names a variable, the
    recipe must pass it on."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    makefile = rendered(case)["Makefile"]
    (tmp_path / "Makefile").write_text(makefile)
    helps = re.findall(r"^([a-z][a-z-]*):[^\n#]*## (.*)$", makefile, re.MULTILINE)
    checked = 0
    for target, help_text in helps:
        variables = sorted(set(re.findall(r"\b([A-Z][A-Z_]+)=", help_text)))
        if not variables:
            continue
        values = {name: _PROBE.format(index) for index, name in enumerate(variables)}
        assignments = [f"{name}={value}" for name, value in values.items()]
        dry_run = subprocess.run(
            ["make", "-n", target, *assignments], cwd=tmp_path, capture_output=True, text=True, check=False
        )
        for name, value in values.items():
            assert value in dry_run.stdout, f"make {target} {name}=...: not passed on\n{dry_run.stdout}"
        checked += 1
    assert checked, "no target's help names a variable"
