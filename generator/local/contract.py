"""SageMaker's container contract, mapped onto a step's folder in the run.

Inside a SageMaker container everything lives under ``/opt/ml``; locally that root is the step's own
folder (``.sagespec-runs/<run-id>/<StepName>/``), so ``/opt/ml/processing/output/train`` becomes
``<step>/processing/output/train`` and ``/opt/ml/model`` becomes ``<step>/model``. The training
environment (``SM_*`` variables, hyperparameters as ``--name value`` arguments) follows the SageMaker
Python SDK v3 ``ModelTrainer`` drivers (``sagemaker.train.container_drivers``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

CONTAINER_ROOT = PurePosixPath("/opt/ml")
PROCESSING_ROOT = CONTAINER_ROOT / "processing"
CURRENT_HOST = "algo-1"


def local_path(container_path: str, step_dir: Path) -> Path:
    """``/opt/ml/<rest>`` -> ``<step_dir>/<rest>``."""
    path = PurePosixPath(container_path)
    try:
        rest = path.relative_to(CONTAINER_ROOT)
    except ValueError:
        raise ValueError(f"{container_path} is not a container path under {CONTAINER_ROOT}") from None
    if ".." in rest.parts:
        raise ValueError(f"{container_path} leaves {CONTAINER_ROOT}")
    return step_dir.joinpath(*rest.parts)


def rewrite_arguments(
    arguments: Iterable[str], step_dir: Path, moved: Mapping[str, Path] | None = None
) -> list[str]:
    """Every argument that is a processing-container path, pointed at the step's folder; a path in (or
    under) a container folder that ``moved`` maps elsewhere (a worker's own inputs) is pointed there."""
    out = []
    for arg in arguments:
        target = _moved(arg, moved or {})
        if target is not None:
            out.append(str(target))
        elif arg == str(PROCESSING_ROOT) or arg.startswith(f"{PROCESSING_ROOT}/"):
            out.append(str(local_path(arg, step_dir)))
        else:
            out.append(arg)
    return out


def _moved(arg: str, moved: Mapping[str, Path]) -> Path | None:
    for container, folder in moved.items():
        if arg == container:
            return folder
        if arg.startswith(container.rstrip("/") + "/"):
            rest = PurePosixPath(arg).relative_to(container).parts
            if ".." in rest:
                raise ValueError(f"{arg} leaves {container}")
            return folder.joinpath(*rest)
    return None


def replace_option(arguments: Iterable[str], option: str, value: str) -> list[str]:
    """``[..., option, old, ...]`` -> ``[..., option, value, ...]`` (the option must be present)."""
    args = list(arguments)
    try:
        index = args.index(option)
    except ValueError:
        raise KeyError(option) from None
    if index + 1 >= len(args):
        raise KeyError(option)
    args[index + 1] = value
    return args


# --------------------------------------------------------------------------------------------- training
@dataclass(frozen=True)
class TrainingLayout:
    """Where a training container's paths land inside the step folder."""

    root: Path

    @property
    def model_dir(self) -> Path:  # /opt/ml/model
        return self.root / "model"

    @property
    def input_dir(self) -> Path:  # /opt/ml/input
        return self.root / "input"

    @property
    def config_dir(self) -> Path:  # /opt/ml/input/config
        return self.input_dir / "config"

    def channel(self, name: str) -> Path:  # /opt/ml/input/data/<channel>
        return self.input_dir / "data" / name

    @property
    def output_dir(self) -> Path:  # /opt/ml/output
        return self.root / "output"

    @property
    def output_data_dir(self) -> Path:  # /opt/ml/output/data
        return self.output_dir / "data"

    @property
    def checkpoint_dir(self) -> Path:  # /opt/ml/checkpoints (checkpoint_s3_uri syncs here)
        return self.root / "checkpoints"

    @property
    def artifact(self) -> Path:  # what SageMaker uploads to <output path>/<job>/output/model.tar.gz
        return self.output_dir / "model.tar.gz"

    def create(self, channels: Iterable[str]) -> None:
        for path in (self.model_dir, self.config_dir, self.output_data_dir, self.checkpoint_dir):
            path.mkdir(parents=True, exist_ok=True)
        for name in channels:
            self.channel(name).mkdir(parents=True, exist_ok=True)


def deserialize(value: Any) -> Any:
    """A hyperparameter string as the SageMaker drivers decode it: JSON if it parses, else the string."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def serialize(value: Any) -> str:
    """Strings as they are, everything else as JSON (the drivers' ``safe_serialize``)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value)
    except TypeError:
        return str(value)


def hyperparameter_args(hyperparameters: Mapping[str, str]) -> list[str]:
    """``--name value`` pairs, as ``hyperparameters_to_cli_args`` builds them for script mode."""
    args: list[str] = []
    for name, value in hyperparameters.items():
        args += [f"--{name}", serialize(deserialize(value))]
    return args


def num_gpus() -> int:
    """NVIDIA GPUs visible to a training process (what SM_NUM_GPUS reports)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    smi = shutil.which("nvidia-smi")
    if not smi:
        return 0
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))


def training_environment(
    layout: TrainingLayout,
    hyperparameters: Mapping[str, str],
    channels: Iterable[str],
    instance_type: str,
    gpus: int,
) -> dict[str, str]:
    """The ``SM_*`` variables a SageMaker training container sees, with paths in the step folder."""
    channels = list(channels)
    hps = {name: deserialize(value) for name, value in hyperparameters.items()}
    cpus = os.cpu_count() or 1
    env: dict[str, Any] = {
        "SM_MODEL_DIR": str(layout.model_dir),
        "SM_INPUT_DIR": str(layout.input_dir),
        "SM_INPUT_DATA_DIR": str(layout.input_dir / "data"),
        "SM_INPUT_CONFIG_DIR": str(layout.config_dir),
        "SM_OUTPUT_DIR": str(layout.output_dir),
        "SM_OUTPUT_FAILURE": str(layout.output_dir / "failure"),
        "SM_OUTPUT_DATA_DIR": str(layout.output_data_dir),
        "SM_CHANNELS": channels,
        "SM_HPS": hps,
        "SM_CURRENT_HOST": CURRENT_HOST,
        "SM_CURRENT_INSTANCE_TYPE": instance_type,
        "SM_HOSTS": [CURRENT_HOST],
        "SM_HOST_COUNT": 1,
        "SM_CURRENT_HOST_RANK": 0,
        "SM_NUM_CPUS": cpus,
        "SM_NUM_GPUS": gpus,
        "SM_NUM_NEURONS": 0,
        "SM_MASTER_ADDR": CURRENT_HOST,
        "SM_MASTER_PORT": 7777,
        "SM_USER_ARGS": hyperparameter_args(hyperparameters),
    }
    for name in channels:
        env[f"SM_CHANNEL_{name.upper()}"] = str(layout.channel(name))
    for name, value in hps.items():
        env[f"SM_HP_{name.replace('-', '_').upper()}"] = value
    env["SM_TRAINING_ENV"] = {
        "channel_input_dirs": {name: str(layout.channel(name)) for name in channels},
        "current_host": CURRENT_HOST,
        "current_instance_type": instance_type,
        "hosts": [CURRENT_HOST],
        "hyperparameters": hps,
        "input_config_dir": str(layout.config_dir),
        "input_data_dir": str(layout.input_dir / "data"),
        "input_dir": str(layout.input_dir),
        "model_dir": str(layout.model_dir),
        "num_cpus": cpus,
        "num_gpus": gpus,
        "output_data_dir": str(layout.output_data_dir),
    }
    return {key: serialize(value) for key, value in env.items()}


def write_training_config(
    layout: TrainingLayout, hyperparameters: Mapping[str, str], channels: Iterable[str]
) -> None:
    """``/opt/ml/input/config/`` hyperparameters, inputdataconfig and resourceconfig JSON, as SageMaker
    writes them."""
    layout.config_dir.mkdir(parents=True, exist_ok=True)
    (layout.config_dir / "hyperparameters.json").write_text(
        json.dumps(dict(hyperparameters), indent=2) + "\n"
    )
    (layout.config_dir / "inputdataconfig.json").write_text(
        json.dumps({name: {"TrainingInputMode": "File"} for name in channels}, indent=2) + "\n"
    )
    (layout.config_dir / "resourceconfig.json").write_text(
        json.dumps({"current_host": CURRENT_HOST, "hosts": [CURRENT_HOST]}, indent=2) + "\n"
    )


def offline_environment() -> dict[str, str]:
    """What every step subprocess gets on top of os.environ: no model hub, no display, unbuffered."""
    env = {
        "PYTHONUNBUFFERED": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "MPLBACKEND": "Agg",
    }
    # TensorFlow's C++ INFO/WARNING lines (no CUDA driver, oneDNN notes) drown the steps' own output;
    # a TF_CPP_MIN_LOG_LEVEL the user set is kept.
    if "TF_CPP_MIN_LOG_LEVEL" not in os.environ:
        env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return env
