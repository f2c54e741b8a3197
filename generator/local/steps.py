"""One handler per step kind of the plan: what running a step of that kind means on this machine.

A handler takes the run's :class:`~sagespec.local.session.RunSession`, the plan's step and the step's
record; it reuses a cached folder when the step's key matches one, writes the step record
(``step.json``) and leaves the step's outputs in ``session.outputs`` for the steps after it. The
condition's handler returns the name of the step it picks.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DataError, LocalRunError
from ..plan import (
    DATA_QUALITY_STEP,
    EVALUATE_STEP,
    EVALUATION_REPORT,
    LOCAL_OFFLINE_STORE_DIR,
    MODEL_QUALITY_STEP,
    PREPARE_STEP,
    PREPROCESS_STEP,
    Step,
)
from ..spec.catalog import model_kind
from . import cache
from .artifacts import file_digest, script_digest, training_script_digest
from .condition import evaluate_condition
from .contract import TrainingLayout, local_path, offline_environment, replace_option, rewrite_arguments
from .process import Job, check, dropped_row_lines, run_command, run_parallel
from .profiling.job import watched
from .profiling.watch import ProfilingSettings
from .runs import StepResult, registry_root, write_step_record
from .session import RunSession
from .shards import Worker, plan_workers
from .training import TrainingJob, run_training_job

if TYPE_CHECKING:
    from .bias import BiasResult

Handler = Callable[[RunSession, Step, StepResult], str | None]


def describe(step: Step) -> str:
    """What runs for ``step``, for the run's progress line."""
    if step.kind == "processing":
        return f"processing: {step.script}"
    if step.kind in ("training", "tuning"):
        runner = step.script or "fastText stand-in for BlazingText"
        if "max_candidates" in step.hyperparameters:  # an AutoML job (see plan.automl_settings)
            runner = "local AutoML search standing in for Autopilot"
        return f"{step.kind}: {runner}"
    return step.kind


# ---------------------------------------------------------------------------------------------- processing
def processing_arguments(session: RunSession, step: Step) -> list[str]:
    """The plan's arguments of a processing step, with what a local run changes in them."""
    args = list(step.arguments)
    if step.name == PREPROCESS_STEP:
        if session.options.max_rows is not None:
            args += ["--max-rows", str(session.options.max_rows)]
        if session.pretrained is not None:
            args = replace_option(args, "--tokenizer", str(session.pretrained))
        if "--feature-group-name" in args:
            # A local run never reaches AWS: the feature group's records go to a local offline store.
            args += ["--offline-store-dir", LOCAL_OFFLINE_STORE_DIR]
    return args


def processing(session: RunSession, step: Step, record: StepResult) -> None:
    folder = record.folder
    assert folder is not None
    script = session.script(step)
    args = processing_arguments(session, step)
    sources = {inp.name: session.source(inp.source) for inp in step.inputs}
    tokenizes = session.pretrained is not None and step.name == PREPROCESS_STEP
    key = cache.step_key(
        {
            "step": step.name,
            "kind": step.kind,
            "script": script_digest(script),
            "arguments": args,
            "inputs": {name: session.digest(path) for name, path in sources.items()},
            "pretrained": session.digest(session.pretrained) if tokenizes and session.pretrained else None,
        }
    )
    record.outputs = {out.name: local_path(out.source, folder) for out in step.outputs}
    if not session.cached(step, record, key):
        # The worker count is left out of the key: the outputs are the same for any count.
        workers = plan_workers(step, sources, session.options.processing_instances, folder)
        for path in record.outputs.values():
            path.mkdir(parents=True, exist_ok=True)
        program = [sys.executable, str(script.relative_to(session.project_dir))]
        jobs = []
        for worker in workers:
            worker.place_inputs(step, sources)
            command = [*program, *rewrite_arguments(args, folder, worker.input_folders(step))]
            jobs.append(Job(command, worker.log, _worker_echo(session, worker, len(workers))))
        env = offline_environment() | session.tracking_environment()
        record.details = {"command": list(jobs[0].command), "environment": env, "workers": len(workers)}
        completed, failed = run_parallel(jobs, cwd=session.project_dir, env=env)
        if failed is not None:
            name = step.name if len(workers) == 1 else f"{step.name} (worker {failed} of {len(workers)})"
            check(name, completed[failed], jobs[failed].log_path)
        record.status = "done"
        if step.name == PREPARE_STEP:
            record.details["dropped_rows"] = dropped_row_lines(job.log_path for job in jobs)
    session.outputs[step.name] = record.outputs
    if step.name == EVALUATE_STEP:
        _read_evaluation(session, record)
    write_step_record(step, record, key, arguments=args)


