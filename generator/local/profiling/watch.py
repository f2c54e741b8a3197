"""One training job under watch: the sampler runs, each output line feeds the rules, and a firing
``stop_training_on`` rule stops the job (SageMaker's StopTraining action). ``job`` writes the report."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...spec.models import Debugger
from .rules import RuleSet, Verdict
from .sampler import SystemSampler
from .stream import StepPoint, parse_step

TICK_SECONDS = 1.0  # how often the time-based rules are looked at


@dataclass(frozen=True)
class ProfilingSettings:
    """What ``model.debugger`` asks of a local job."""

    profiler: bool
    interval_ms: int
    rules: dict[str, dict[str, Any]]
    stop_training_on: list[str] = field(default_factory=list)
    tensorboard: bool = False

    @classmethod
    def from_debugger(cls, debugger: Debugger | None) -> ProfilingSettings | None:
        """The settings for a spec's ``model.debugger``; None when it asks for nothing to watch."""
        if debugger is None or not debugger.enabled:
            return None
        return cls(
            debugger.profiler,
            debugger.system_monitor_interval_ms,
            {name: dict(params) for name, params in debugger.rules.items()},
            list(debugger.stop_training_on),
            debugger.tensorboard,
        )


class JobWatch:
    """Watches one job: run its process with :attr:`echo` and :attr:`stop`, inside ``with watch:``."""

    def __init__(
        self,
        settings: ProfilingSettings,
        echo: Callable[[str], None] | None,
        tensorboard_dir: Path | None = None,
    ) -> None:
        self.settings = settings
        self.rules = RuleSet(settings.rules, settings.stop_training_on)
        self.sampler = SystemSampler(settings.interval_ms) if settings.profiler else None
        self.points: list[StepPoint] = []
        self.stop = threading.Event()  # set when a stop_training_on rule fires
        self.stopped_by: Verdict | None = None
        self._echo = echo
        self._lock = threading.Lock()
        self._started = 0.0
        self._done = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="rule-clock", daemon=True)
        self.seconds = 0.0
        # What the job's process gets on top of the training contract: where train.py writes TensorBoard
        # logs (the variable pipelines/<pkg>/debugging.py sets on SageMaker).
        self.environment = (
            {"SAGESPEC_TENSORBOARD_DIR": str(tensorboard_dir)}
            if settings.tensorboard and tensorboard_dir is not None
            else {}
        )

    def __enter__(self) -> JobWatch:
        self._started = time.monotonic()
        if self.sampler is not None:
            self.sampler.start()
        self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._ticker.join(timeout=5)
        if self.sampler is not None:
            self.sampler.stop()
        self.seconds = time.monotonic() - self._started

    def echo(self, line: str) -> None:
        if self._echo is not None:
            self._echo(line)
        point = parse_step(line, time.monotonic() - self._started)
        if point is None:
            return
        with self._lock:
            self.points.append(point)
            self._react(self.rules.feed(point))

    def _tick(self) -> None:
        while not self._done.wait(TICK_SECONDS):
            with self._lock:
                self._react(self.rules.tick(time.monotonic() - self._started))

    def _react(self, fired: list[Verdict]) -> None:
        for verdict in fired:
            if self._echo is not None:
                self._echo(f"[debugger] rule {verdict.rule} fired {verdict.where}: {verdict.reason}")
            if verdict.stop_training and self.stopped_by is None:
                self.stopped_by = verdict
                self.stop.set()

    def summary(self, report: Path | None) -> list[str]:
        """Lines for the run's summary: which rules fired, and where the report is."""
        fired = self.rules.fired()
        lines = [f"rule {v.rule} fired {v.where}: {v.reason}" for v in fired]
        quiet = [v.rule for v in self.rules.verdicts.values() if not v.fired]
        if quiet:
            lines.append(f"no issues: {', '.join(quiet)}")
        if self.stopped_by is not None:
            lines.append(f"training stopped by {self.stopped_by.rule} (stop_training_on)")
        if report is not None:
            lines.append(f"profiler report: {report}")
        return lines
