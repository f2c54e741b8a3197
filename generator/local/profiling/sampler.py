"""System utilisation while a job trains, sampled at the spec's interval as SageMaker's system monitor
does: CPU per core, memory, and each GPU where NVIDIA's management library answers."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Sample:
    seconds: float  # since sampling started
    cpu: list[float]  # percent busy, per core
    memory: float  # percent of the machine's memory in use
    gpu: list[float]  # percent busy, per GPU (empty without one)

    def as_json(self) -> dict[str, Any]:
        return {"seconds": round(self.seconds, 3), "cpu": self.cpu, "memory": self.memory, "gpu": self.gpu}


def _gpu_reader() -> Any | None:
    """A function returning each GPU's utilisation, or None where there is no NVIDIA GPU to ask."""
    try:
        import pynvml  # nvidia-ml-py: present on GPU machines that have it installed
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
    except pynvml.NVMLError:
        return None
    return lambda: [float(pynvml.nvmlDeviceGetUtilizationRates(h).gpu) for h in handles]


class SystemSampler:
    """Samples in a daemon thread from :meth:`start` until :meth:`stop`."""

    def __init__(self, interval_ms: int) -> None:
        self.interval = interval_ms / 1000
        self.samples: list[Sample] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="system-sampler", daemon=True)

    def start(self) -> None:
        import psutil  # noqa: F401 - fail here, in the caller, when it is missing; the thread uses it

        self._thread.start()

    def stop(self) -> list[Sample]:
        self._done.set()
        self._thread.join(timeout=5)
        return self.samples

    def _run(self) -> None:
        import psutil

        gpus = _gpu_reader()
        started = time.monotonic()
        psutil.cpu_percent(percpu=True)  # the first call only sets the baseline the next one measures from
        while not self._done.wait(self.interval):
            self.samples.append(
                Sample(
                    time.monotonic() - started,
                    psutil.cpu_percent(percpu=True),
                    psutil.virtual_memory().percent,
                    gpus() if gpus is not None else [],
                )
            )