def _worker_echo(session: RunSession, worker: Worker, workers: int) -> Callable[[str], None] | None:
    """Where a worker's lines are echoed: under the step's heading, tagged with the worker's index
    when there are several (their lines interleave)."""
    if workers == 1:
        return session.echo()
    echo = session.echo(tag=f"[{worker.index}] ")
    if echo is None:
        return None
    lock = session.echo_lock

    def tagged(line: str) -> None:
        with lock:
            echo(line)

    return tagged


def _read_evaluation(session: RunSession, record: StepResult) -> None:
    report = record.outputs.get("evaluation")
    path = report / EVALUATION_REPORT if report else None
    if path is None or not path.is_file():
        raise LocalRunError(f"{EVALUATE_STEP} wrote no {EVALUATION_REPORT} in {report}")
    try:
        session.result.evaluation = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise LocalRunError(f"{EVALUATE_STEP}: {path} is not valid JSON: {exc}") from None


# ---------------------------------------------------------------------------------------------- bias
def bias_check(session: RunSession, step: Step, record: StepResult) -> None:
    from . import bias as bias_mod
    from . import bias_job

    folder = record.folder
    assert folder is not None
    spec = session.spec
    bias_input = session.source(step.inputs[0].source)
    config = spec.bias.model_dump(mode="json", exclude={"instance_type", "enabled"})
    key = cache.step_key(
        {
            "step": step.name,
            "kind": step.kind,
            "implementation": "+".join(file_digest(Path(m.__file__)) for m in (bias_mod, bias_job)),
            "bias": config,
            "columns": spec.bias_columns,
            "inputs": session.digest(bias_input),
        }
    )
    if session.cached(step, record, key):
        found = bias_mod.load_result(folder, bias_mod.BiasCheck.of(spec.bias))
    else:
        found = _run_bias_job(session, step, bias_input, folder)
        # The chart is read by no step: it is drawn while training runs (the gate is the numbers).
        session.background.start("bias chart", bias_mod.chart_drawer(found, folder))
        record.status = "done"
    record.outputs = {"report": found.report}
    session.outputs[step.name] = record.outputs
    session.result.bias = found
    breaches = found.breaches
    record.details = {"breaches": len(breaches), "values": len(found.values)}
    if breaches and spec.bias.fail_on_violation:
        raise bias_mod.BiasViolation(breaches, found.report)
    for line in bias_mod.breach_lines(breaches):
        session.say(f"      warning: bias threshold breached: {line}")
    write_step_record(step, record, key)


def _run_bias_job(session: RunSession, step: Step, bias_input: Path, folder: Path) -> BiasResult:
    """The metrics, computed by the step's own process (local/bias_job.py, as Clarify's container is
    on SageMaker); its errors raised again here as what they were there. The chart is left to draw."""
    from . import bias_job
    from .bias import CHART_FILE, BiasCheck, load_result

    settings = BiasCheck.of(session.spec.bias)
    command = [
        sys.executable,
        "-m",
        bias_job.__name__,
        "--bias-dir",
        str(bias_input),
        "--output-dir",
        str(folder),
        "--bias",
        settings.to_json(),
        # PreprocessData's bias parts are headerless: their columns are the spec's, in Clarify's order.
        "--columns",
        json.dumps(list(session.spec.bias_columns)),
    ]
    log = folder / "logs" / "output.log"
    completed = run_command(command, cwd=session.project_dir, env=offline_environment(), log_path=log)
    if completed.returncode in (bias_job.EXIT_BAD_INPUT, bias_job.EXIT_CHECK_FAILED):
        error = DataError if completed.returncode == bias_job.EXIT_BAD_INPUT else LocalRunError
        message = completed.stderr.strip()
        start = message.rfind(f"\n{step.name}: ")  # the job's error comes last, after any warnings
        raise error(message[start + 1 :] if start >= 0 else message)
    check(step.name, completed, log)  # a missing module, or a crash (with the tail of its output)
    return replace(load_result(folder, settings), chart=folder / CHART_FILE)


