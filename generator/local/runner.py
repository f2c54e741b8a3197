"""`sagespec local run`: execute a generated project's pipeline steps, in the plan's order, on this machine.

The steps, their scripts, arguments, hyperparameters and condition come from
:func:`sagespec.plan.build_plan`, the same list the rendered SageMaker pipeline is built from. Each step
runs in ``<project>/.sagespec-runs/<run-id>/<StepName>/``, which stands in for the container's
``/opt/ml`` (see :mod:`sagespec.local.contract`); what running a step of each kind means is in
:mod:`sagespec.local.steps`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import SagespecError
from ..plan import Step
from . import forkserver
from .contract import offline_environment
from .deps import missing_dependency
from .runs import (
    RunOptions,
    RunResult,
    StepResult,
    new_run_dir,
    runs_root,
    write_run_record,
    write_step_record,
)
from .selection import NOT_SELECTED
from .session import RunSession
from .steps import HANDLERS, describe

# The fork servers of a run beside the first one (the data steps'): the bias check's, for smclarify (it
# pulls in pandas, scikit-learn and SciPy: 1.3 s of imports, done while the data steps run), and the
# one for the steps after training, with every library the project's scripts use.
BIAS_SERVER, MODEL_SERVER = "bias", "model"
BIAS_LIBRARIES = ("smclarify.bias.report", "sagespec.local.bias_job")


class Runner(RunSession):
    """Walks the plan's steps in order: one handler per step kind, the branch the condition picks, the
    progress lines, the run record and the summary."""

    _libraries: Sequence[str] = ()  # what the project's scripts import that a fork server preloads (run())

    def run(self) -> RunResult:
        self.selection.check_reusable(runs_root(self.project_dir), self.project_dir)
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
        try:
            # Each step's process forks from a server that has imported the libraries the steps use.
            # (`sagespec local run` has started it already, before importing the runner.)
            self._libraries = forkserver.preload_for(self.project_dir)
            with forkserver.serving(forkserver.data_libraries(self._libraries), offline_environment()):
                if self._bias_check_runs():
                    forkserver.add(BIAS_SERVER, BIAS_LIBRARIES)
                self._run_steps(result)
            result.status = "succeeded"
        except KeyboardInterrupt:
            result.status, result.error = "failed", "interrupted"
            raise
        except BaseException as exc:  # a SagespecError, or a bug (which keeps its traceback)
            result.status = "failed"
            result.error = str(exc) if isinstance(exc, SagespecError) else f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self.background.join()  # what steps handed off (a chart) is on disk before the records
            self._write_run_record(result, started)
            report = self._write_report(result, started)
            from .summary import format_summary

            self.say("")
            self.say(format_summary(result, report))
        return result

    def _run_steps(self, result: RunResult) -> None:
        """Every step in the plan's order, the branch the condition picks; stops at --stop-after."""
        names = self.plan.names
        branch: str | None = None
        for index, step in enumerate(self.plan.steps, start=1):
            record = StepResult(step.name, step.kind, folder=result.run_dir / step.name)
            result.steps.append(record)
            skip = self._skip_reason(step, branch)
            if skip is not None:
                record.status, record.message = "skipped", skip
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
                f"{record.status} (from run {record.cached_from.parent.name})"
                if record.cached_from is not None
                else "done"
            )
            self.say(f"      {how} in {record.seconds:.1f}s")
            if step.name == self.options.stop_after:
                return

    def _run_step(self, step: Step, record: StepResult) -> str | None:
        if step.kind != "processing":
            # The data steps are done: the server for the steps after training imports (matplotlib)
            # while this one (the bias check, or training) runs, not while the bias check's server
            # still imports.
            forkserver.add(MODEL_SERVER, self._libraries)
        with forkserver.using(self._server_for(step)):
            return HANDLERS[step.kind](self, step, record)

    def _server_for(self, step: Step) -> str | None:
        """Which fork server ``step``'s processes come from: the first one (None) for the data steps and
        training (its libraries are the first server's, or its own: TensorFlow and PyTorch are not
        preloaded), the bias check's own, and the one added for the steps after training."""
        if step.kind == "bias-check":
            return BIAS_SERVER
        names = self.plan.names
        training = next((s.name for s in self.plan.steps if s.kind in ("training", "tuning")), None)
        if training is None or names.index(step.name) <= names.index(training):
            return None
        return MODEL_SERVER

    def _bias_check_runs(self) -> bool:
        """Whether this run computes the bias check (it is in the plan, selected and not reused)."""
        return any(
            step.kind == "bias-check" and self.selection.runs(step) and step.name not in self.selection.reused
            for step in self.plan.steps
        )

    def _skip_reason(self, step: Step, branch: str | None) -> str | None:
        """Why ``step`` is not run: left out by --steps, or the branch the condition did not pick."""
        if not self.selection.runs(step):
            return NOT_SELECTED
        if step.kind in ("register", "fail") and step.name != branch:
            return "condition " + ("not met" if step.kind == "register" else "met")
        return None

    def _describe(self, step: Step) -> str:
        """The progress line's account of ``step``, with its worker processes when it runs several."""
        text = describe(step)
        if step.kind == "processing" and step.name not in self.selection.reused:
            workers = self.processing_workers(step)
            if workers > 1:
                text += f", {workers} workers"
        return text

    def _run_options(self) -> dict[str, Any]:
        return {
            "data": str(self.dataset),
            "max_rows": self.options.max_rows,
            "use_cache": self.options.use_cache,
            "model": str(self.pretrained) if self.pretrained else None,
            "threshold": self.options.threshold,
            "processing_instances": self.options.processing_instances,
            "steps": list(self.options.steps) if self.options.steps is not None else None,
        }

    def _write_run_record(self, result: RunResult, started: str) -> None:
        write_run_record(result, started, self._run_options())

    def _write_report(self, result: RunResult, started: str) -> Path | None:
        """``<run>/report.json`` and ``report.html``. A report that cannot be written must not hide why a
        run failed: then it is one line of the output; after a run that succeeded, it is an error."""
        from . import report, report_html

        try:
            found = report.collect(result, started, self.dataset, self._run_options(), self.metric_names())
            report.save(found, result.run_dir)
            return report_html.write(found, result.run_dir)
        except Exception as exc:
            if result.status == "succeeded":
                raise
            self.say(f"report: not written ({type(exc).__name__}: {exc})")
            return None


def run_pipeline(options: RunOptions) -> RunResult:
    """Run the project's pipeline; raise a SagespecError (after the summary) when a step fails."""
    return Runner(options).run()
