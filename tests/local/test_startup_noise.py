"""TensorFlow's start-up lines stay in a step's log and out of the terminal; every other line is echoed."""

from __future__ import annotations

import pytest

from sagespec.local.startup_noise import is_startup_noise
from sagespec.plan import PREPARE_STEP

# What `import tensorflow` printed on this CPU-only machine (TensorFlow 2.21).
NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796156237.187881    6633 port.cc:153] oneDNN custom operations are on. You may see "
    "slightly different numerical results due to floating-point round-off errors from different "
    "computation orders. To turn them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.",
    "I0000 00:00:1796156237.188261    6633 cudart_stub.cc:31] Could not find cuda drivers on your machine, "
    "GPU will not be used.",
    "I0000 00:00:1796156237.245464    6633 cpu_feature_guard.cc:227] This TensorFlow binary is optimized "
    "to use available CPU instructions in performance-critical operations.",
    "To enable the following instructions: AVX2 AVX512F AVX512_VNNI AVX512_BF16 FMA, in other operations, "
    "rebuild TensorFlow with the appropriate compiler flags.",
    "E0000 00:00:1796156241.704524    6633 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: "
    "Failed call to cuInit: UNKNOWN ERROR (303)",
    # the same where a driver is installed but there is no GPU
    "E0000 00:00:1796156241.704524    6633 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: "
    "Failed call to cuInit: CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected",
]

KEPT = [
    "epoch 1: train_loss=0.6931 validation_accuracy=0.5000",
    # on a GPU machine: what it runs on, and a driver that is there but broken
    "I0000 00:00:1796156241.704524    6633 gpu_device.cc:2019] Created device "
    "/job:localhost/replica:0/task:0/device:GPU:0 with 79078 MB memory",
    "E0000 00:00:1796156241.704524    6633 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: "
    "Failed call to cuInit: CUDA_ERROR_SYSTEM_DRIVER_MISMATCH: system has unsupported display driver",
    "E0000 00:00:1796156241.704524    6633 bfc_allocator.cc:485] Allocator ran out of memory",
    "W0000 00:00:1796156241.704524    6633 op_kernel.cc:1857] OP_REQUIRES failed at conv_ops.cc:1171",
    "ValueError: I0000 00:00:1796156237.187881    6633 port.cc:153] quoted inside a message",
    "failed call to cuInit: not a log line of absl's",
    "",
]


@pytest.mark.parametrize("line", NOISE)
def test_tensorflows_start_up_lines_are_noise(line):
    assert is_startup_noise(line)


@pytest.mark.parametrize("line", KEPT)
def test_warnings_other_errors_and_the_steps_own_lines_are_not(line):
    assert not is_startup_noise(line)


def _project_printing(helpers, finished_run, folder, lines: list[str], then: str = ""):
    """A copy of the finished BlazingText project whose prepare.py first prints ``lines`` to stderr, then
    runs ``then``."""
    project = helpers.copy_project(finished_run.project, folder)
    script = next((project / "pipelines").glob("*/prepare.py"))
    printed = "".join(f"print({line!r}, file=sys.stderr)\n" for line in lines)
    future = "from __future__ import annotations\n"  # first in the script: the prints go after it
    script.write_text(script.read_text().replace(future, f"{future}import sys\n{printed}{then}", 1))
    return project


@pytest.mark.parametrize("instances", [1, 2])
def test_a_run_echoes_the_steps_lines_and_keeps_the_noise_in_its_log(
    blazingtext_run, helpers, tmp_path, sample_csv, instances
):
    import pandas as pd

    project = _project_printing(helpers, blazingtext_run, tmp_path / "proj", [*NOISE, "the step's own line"])
    data = tmp_path / "data"  # one file per worker: the workers share out the data files
    data.mkdir()
    frame = pd.read_csv(sample_csv, index_col=0)
    for i in range(instances):
        frame.iloc[i::instances].to_csv(data / f"part{i}.csv")
    steps = ["--data", str(data), "--steps", PREPARE_STEP, "--processing-instances", str(instances)]
    result = helpers.run_cli(["local", "run", str(project), *steps])
    assert result.code == 0, result.text
    for tag in [f"[{i}] " for i in range(instances)] if instances > 1 else [""]:
        assert f"| {tag}the step's own line" in result.out
    assert not any(line in result.out for line in NOISE)
    logs = sorted((helpers.latest_run(project) / PREPARE_STEP).rglob("*.log"))
    assert len(logs) == instances
    for log in logs:
        assert all(line in log.read_text() for line in NOISE)


@pytest.mark.parametrize("code", [2, 1])
def test_a_failed_steps_message_is_its_own_words_not_the_noise(blazingtext_run, helpers, tmp_path, code):
    then = f"print('the data does not fit', file=sys.stderr)\nsys.exit({code})\n"
    project = _project_printing(helpers, blazingtext_run, tmp_path / "proj", NOISE, then)
    result = helpers.run_cli(["local", "run", str(project), "--steps", PREPARE_STEP, "-q"])
    assert result.code == code
    if code == 2:  # bad input: the step's own message is the error
        assert result.err == f"error: {PREPARE_STEP}: the data does not fit\n"
    else:
        assert "Last lines of its output:\nthe data does not fit\nfull log: " in result.err
    assert not any(line in result.text for line in NOISE)
    log = helpers.latest_run(project) / PREPARE_STEP / "logs" / "output.log"
    assert all(line in log.read_text() for line in NOISE)
