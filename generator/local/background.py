"""Work a step hands off to run beside the steps after it: what no later step reads.

The bias check's gate is its numbers: TrainModel waits for them, as the plan orders it. Its chart
(bias-report.png) is read by no step, so it is drawn on a thread while training runs. The runner joins
every such thread before it writes the run's record and report, so a finished run has all its files.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Background:
    """Threads started by steps; :meth:`join` waits for them all. A failure is reported, not raised:
    what runs here decides nothing (a step's gate is decided before its work is handed off)."""

    def __init__(self, report: Callable[[str], None]) -> None:
        self._report = report
        self._threads: list[threading.Thread] = []

    def start(self, what: str, work: Callable[[], object]) -> None:
        def run() -> None:
            try:
                work()
            except Exception as exc:
                self._report(f"      warning: {what} failed: {type(exc).__name__}: {exc}")

        thread = threading.Thread(target=run, name=f"sagespec-{what}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def join(self) -> None:
        while self._threads:
            self._threads.pop(0).join()
