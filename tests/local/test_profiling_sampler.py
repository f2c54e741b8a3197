"""The system sampler: CPU per core and memory at the interval, and each GPU through NVML where the
library answers (faked here: these machines have no GPU)."""

from __future__ import annotations

import os
import sys
import time
import types

from sagespec.local.profiling.sampler import SystemSampler


def _fake_nvml(utilisation: list[int]) -> types.ModuleType:
    nvml = types.ModuleType("pynvml")

    class NVMLError(Exception):
        pass

    nvml.NVMLError = NVMLError
    nvml.nvmlInit = lambda: None
    nvml.nvmlDeviceGetCount = lambda: len(utilisation)
    nvml.nvmlDeviceGetHandleByIndex = lambda i: i
    nvml.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=utilisation[h], memory=0)
    return nvml


def test_samples_every_core_memory_and_each_gpu(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml([37, 91]))
    sampler = SystemSampler(100)
    sampler.start()
    time.sleep(0.45)
    samples = sampler.stop()
    assert 2 <= len(samples) <= 5
    assert all(len(s.cpu) == os.cpu_count() and 0 < s.memory < 100 for s in samples)
    assert all(s.gpu == [37.0, 91.0] for s in samples)
    gaps = [b.seconds - a.seconds for a, b in zip(samples, samples[1:], strict=False)]
    assert all(gap >= 0.09 for gap in gaps)  # never faster than the interval


def test_no_gpu_when_nvml_is_missing_or_fails(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails
    sampler = SystemSampler(100)
    sampler.start()
    time.sleep(0.25)
    assert all(s.gpu == [] for s in sampler.stop())