# ---------------------------------------------------------------------------------------------- training
def training_hyperparameters(session: RunSession, step: Step) -> dict[str, str]:
    """The plan's hyperparameters (a tuning step's static ones), with the local pretrained model."""
    hps = dict(step.hyperparameters)
    if session.pretrained is not None and "pretrained_model" in hps:
        hps["pretrained_model"] = str(session.pretrained)
    return hps


def training_program(session: RunSession, step: Step) -> tuple[Path | None, str]:
    """The training script (None: the BlazingText stand-in) and the digest of what runs."""
    if step.script:
        script = session.script(step)
        return script, training_script_digest(script)
    if session.spec.model.type == "autopilot":
        from . import automl

        return None, json.dumps(_package_digest(automl.__file__), sort_keys=True)
    from . import blazingtext

    return None, file_digest(Path(blazingtext.__file__))


# The module that stands in for a model type that runs no script of the project's.
STAND_INS = {"autopilot": "sagespec.local.automl"}


def training_job(session: RunSession, step: Step, folder: Path) -> tuple[TrainingJob, dict[str, Any]]:
    """The training job ``step`` runs in ``folder`` (the plan's hyperparameters and channels, the
    project's script or the BlazingText stand-in) and the parts of its cache key."""
    hps = training_hyperparameters(session, step)
    channels = {inp.destination: session.source(inp.source) for inp in step.inputs}
    script, implementation = training_program(session, step)
    job = TrainingJob(
        name=step.name,
        folder=folder,
        hyperparameters=hps,
        channels=channels,
        script=script,
        project_dir=session.project_dir,
        instance_type=session.spec.model.instance_type,
        environment=session.tracking_environment(),
        stand_in=STAND_INS.get(session.spec.model.type, "sagespec.local.blazingtext"),
    )
    key_parts = {
        "step": step.name,
        "kind": step.kind,
        "implementation": implementation,
        "hyperparameters": hps,
        "inputs": {name: session.digest(path) for name, path in channels.items()},
        "pretrained": session.digest(session.pretrained) if session.pretrained else None,
    }
    return job, key_parts


def training(session: RunSession, step: Step, record: StepResult) -> None:
    folder = record.folder
    assert folder is not None
    job, key_parts = training_job(session, step, folder)
    profiling = ProfilingSettings.from_debugger(getattr(session.spec.model, "debugger", None))
    key = cache.step_key(key_parts if profiling is None else key_parts | {"debugger": asdict(profiling)})
    record.outputs = {"model": TrainingLayout(folder).artifact}
    if not session.cached(step, record, key):
        record.details = {}
        with watched(profiling, session.echo(), step.name, folder, record.details) as watch:
            run_training_job(
                job, session.metric_names(), echo=session.echo(), details=record.details, watch=watch
            )
        record.status = "done"
    session.outputs[step.name] = record.outputs
    session.result.training_metrics = dict(record.details.get("metrics", {}))
    write_step_record(step, record, key, hyperparameters=job.hyperparameters)


def tuning(session: RunSession, step: Step, record: StepResult) -> None:
    """The spec's hyperparameter search (see sagespec.local.tuning); the best trial's model is the
    step's ``model`` output, as the best training job's is on SageMaker."""
    from . import tuning as search_package

    folder = record.folder
    assert folder is not None
    job, key_parts = training_job(session, step, folder)
    options = session.options
    search = search_package.SearchSettings.from_spec(
        session.spec, trials=options.tune_trials, parallel=options.tune_parallel
    )
    key = cache.step_key(
        key_parts
        | {
            "implementation": [key_parts["implementation"], _package_digest(search_package.__file__)],
            "search": search.describe(),
        }
    )
    artifact = TrainingLayout(folder).artifact
    record.outputs = {"model": artifact}
    if not session.cached(step, record, key):
        found = search_package.run_search(search, job, session.metric_names(), say=session.say)
        artifact.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(found.best_artifact, artifact)
        record.details = found.summary(folder)
        record.status = "done"
    session.outputs[step.name] = record.outputs
    session.result.tuning = record.details
    session.result.training_metrics = dict(record.details.get("metrics", {}))
    write_step_record(step, record, key, hyperparameters=job.hyperparameters)


