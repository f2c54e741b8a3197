"""One training job under SageMaker's training contract, on this machine.

A job runs in its own folder, which stands in for the container's ``/opt/ml``
(:class:`sagespec.local.contract.TrainingLayout`): its channels copied in, its hyperparameters and
``SM_*`` variables as SageMaker gives them, its ``model/`` packed into ``output/model.tar.gz``. The
TrainModel step of ``sagespec local run`` runs one; each trial of the local tuning search runs one.
"""

from __future__ import annotations

import contextlib
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import LocalRunError
from ..spec.catalog import METRIC_VALUE_PATTERN
from .artifacts import copy_into, make_model_tar
from .contract import (
    TrainingLayout,
    hyperparameter_args,
    num_gpus,
    offline_environment,
    training_environment,
    write_training_config,
)
from .process import check, run_command
from .profiling.watch import JobWatch


def metric_values(output: str, name: str) -> list[float]:
    """Every ``name=value`` a job printed, in order, read as the metric definitions read them."""
    values = []
    for text in re.findall(rf"{re.escape(name)}={METRIC_VALUE_PATTERN}", output):
        with contextlib.suppress(ValueError):  # the pattern also takes '1.2.3' or '-', which are no numbers
            values.append(float(text))
    return values


def parse_metrics(output: str, names: list[str]) -> dict[str, float]:
    """The last ``name=value`` printed for each metric (the training scripts' metric-definition format)."""
    found: dict[str, float] = {}
    for name in names:
        values = metric_values(output, name)
        if values:
            found[name] = values[-1]
    return found


@dataclass(frozen=True)
class TrainingJob:
    """One training job under SageMaker's training contract, in ``folder`` (which stands in for /opt/ml)."""

    name: str  # for messages: the step, or the tuning trial
    folder: Path
    hyperparameters: dict[str, str]
    channels: dict[str, Path]  # channel name -> the local data it receives
    script: Path | None  # the project's training script; None: the built-in algorithm's stand-in
    project_dir: Path
    instance_type: str
    # Variables the job gets on top of the training contract's (experiment tracking's).
    environment: dict[str, str] = field(default_factory=dict)
    # The module run for a built-in algorithm or service (no script): BlazingText's or Autopilot's stand-in.
    stand_in: str = "sagespec.local.blazingtext"


@dataclass
class TrainingOutcome:
    artifact: Path  # output/model.tar.gz
    metrics: dict[str, float]  # the last value the job printed of each metric
    details: dict[str, Any]  # command, environment and metrics, for the step record
    stopped: bool = False  # ``stop`` was set: the job was terminated, nothing was checked or packed
    output: str = ""  # what the job printed


def run_training_job(
    job: TrainingJob,
    metric_names: list[str],
    *,
    echo: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
    details: dict[str, Any] | None = None,
    watch: JobWatch | None = None,
) -> TrainingOutcome:
    """Run one training job: channels copied in, hyperparameters and ``SM_*`` variables as SageMaker
    gives them, ``model/`` packed into ``output/model.tar.gz``. Raises LocalRunError (DataError for
    the job's bad-input exit code) when the job fails.

    With ``watch`` (``model.debugger``, see sagespec.local.profiling.job) the job's lines go through the
    watch, which samples the system while the job runs and stops the job when a stop_training_on rule
    fires (the job is then ``stopped``, as with ``stop``).

    ``details`` (command, environment, metrics) is filled in as the job goes, so that the record of
    a failed job still tells what ran; setting ``stop`` terminates the job (see run_command).
    """
    layout = TrainingLayout(job.folder)
    hps = job.hyperparameters
    layout.create(job.channels)
    for name, source in job.channels.items():
        copy_into(source, layout.channel(name))
    write_training_config(layout, hps, job.channels)
    env = (
        offline_environment()
        | job.environment
        | training_environment(layout, hps, job.channels, job.instance_type, num_gpus())
    )
    if job.script is None:
        command = [sys.executable, "-m", job.stand_in]
    else:
        # --checkpoint_dir: the script's default is /opt/ml/checkpoints, where SageMaker syncs
        # checkpoint_s3_uri; locally it is the job's checkpoints/ folder.
        command = [
            sys.executable,
            str(job.script.relative_to(job.project_dir)),
            *hyperparameter_args(hps),
            "--checkpoint_dir",
            str(layout.checkpoint_dir),
        ]
    log = job.folder / "logs" / "output.log"
    details = {} if details is None else details
    details |= {"command": command, "environment": env}
    if watch is not None:
        echo, stop = watch.echo, watch.stop
        env |= watch.environment
    with watch if watch is not None else contextlib.nullcontext():
        completed = run_command(command, cwd=job.project_dir, env=env, log_path=log, echo=echo, stop=stop)
    output = completed.stdout + completed.stderr
    metrics = parse_metrics(output, metric_names)
    details["metrics"] = metrics
    if stop is not None and stop.is_set():
        return TrainingOutcome(layout.artifact, metrics, details, stopped=True, output=output)
    check(job.name, completed, log)
    if not any(layout.model_dir.iterdir()):
        raise LocalRunError(f"{job.name}: training wrote nothing to SM_MODEL_DIR ({layout.model_dir})")
    make_model_tar(layout.model_dir, layout.artifact)
    return TrainingOutcome(layout.artifact, metrics, details, output=output)
