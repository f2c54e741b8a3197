"""What the steps of one local run share: the project, its spec and plan, the data and pretrained model
the run reads, the outputs earlier steps produced, the cache lookup and where progress is printed.

:class:`sagespec.local.runner.Runner` is a session that walks the plan; the handlers of
:mod:`sagespec.local.steps` take the session and one step.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path

from ..errors import DataError, LocalRunError, SagespecError, shown_name
from ..plan import Step, build_plan
from ..spec.catalog import algorithm_for
from ..spec.models import BertModel, Spec
from ..spec.project_file import load_project_spec
from . import cache
from .artifacts import relative_files, tree_digest
from .background import Background
from .runs import RunOptions, RunResult, StepResult, runs_root
from .selection import Selection
from .shards import SHARDED, worker_count
from .startup_noise import is_startup_noise
from .tracking import tracking_environment


class RunSession:
    """One run of a generated project's pipeline: its inputs, and what its steps have produced so far."""

    result: RunResult  # set when the run starts (its folder is made then)

    def __init__(self, options: RunOptions):
        self.options = options
        self.project_dir = Path(options.project_dir).resolve()
        self.loaded = load_project_spec(self.project_dir)
        self.spec: Spec = self.loaded.spec
        self.plan = build_plan(self.spec)
        self.package_dir = self.project_dir / "pipelines" / self.spec.project.package
        if not self.package_dir.is_dir():
            raise SagespecError(f"{self.package_dir} is missing: the project's step scripts live there")
        self.dataset = self._dataset_path()
        self.pretrained: Path | None = None
        if isinstance(self.spec.model, BertModel):
            from .models import resolve_pretrained_model

            name = self.spec.model.pretrained_model
            self.pretrained = resolve_pretrained_model(name, self.project_dir, options.model)
        if options.processing_instances < 1:
            count = options.processing_instances
            raise SagespecError(f"--processing-instances must be at least 1, got {count}")
        self.selection = Selection.of(self.plan, options.steps)
        self.outputs: dict[str, dict[str, Path]] = {}  # step name -> output name -> its local folder
        self._digests: dict[Path, dict[str, str]] = {}
        self.echo_lock = threading.Lock()  # several worker processes echo at once
        self.background = Background(self.say)  # work beside the next steps (see local/background.py)

    def tracking_environment(self) -> dict[str, str]:
        """What a step process gets so that it logs to MLflow (empty unless the spec tracks experiments)."""
        return tracking_environment(self.spec, self.project_dir, self.result.run_id)

    # ------------------------------------------------------------------------------------------ output
    def say(self, text: str = "") -> None:
        stream = self.options.out or sys.stdout
        print(text, file=stream, flush=True)

    def echo(self, tag: str = "") -> Callable[[str], None] | None:
        """Where a step's own log lines are echoed (indented under its heading, after ``tag``); None when
        quiet. TensorFlow's start-up noise stays in the step's log only (see local/startup_noise.py)."""
        if self.options.quiet:
            return None

        def echo(line: str) -> None:
            if not is_startup_noise(line):
                self.say(f"      | {tag}{line}")

        return echo

    # ------------------------------------------------------------------------------------------ inputs
    def _dataset_path(self) -> Path:
        try:
            return self._existing_dataset_path()
        except OSError as err:  # a name too long, no permission, an I/O error
            origin = "--data" if self.options.data is not None else "dataset.source"
            shown = shown_name(err.filename or "")
            raise DataError(f"{origin}: cannot read the data file {shown}: {err.strerror or err}") from None

    def _existing_dataset_path(self) -> Path:
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

    def source(self, source: str) -> Path:
        """The local folder a step input's source (``param:InputDataUrl``, ``step:<Step>/<output>``) names."""
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

    def digest(self, path: Path) -> dict[str, str]:
        """The digest of a file or folder, computed once per run."""
        path = path.resolve()
        if path not in self._digests:
            self._digests[path] = tree_digest(path)
        return self._digests[path]

    def script(self, step: Step) -> Path:
        """The project's script that ``step`` runs."""
        assert step.script
        path = self.package_dir / step.script
        if not path.is_file():
            raise LocalRunError(
                f"{step.name}: the step script {path.relative_to(self.project_dir)} is missing"
            )
        return path

    def metric_names(self) -> list[str]:
        return list(algorithm_for(self.spec.model).metrics)

    def processing_workers(self, step: Step) -> int:
        """How many worker processes a processing step runs (see :mod:`sagespec.local.shards`)."""
        counts = [
            len(relative_files(self.source(inp.source))) for inp in step.inputs if inp.distribution == SHARDED
        ]
        return worker_count(counts, self.options.processing_instances)

    # ------------------------------------------------------------------------------------------ caching
    def cached(self, step: Step, record: StepResult, key: str) -> bool:
        """Reuse an earlier run's folder for ``step`` when one has the same key (and caching is on), or
        whatever its key when ``--steps`` leaves the step out (see :mod:`sagespec.local.selection`)."""
        root = runs_root(self.project_dir)
        if step.name in self.selection.reused:
            source = cache.find_finished(root, step.name, exclude=self.result.run_dir)
            if source is None:  # checked before the run began; an earlier run removed since
                raise SagespecError(f"--steps: no earlier run has {step.name} finished; run it first")
            status = "reused"
        elif self.options.use_cache:
            source = cache.find_cached(root, step.name, key, exclude=self.result.run_dir)
            status = "cached"
        else:
            source = None
        if source is None:
            return False
        cache.reuse(source, record.folder)  # type: ignore[arg-type]
        record.status = status
        record.cached_from = source
        previous = cache.read_record(source) or {}
        record.details = dict(previous.get("details", {}))
        return True
