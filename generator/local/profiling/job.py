"""One training job watched from start to report: what the TrainModel step wraps its job in."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ...errors import LocalRunError
from . import report
from .watch import JobWatch, ProfilingSettings

PROFILER_FOLDER = "profiler"
TENSORBOARD_FOLDER = "tensorboard"  # train.py's TensorBoard logs, with model.debugger.tensorboard


@contextmanager
def watched(
    settings: ProfilingSettings | None,
    echo: Callable[[str], None] | None,
    name: str,
    folder: Path,
    details: dict[str, Any],
) -> Iterator[JobWatch | None]:
    """A :class:`JobWatch` for the job (None without ``settings``), to hand to ``run_training_job``.

    On the way out the profiler report (with the profiler or rules on) is written to ``folder/profiler/``
    whatever the job's outcome,
    ``details["debugger"]`` gets the summary's lines, and a job that a ``stop_training_on`` rule
    stopped fails, as a training job stopped by Debugger's StopTraining action fails its step.
    """
    if settings is None:
        yield None
        return
    watch = JobWatch(settings, echo, folder / TENSORBOARD_FOLDER)
    page: Path | None = None
    try:
        yield watch
    finally:
        if settings.profiler or settings.rules:  # TensorBoard alone has nothing to report
            page = report.write(watch, name, folder / PROFILER_FOLDER)
            details["debugger"] = {"summary": watch.summary(page), "report": str(page)}
    if watch.stopped_by is not None:
        verdict = watch.stopped_by
        raise LocalRunError(
            f"{name}: stopped by Debugger rule {verdict.rule} (model.debugger.stop_training_on) "
            f"{verdict.where}: {verdict.reason}. Profiler report: {page}"
        )