def _package_digest(init_file: str | None) -> dict[str, str]:
    """The digest of a package's source files (what decides its behaviour; not its __pycache__)."""
    assert init_file is not None
    return {path.name: file_digest(path) for path in sorted(Path(init_file).parent.glob("*.py"))}


# ---------------------------------------------------------------------------------------------- baselines
def quality_check(session: RunSession, step: Step, record: StepResult) -> None:
    """Model Monitor's baseline of EvaluateModel's monitoring output (see sagespec.local.monitoring)."""
    from .monitoring.step import run_quality_check

    run_quality_check(session, step, record)


# ---------------------------------------------------------------------------------------------- the branch
def condition(session: RunSession, step: Step, record: StepResult) -> str:
    outcome = evaluate_condition(
        step.name, session.plan.condition, session.result.evaluation, session.options.threshold
    )
    session.result.condition = outcome
    record.details = dict(outcome)
    record.status = "done"
    comparison = ">=" if outcome["passed"] else "<"
    session.say(
        f"      {outcome['metric']} = {outcome['value']:.4f} {comparison} {outcome['threshold']:g} "
        f"-> {outcome['next']}"
    )
    write_step_record(step, record, None)
    return outcome["next"]


def register(session: RunSession, step: Step, record: StepResult) -> None:
    from .registry import register_model
    from .tracking import execution_run_id

    spec, result = session.spec, session.result
    artifact = session.source(step.inputs[0].source)
    evaluation = session.outputs[EVALUATE_STEP]["evaluation"] / EVALUATION_REPORT
    package = register_model(
        registry_root(session.project_dir),
        group=spec.model_package_group,
        model_artifact=artifact,
        evaluation_report=evaluation,
        approval_status=spec.registry.approval_status,
        model_type=model_kind(spec.model),
        region=spec.project.region,
        inference_instance_types=list(spec.registry.inference_instance_types),
        run_id=result.run_id,
        description=spec.project.description,
        bias_report=result.bias.report if result.bias is not None else None,
        reuse_identical=session.options.use_cache,
        mlflow_run_id=execution_run_id(spec, session.project_dir, result.run_id),
        drift_check_baselines=_drift_check_baselines(session),
    )
    result.package = package
    record.outputs = {"package": package.path}
    record.details = {"group": package.group, "version": package.version, "reused": package.reused}
    record.status = "done"
    if package.reused:
        session.say(f"      already registered as {package.group} version {package.version} (same model)")
    write_step_record(step, record, None)


def _drift_check_baselines(session: RunSession) -> dict[tuple[str, str], Path]:
    """The quality-check steps' files, as RegisterModel's DriftCheckBaselines names them."""
    sections = {DATA_QUALITY_STEP: "ModelDataQuality", MODEL_QUALITY_STEP: "ModelQuality"}
    return {
        (section, kind.capitalize()): session.outputs[name][kind]
        for name, section in sections.items()
        if name in session.outputs
        for kind in ("statistics", "constraints")
    }


def fail(session: RunSession, step: Step, record: StepResult) -> None:
    cond = session.result.condition or {}
    value = cond.get("value", float("nan"))
    raise LocalRunError(
        f"{step.name}: {session.plan.fail_message} "
        f"({cond.get('metric')} = {value:.4f} < threshold {cond.get('threshold')})"
    )


HANDLERS: dict[str, Handler] = {
    "processing": processing,
    "bias-check": bias_check,
    "training": training,
    "tuning": tuning,
    "quality-check": quality_check,
    "condition": condition,
    "register": register,
    "fail": fail,
}
