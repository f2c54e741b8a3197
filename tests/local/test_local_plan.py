"""The local run executes exactly the plan's steps, in order, with the plan's arguments and
hyperparameters: the same source the generated SageMaker pipeline (pipelines/<pkg>/pipeline.py) uses."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from sagespec.local.contract import rewrite_arguments
from sagespec.plan import build_plan
from sagespec.spec import load_spec


def _module_constants(path: Path, names: set[str]) -> dict[str, Any]:
    """Literal module-level assignments of the generated pipeline.py (without importing sagemaker)."""
    found: dict[str, Any] = {}
    for node in ast.parse(path.read_text()).body:
        target = value = None
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            target, value = node.target.id, node.value
        elif (
            isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
        ):
            target, value = node.targets[0].id, node.value
        if target in names and value is not None:
            found[target] = ast.literal_eval(value)
    return found


def _record(run: Path, step: str) -> dict[str, Any]:
    return json.loads((run / step / "step.json").read_text())


def test_steps_run_in_the_plans_order(blazingtext_run):
    spec = load_spec(blazingtext_run.project / "spec.yaml").spec
    plan = build_plan(spec)
    steps = json.loads((blazingtext_run.run_dir / "run.json").read_text())["steps"]
    assert [s["name"] for s in steps] == plan.names
    assert [s["kind"] for s in steps] == [s.kind for s in plan.steps]
    ran = [s["name"] for s in steps if s["status"] in ("done", "cached")]
    assert ran == [n for n in plan.names if n != plan.condition.if_false]  # the condition passed
    assert [s["name"] for s in steps if s["status"] == "skipped"] == [plan.condition.if_false]


def test_processing_steps_run_the_plans_scripts_and_arguments(blazingtext_run):
    project, run = blazingtext_run.project, blazingtext_run.run_dir
    spec = load_spec(project / "spec.yaml").spec
    plan = build_plan(spec)
    for step in (s for s in plan.steps if s.kind == "processing"):
        record = _record(run, step.name)
        assert record["plan_arguments"] == list(step.arguments)
        assert record["arguments"] == list(step.arguments)  # no local additions (no --max-rows here)
        command = record["details"]["command"]
        assert command[1] == f"pipelines/{spec.project.package}/{step.script}"
        assert command[2:] == rewrite_arguments(step.arguments, run / step.name)


def test_training_gets_the_plans_hyperparameters(blazingtext_run):
    project, run = blazingtext_run.project, blazingtext_run.run_dir
    plan = build_plan(load_spec(project / "spec.yaml").spec)
    training = plan.step("TrainModel")
    record = _record(run, "TrainModel")
    assert record["hyperparameters"] == record["plan_hyperparameters"] == training.hyperparameters
    written = json.loads((run / "TrainModel" / "input" / "config" / "hyperparameters.json").read_text())
    assert written == training.hyperparameters
    assert sorted(p.name for p in (run / "TrainModel" / "input" / "data").iterdir()) == sorted(
        i.destination for i in training.inputs
    )


def test_the_condition_is_the_plans(blazingtext_run):
    plan = build_plan(load_spec(blazingtext_run.project / "spec.yaml").spec)
    record = _record(blazingtext_run.run_dir, "CheckEvaluation")
    assert record["details"]["json_path"] == plan.condition.json_path
    assert record["details"]["threshold"] == plan.condition.threshold
    assert record["details"]["next"] == plan.condition.if_true


def test_the_sagemaker_pipeline_carries_the_same_arguments(blazingtext_run):
    """pipeline.py is rendered from the same plan: its argument lists and hyperparameters are what ran."""
    project, run = blazingtext_run.project, blazingtext_run.run_dir
    spec = load_spec(project / "spec.yaml").spec
    settings = project / "pipelines" / spec.project.package / "settings.py"
    names = {"PREPARE_ARGUMENTS", "PREPROCESS_ARGUMENTS", "EVALUATE_ARGUMENTS", "HYPERPARAMETERS"}
    constants = _module_constants(settings, names)
    assert constants["PREPARE_ARGUMENTS"] == _record(run, "PrepareData")["arguments"]
    assert constants["PREPROCESS_ARGUMENTS"] == _record(run, "PreprocessData")["arguments"]
    assert constants["EVALUATE_ARGUMENTS"] == _record(run, "EvaluateModel")["arguments"]
    assert constants["HYPERPARAMETERS"] == _record(run, "TrainModel")["hyperparameters"]
    source = "".join(path.read_text() for path in settings.parent.glob("*.py"))
    for name in build_plan(spec).names:
        assert f'"{name}"' in source, f"step {name} is not in the pipeline's modules"


def test_every_step_kind_the_plan_can_hold_has_a_local_handler():
    from typing import get_args

    from sagespec.local.steps import HANDLERS
    from sagespec.plan import StepKind

    assert set(HANDLERS) == set(get_args(StepKind))


def test_the_local_run_modules_stay_small():
    # One job per module (docs/architecture.md): the walk, the shared session and the step handlers.
    import sagespec.local

    package = Path(sagespec.local.__file__).parent
    sizes = {path.name: len(path.read_text().splitlines()) for path in package.glob("*.py")}
    assert sizes["runner.py"] < 450
    assert max(sizes.values()) <= 500, sizes
