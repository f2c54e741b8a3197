"""Importing the libraries of a step that runs inside the runner's own process, before it starts.

The bias check runs in the runner's process (smclarify stands in for SageMaker's Clarify container).
smclarify pulls in pandas, scikit-learn and SciPy: 1.4 s of imports. While the data steps before it
run (each a process of its own, with the runner waiting for it), a background thread of the runner
loads them, so the check starts with them in memory. Only imports move earlier: the step's work still
starts after the steps it follows, as the plan orders it. A library that fails to import is left
alone: the step imports it again and reports the failure as it always has. The chart's matplotlib is
not prefetched: the chart is drawn while training runs (local/background.py), and its thread imports
matplotlib then, on a core that one-thread fastText leaves idle.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Iterable

BIAS_LIBRARIES = ("smclarify.bias.report",)  # what local/bias.py computes with


class Prefetch:
    """Import ``modules`` on a daemon thread; :meth:`wait` before the step that needs them."""

    def __init__(self, modules: Iterable[str]) -> None:
        self.modules = tuple(modules)
        self._thread = threading.Thread(target=self._load, name="sagespec-prefetch", daemon=True)
        if self.modules:
            self._thread.start()

    def _load(self) -> None:
        for name in self.modules:
            with contextlib.suppress(Exception):
                importlib.import_module(name)

    def wait(self) -> None:
        """Return once every import has finished (at once when nothing was prefetched)."""
        if self._thread.is_alive():
            self._thread.join()
