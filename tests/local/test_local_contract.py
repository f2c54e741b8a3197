"""The container contract: /opt/ml paths land in the step folder; the SM_* training environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sagespec.local.contract import (
    TrainingLayout,
    hyperparameter_args,
    local_path,
    replace_option,
    rewrite_arguments,
    training_environment,
)


def test_container_paths_map_into_the_step_folder(tmp_path):
    assert local_path("/opt/ml/processing/input/data", tmp_path) == tmp_path / "processing/input/data"
    assert local_path("/opt/ml/model", tmp_path) == tmp_path / "model"
    with pytest.raises(ValueError):
        local_path("/etc/passwd", tmp_path)
    with pytest.raises(ValueError):
        local_path("/opt/ml/../../etc", tmp_path)


def test_only_processing_paths_are_rewritten(tmp_path):
    args = ["--input-dir", "/opt/ml/processing/input/data", "--text-column", "Review Text", "--x", "/opt/mlx"]
    assert rewrite_arguments(args, tmp_path) == [
        "--input-dir",
        str(tmp_path / "processing/input/data"),
        "--text-column",
        "Review Text",
        "--x",
        "/opt/mlx",
    ]


def test_replace_option():
    assert replace_option(["--tokenizer", "hub/id", "--x", "1"], "--tokenizer", "/m") == [
        "--tokenizer",
        "/m",
        "--x",
        "1",
    ]
    with pytest.raises(KeyError):
        replace_option(["--x", "1"], "--tokenizer", "/m")


def test_hyperparameters_as_sagemaker_passes_them():
    # ModelTrainer's driver: JSON-decode each string, then strings as-is and the rest as JSON.
    hps = {"epochs": "3", "learning_rate": "3e-05", "freeze_encoder": "false", "pretrained_model": "a/b"}
    assert hyperparameter_args(hps) == [
        "--epochs",
        "3",
        "--learning_rate",
        "3e-05",
        "--freeze_encoder",
        "false",
        "--pretrained_model",
        "a/b",
    ]


def test_training_environment(tmp_path: Path):
    layout = TrainingLayout(tmp_path)
    env = training_environment(
        layout, {"epochs": "3", "xla": "false"}, ["train", "validation"], "ml.g5.xlarge", 0
    )
    assert env["SM_MODEL_DIR"] == str(tmp_path / "model")
    assert env["SM_CHANNEL_TRAIN"] == str(tmp_path / "input/data/train")
    assert env["SM_CHANNEL_VALIDATION"] == str(tmp_path / "input/data/validation")
    assert env["SM_OUTPUT_DATA_DIR"] == str(tmp_path / "output/data")
    assert json.loads(env["SM_HPS"]) == {"epochs": 3, "xla": False}
    assert env["SM_HP_EPOCHS"] == "3"
    assert json.loads(env["SM_HOSTS"]) == ["algo-1"] and env["SM_CURRENT_HOST"] == "algo-1"
    assert env["SM_NUM_GPUS"] == "0"
    assert json.loads(env["SM_CHANNELS"]) == ["train", "validation"]
    assert all(isinstance(v, str) for v in env.values())


def test_a_workers_inputs_are_rewritten_to_its_own_folders(tmp_path):
    worker = tmp_path / "workers" / "1" / "processing" / "input" / "rows"
    moved = {"/opt/ml/processing/input/rows": worker}
    args = [
        "--input-dir", "/opt/ml/processing/input/rows",
        "--one", "/opt/ml/processing/input/rows/part.parquet",
        "--counts-dir", "/opt/ml/processing/input/counts",
        "--output-dir", "/opt/ml/processing/output",
        "--x", "/opt/ml/processing/input/rowsy",
    ]  # fmt: skip
    assert rewrite_arguments(args, tmp_path, moved) == [
        "--input-dir", str(worker),
        "--one", str(worker / "part.parquet"),
        "--counts-dir", str(tmp_path / "processing/input/counts"),
        "--output-dir", str(tmp_path / "processing/output"),
        "--x", str(tmp_path / "processing/input/rowsy"),
    ]  # fmt: skip
    with pytest.raises(ValueError):
        rewrite_arguments(["/opt/ml/processing/input/rows/../../x"], tmp_path, moved)
