"""`sagespec local run`: execute a generated project's pipeline steps, in the plan's order, on this machine.

The steps, their scripts, arguments, hyperparameters and condition come from
:func:`sagespec.plan.build_plan`, the same list the rendered SageMaker pipeline is built from. Each step
runs in ``<project>/.sagespec-runs/<run-id>/<StepName>/``, which stands in for the container's
``/opt/ml`` (see :mod:`sagespec.local.contract`).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import DataError, LocalRunError, SagespecError
from ..plan import (
    EVALUATE_STEP,
    EVALUATION_REPORT,
    LOCAL_OFFLINE_STORE_DIR,
    PREPROCESS_STEP,
    Step,
    build_plan,
)
from ..spec.catalog import ALGORITHMS
from ..spec.models import BertModel, Spec
from . import cache
from .artifacts import copy_into, file_digest, script_digest, tree_digest
from .condition import evaluate_condition
from .contract import (
    TrainingLayout,
    local_path,
    offline_environment,
    replace_option,
    rewrite_arguments,
)
from .deps import missing_dependency
from .process import check, dropped_row_lines, run_command
from .runs import (
    SPEC_FILE,
    RunOptions,
    RunResult,
    StepResult,
    new_run_dir,
    registry_root,
    runs_root,
    write_run_record,
    write_step_record,
)
from .training import TrainingJob, run_training_job


class Runner:
    def __init__(self, options: RunOptions):
        self.options = options
        self.project_dir = Path(options.project_dir).resolve()
        spec_path = self.project_dir / SPEC_FILE
        if not spec_path.is_file():
            raise SagespecError(f"no {SPEC_FILE} in {self.project_dir} (is it a generated sagespec project?)")
        from ..spec import load_spec

        self.loaded = load_spec(spec_path)
        self.spec: Spec = self.loaded.spec
        self.plan = build_plan(self.spec)
        self.package_dir = self.project_dir / "pipelines" / self.spec.project.package
        if not self.package_dir.is_dir():
            raise SagespecError(f"{self.package_dir} is missing: the project's step scripts live there")
        self.is_bert = isinstance(self.spec.model, BertModel)
        self.dataset = self._dataset_path()
        self.pretrained: Path | None = None
        if self.is_bert:
            from .models import resolve_pretrained_model

            name = self.spec.model.pretrained_model  # type: ignore[union-attr]
            self.pretrained = resolve_pretrained_model(name, self.project_dir, options.model)
        self.outputs: dict[str, dict[str, Path]] = {}
        self._digests: dict[Path, dict[str, str]] = {}

    # ------------------------------------------------------------------------------------------ output
    def say(self, text: str = "") -> None:
        stream = self.options.out or sys.stdout
        print(text, file=stream, flush=True)

    def _echo(self) -> Callable[[str], None] | None:
        if self.options.quiet:
            return None
        return lambda line: self.say(f"      | {line}")

    # ------------------------------------------------------------------------------------------ inputs
    def _dataset_path(self) -> Path:
        if self.options.data is not None:
            path = Path(self.options.data).expanduser().resolve()
            origin = "--data"
        else:
            source = self.spec.dataset.source
            if source.startswith("s3://"):
                raise DataError(
                    f"dataset.source is {source}; the local run reads local files only: pass --data PATH"
                )
            path = Path(source).expanduser()
            path = (path if path.is_absolute() else self.project_dir / path).resolve()
            origin = "dataset.source"
        if not path.exists():
            raise DataError(f"{origin}: the data file {path} does not exist")
        if path.is_dir() and not any(p.is_file() for p in path.rglob("*")):
            raise DataError(f"{origin}: the folder {path} holds no files")
        return path

    def _source(self, source: str) -> Path:
        kind, _, rest = source.partition(":")
        if kind == "param":
            if rest == "InputDataUrl":
                return self.dataset
            raise LocalRunError(f"pipeline parameter {rest} has no local value")
        if kind == "step":
            step, _, name = rest.partition("/")
            try:
                return self.outputs[step][name]
            except KeyError:
                raise LocalRunError(f"{source}: step {step} has not produced '{name}'") from None
        raise LocalRunError(f"unknown step input source {source!r}")

    def _digest(self, path: Path) -> dict[str, str]:
        path = path.resolve()
        if path not in self._digests:
            self._digests[path] = tree_digest(path)
        return self._digests[path]

    # ------------------------------------------------------------------------------------------ run
    def run(self) -> RunResult:
        run_id, run_dir = new_run_dir(runs_root(self.project_dir))
        result = RunResult(run_id, run_dir, self.project_dir, self.spec, self.plan)
        self.result = result
        names = self.plan.names
        self.say(
            f"sagespec local run: {self.spec.project.slug} ({self.spec.model.type}), {len(names)} steps "
            f"-> {run_dir.relative_to(self.project_dir)}"
        )
        if self.pretrained is not None:
            self.say(f"pretrained model: {self.pretrained}")
        started = datetime.now().isoformat(timespec="seconds")
        branch: str | None = None
        try:
            for index, step in enumerate(self.plan.steps, start=1):
                record = StepResult(step.name, step.kind, folder=run_dir / step.name)
                result.steps.append(record)
                if step.kind in ("register", "fail") and step.name != branch:
                    record.status = "skipped"
                    record.message = "condition " + ("not met" if step.kind == "register" else "met")
                    self.say(f"[{index}/{len(names)}] {step.name}: skipped ({record.message})")
                    continue
                self.say(f"[{index}/{len(names)}] {step.name} ({self._describe(step)})")
                began = time.perf_counter()
                try:
                    outcome = self._run_step(step, record)
                except BaseException as exc:
                    missing = missing_dependency(exc, needed_by=step.name)
                    record.status = "failed"
                    record.seconds = time.perf_counter() - began
                    record.message = str(missing or exc) or type(exc).__name__
                    write_step_record(step, record, key=None)
                    if missing is not None:
                        raise missing from None
                    raise
                record.seconds = time.perf_counter() - began
                if step.kind == "condition":
                    branch = outcome
                how = (
                    f"cached (from run {record.cached_from.parent.name})"
                    if record.status == "cached"
                    else "done"
                )
                self.say(f"      {how} in {record.seconds:.1f}s")
                if step.name == self.options.stop_after:
                    break
            result.status = "succeeded"
        except KeyboardInterrupt:
            result.status, result.error = "failed", "interrupted"
            raise
        except BaseException as exc:  # a SagespecError, or a bug (which keeps its traceback)
            result.status = "failed"
            result.error = str(exc) if isinstance(exc, SagespecError) else f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self._write_run_record(result, started)
            from .summary import format_summary

            self.say("")
            self.say(format_summary(result))
        return result

    def _describe(self, step: Step) -> str:
        if step.kind == "processing":
            return f"processing: {step.script}"
        if step.kind in ("training", "tuning"):
            runner = step.script or "fastText stand-in for BlazingText"
            return f"{step.kind}: {runner}"
        return step.kind

    def _run_step(self, step: Step, record: StepResult) -> str | None:
        handler = {
            "processing": self._processing,
            "bias-check": self._bias_check,
            "training": self._training,
            "tuning": self._tuning,
            "condition": self._condition,
            "register": self._register,
            "fail": self._fail,
        }[step.kind]
        return handler(step, record)

    # ------------------------------------------------------------------------------------------ caching
    def _cached(self, step: Step, record: StepResult, key: str) -> bool:
        if not self.options.use_cache:
            return False
        source = cache.find_cached(runs_root(self.project_dir), step.name, key, exclude=self.result.run_dir)
        if source is None:
            return False
        cache.reuse(source, record.folder)  # type: ignore[arg-type]
        record.status = "cached"
        record.cached_from = source
        previous = cache.read_record(source) or {}
        record.details = dict(previous.get("details", {}))
        return True

    def _script(self, step: Step) -> Path:
        assert step.script
        path = self.package_dir / step.script
        if not path.is_file():
            raise LocalRunError(
                f"{step.name}: the step script {path.relative_to(self.project_dir)} is missing"
            )
        return path

    # ------------------------------------------------------------------------------------------ processing
    def _processing_arguments(self, step: Step) -> list[str]:
        args = list(step.arguments)
        if step.name == PREPROCESS_STEP:
            if self.options.max_rows is not None:
                args += ["--max-rows", str(self.options.max_rows)]
            if self.pretrained is not None:
                args = replace_option(args, "--tokenizer", str(self.pretrained))
            if "--feature-group-name" in args:
                # A local run never reaches AWS: the feature group's records go to a local offline store.
                args += ["--offline-store-dir", LOCAL_OFFLINE_STORE_DIR]
        return args

    def _processing(self, step: Step, record: StepResult) -> None:
        folder = record.folder
        assert folder is not None
        script = self._script(step)
        args = self._processing_arguments(step)
        sources = {inp.name: self._source(inp.source) for inp in step.inputs}
        tokenizes = self.pretrained is not None and step.name == PREPROCESS_STEP
        key = cache.step_key(
            {
                "step": step.name,
                "kind": step.kind,
                "script": script_digest(script),
                "arguments": args,
                "inputs": {name: self._digest(path) for name, path in sources.items()},
                "pretrained": self._digest(self.pretrained) if tokenizes else None,
            }
        )
        record.outputs = {out.name: local_path(out.source, folder) for out in step.outputs}
        if not self._cached(step, record, key):
            for inp in step.inputs:
                copy_into(sources[inp.name], local_path(inp.destination, folder))
            for path in record.outputs.values():
                path.mkdir(parents=True, exist_ok=True)
            command = [
                sys.executable,
                str(script.relative_to(self.project_dir)),
                *rewrite_arguments(args, folder),
            ]
            log = folder / "logs" / "output.log"
            env = offline_environment()
            record.details = {"command": command, "environment": env}
            completed = run_command(command, cwd=self.project_dir, env=env, log_path=log, echo=self._echo())
            check(step.name, completed, log)
            record.status = "done"
            if step.name == PREPROCESS_STEP:
                record.details["dropped_rows"] = dropped_row_lines(log)
        self.outputs[step.name] = record.outputs
        if step.name == EVALUATE_STEP:
            self._read_evaluation(record)
        write_step_record(step, record, key, arguments=args)

    def _read_evaluation(self, record: StepResult) -> None:
        report = record.outputs.get("evaluation")
        path = report / EVALUATION_REPORT if report else None
        if path is None or not path.is_file():
            raise LocalRunError(f"{EVALUATE_STEP} wrote no {EVALUATION_REPORT} in {report}")
        try:
            self.result.evaluation = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise LocalRunError(f"{EVALUATE_STEP}: {path} is not valid JSON: {exc}") from None

    # ------------------------------------------------------------------------------------------ bias
    def _bias_check(self, step: Step, record: StepResult) -> None:
        from . import bias as bias_mod

        folder = record.folder
        assert folder is not None
        bias_input = self._source(step.inputs[0].source)
        config = self.spec.bias.model_dump(mode="json", exclude={"instance_type", "enabled"})
        key = cache.step_key(
            {
                "step": step.name,
                "kind": step.kind,
                "implementation": file_digest(Path(bias_mod.__file__)),
                "bias": config,
                "inputs": self._digest(bias_input),
            }
        )
        if self._cached(step, record, key):
            found = bias_mod.load_result(folder, self.spec.bias)
        else:
            found = bias_mod.compute_bias(bias_input, self.spec.bias, folder)
            record.status = "done"
        record.outputs = {"report": found.report}
        self.outputs[step.name] = record.outputs
        self.result.bias = found
        breaches = found.breaches
        record.details = {"breaches": len(breaches), "values": len(found.values)}
        if breaches and self.spec.bias.fail_on_violation:
            raise bias_mod.BiasViolation(breaches, found.report)
        for line in bias_mod.breach_lines(breaches):
            self.say(f"      warning: bias threshold breached: {line}")
        write_step_record(step, record, key)

    # ------------------------------------------------------------------------------------------ training
    def _training_hyperparameters(self, step: Step) -> dict[str, str]:
        """The plan's hyperparameters (a tuning step's static ones), with the local pretrained model."""
        hps = dict(step.hyperparameters)
        if self.pretrained is not None and "pretrained_model" in hps:
            hps["pretrained_model"] = str(self.pretrained)
        return hps

    def _training_program(self, step: Step) -> tuple[Path | None, str]:
        """The training script (None: the BlazingText stand-in) and the digest of what runs."""
        if step.script:
            script = self._script(step)
            # The BERT export copies the inference handler into the model (code/inference.py), so a
            # change to the handler is a change to what the training step produces.
            handler = script.with_name("inference.py")
            shipped = [script, handler] if handler.is_file() else [script]
            return script, "+".join(file_digest(path) for path in shipped)
        from . import blazingtext

        return None, file_digest(Path(blazingtext.__file__))

    def _training_job(self, step: Step, folder: Path) -> tuple[TrainingJob, dict[str, Any]]:
        """The training job ``step`` runs in ``folder`` (the plan's hyperparameters and channels, the
        project's script or the BlazingText stand-in) and the parts of its cache key."""
        hps = self._training_hyperparameters(step)
        channels = {inp.destination: self._source(inp.source) for inp in step.inputs}
        script, implementation = self._training_program(step)
        job = TrainingJob(
            name=step.name,
            folder=folder,
            hyperparameters=hps,
            channels=channels,
            script=script,
            project_dir=self.project_dir,
            instance_type=self.spec.model.instance_type,
        )
        key_parts = {
            "step": step.name,
            "kind": step.kind,
            "implementation": implementation,
            "hyperparameters": hps,
            "inputs": {name: self._digest(path) for name, path in channels.items()},
            "pretrained": self._digest(self.pretrained) if self.pretrained else None,
        }
        return job, key_parts

    def _training(self, step: Step, record: StepResult) -> None:
        folder = record.folder
        assert folder is not None
        job, key_parts = self._training_job(step, folder)
        key = cache.step_key(key_parts)
        record.outputs = {"model": TrainingLayout(folder).artifact}
        if not self._cached(step, record, key):
            record.details = {}
            run_training_job(job, self._metric_names(), echo=self._echo(), details=record.details)
            record.status = "done"
        self.outputs[step.name] = record.outputs
        self.result.training_metrics = dict(record.details.get("metrics", {}))
        write_step_record(step, record, key, hyperparameters=job.hyperparameters)

    def _tuning(self, step: Step, record: StepResult) -> None:
        """The spec's hyperparameter search (see sagespec.local.tuning); the best trial's model is the
        step's ``model`` output, as the best training job's is on SageMaker."""
        from . import tuning

        folder = record.folder
        assert folder is not None
        job, key_parts = self._training_job(step, folder)
        search = tuning.SearchSettings.from_spec(
            self.spec, trials=self.options.tune_trials, parallel=self.options.tune_parallel
        )
        key = cache.step_key(
            key_parts
            | {
                "implementation": [key_parts["implementation"], _package_digest(tuning.__file__)],
                "search": search.describe(),
            }
        )
        artifact = TrainingLayout(folder).artifact
        record.outputs = {"model": artifact}
        if not self._cached(step, record, key):
            found = tuning.run_search(search, job, self._metric_names(), say=self.say)
            artifact.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(found.best_artifact, artifact)
            record.details = found.summary(folder)
            record.status = "done"
        self.outputs[step.name] = record.outputs
        self.result.tuning = record.details
        self.result.training_metrics = dict(record.details.get("metrics", {}))
        write_step_record(step, record, key, hyperparameters=job.hyperparameters)

    def _metric_names(self) -> list[str]:
        return list(ALGORITHMS[self.spec.model.type].metrics)

    # ------------------------------------------------------------------------------------------ condition
    def _condition(self, step: Step, record: StepResult) -> str:
        outcome = evaluate_condition(
            step.name, self.plan.condition, self.result.evaluation, self.options.threshold
        )
        self.result.condition = outcome
        record.details = dict(outcome)
        record.status = "done"
        comparison = ">=" if outcome["passed"] else "<"
        self.say(
            f"      {outcome['metric']} = {outcome['value']:.4f} {comparison} {outcome['threshold']:g} "
            f"-> {outcome['next']}"
        )
        write_step_record(step, record, None)
        return outcome["next"]

    def _register(self, step: Step, record: StepResult) -> None:
        from .registry import register_model

        artifact = self._source(step.inputs[0].source)
        evaluation = self.outputs[EVALUATE_STEP]["evaluation"] / EVALUATION_REPORT
        bias_report = self.result.bias.report if self.result.bias is not None else None
        package = register_model(
            registry_root(self.project_dir),
            group=self.spec.model_package_group,
            model_artifact=artifact,
            evaluation_report=evaluation,
            approval_status=self.spec.registry.approval_status,
            model_type=self.spec.model.type,
            region=self.spec.project.region,
            inference_instance_types=list(self.spec.registry.inference_instance_types),
            run_id=self.result.run_id,
            description=self.spec.project.description,
            bias_report=bias_report,
            reuse_identical=self.options.use_cache,
        )
        self.result.package = package
        record.outputs = {"package": package.path}
        record.details = {"group": package.group, "version": package.version, "reused": package.reused}
        record.status = "done"
        if package.reused:
            self.say(f"      already registered as {package.group} version {package.version} (same model)")
        write_step_record(step, record, None)

    def _fail(self, step: Step, record: StepResult) -> None:
        cond = self.result.condition or {}
        value = cond.get("value", float("nan"))
        raise LocalRunError(
            f"{step.name}: {self.plan.fail_message} "
            f"({cond.get('metric')} = {value:.4f} < threshold {cond.get('threshold')})"
        )

    # ------------------------------------------------------------------------------------------ records
    def _write_run_record(self, result: RunResult, started: str) -> None:
        options = {
            "data": str(self.dataset),
            "max_rows": self.options.max_rows,
            "use_cache": self.options.use_cache,
            "model": str(self.pretrained) if self.pretrained else None,
            "threshold": self.options.threshold,
        }
        write_run_record(result, started, options)


def _package_digest(init_file: str | None) -> dict[str, str]:
    """The digest of a package's source files (what decides its behaviour; not its __pycache__)."""
    assert init_file is not None
    return {path.name: file_digest(path) for path in sorted(Path(init_file).parent.glob("*.py"))}


def run_pipeline(options: RunOptions) -> RunResult:
    """Run the project's pipeline; raise a SagespecError (after the summary) when a step fails."""
    return Runner(options).run()
