"""The fastText stand-in for BlazingText: hyperparameter mapping, early stopping, the artifact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from sagespec.local import blazingtext
from sagespec.local.artifacts import make_model_tar
from sagespec.plan import build_plan
from sagespec.spec import load_spec_text


def _spec_hyperparameters(example_text) -> dict[str, str]:
    spec = load_spec_text(example_text()).spec
    return dict(build_plan(spec).step("TrainModel").hyperparameters)


def test_plan_hyperparameters_map_one_to_one(example_text):
    hps = _spec_hyperparameters(example_text)
    config = blazingtext.settings(hps, threads=2)
    assert config.fasttext | {"epoch": config.epochs} == {
        "thread": 2,
        "verbose": 0,
        "seed": 0,
        "epoch": int(hps["epochs"]),
        "lr": float(hps["learning_rate"]),
        "wordNgrams": int(hps["word_ngrams"]),
        "dim": int(hps["vector_dim"]),
        "minCount": int(hps["min_count"]),
        "bucket": int(hps["buckets"]),
    }
    # The example leaves early stopping at BlazingText's defaults (off, patience 4, min_epochs 5).
    assert (config.early_stopping, config.patience, config.min_epochs) == (False, 4, 5)


def test_unset_hyperparameters_take_the_catalogs_defaults():
    """The stand-in's defaults are BlazingText's, as the catalog the spec and the plan use lists them."""
    from sagespec.spec.catalog import BLAZINGTEXT

    defaults = BLAZINGTEXT.defaults()
    config = blazingtext.settings({}, threads=1)
    assert (config.epochs, config.early_stopping, config.patience, config.min_epochs) == (
        defaults["epochs"],
        defaults["early_stopping"],
        defaults["patience"],
        defaults["min_epochs"],
    )


@pytest.mark.parametrize(
    ("hps", "message"),
    [
        ({"mode": "supervised", "epochz": "3"}, "unknown hyperparameter"),
        ({"mode": "skipgram"}, "supervised mode"),
        ({"mode": "supervised", "epochs": "two"}, "expected a number"),
        ({"mode": "supervised", "early_stopping": "maybe"}, "true or false"),
    ],
)
def test_bad_hyperparameters_are_client_errors(hps, message):
    with pytest.raises(blazingtext.ClientError, match=message):
        blazingtext.settings(hps, threads=1)


class _FakeModel:
    def __init__(self, epochs: int, accuracy: dict[int, float]):
        self.epochs = epochs
        self.accuracy = accuracy
        self.words = ["a"]
        self.labels = ["__label__x"]

    def test(self, path: str):
        return 10, self.accuracy[self.epochs], self.accuracy[self.epochs]

    def save_model(self, path: str):
        Path(path).write_text(str(self.epochs))


def _fake_fasttext(monkeypatch, accuracy: dict[int, float]) -> list[int]:
    import fasttext

    trained: list[int] = []

    def train_supervised(input: str, epoch: int, **kwargs):
        trained.append(epoch)
        return _FakeModel(epoch, accuracy)

    monkeypatch.setattr(fasttext, "train_supervised", train_supervised)
    return trained


def _files(tmp_path: Path) -> tuple[Path, Path]:
    train = tmp_path / "train.txt"
    valid = tmp_path / "validation.txt"
    train.write_text("__label__a good\n__label__b bad\n")
    valid.write_text("__label__a good\n")
    return train, valid


def test_early_stopping_stops_after_patience_and_keeps_the_best(tmp_path, monkeypatch):
    trained = _fake_fasttext(monkeypatch, {5: 0.50, 6: 0.60, 7: 0.55, 8: 0.58, 9: 0.90, 10: 0.95})
    train, valid = _files(tmp_path)
    config = blazingtext.settings(
        {"epochs": "10", "early_stopping": "true", "patience": "2", "min_epochs": "5"}, threads=1
    )
    report = blazingtext.train(train, valid, config, tmp_path / "model")
    assert trained == [5, 6, 7, 8]  # 7 and 8 did not beat 6: patience 2 reached
    assert report["epochs_trained"] == 6
    assert (tmp_path / "model" / "model.bin").read_text() == "6"
    assert report["validation_accuracy"] == 0.60


def test_without_early_stopping_one_run_of_all_epochs(tmp_path, monkeypatch):
    trained = _fake_fasttext(monkeypatch, {10: 0.7})
    train, valid = _files(tmp_path)
    config = blazingtext.settings({"epochs": "10", "early_stopping": "false", "min_epochs": "2"}, threads=1)
    blazingtext.train(train, valid, config, tmp_path / "model")
    assert trained == [10]


def test_min_epochs_above_epochs_trains_epochs(tmp_path, monkeypatch):
    trained = _fake_fasttext(monkeypatch, {3: 0.7})
    train, valid = _files(tmp_path)
    config = blazingtext.settings({"epochs": "3", "early_stopping": "true", "min_epochs": "5"}, threads=1)
    blazingtext.train(train, valid, config, tmp_path / "model")
    assert trained == [3]


def test_channel_reads_only_text_files_when_mixed(tmp_path, capsys):
    channel = tmp_path / "train"
    channel.mkdir()
    (channel / "train.txt").write_text("__label__a x\n")
    (channel / "train.csv").write_text("text,label\nx,a\n")
    assert blazingtext.channel_file(channel, tmp_path, "train") == channel / "train.txt"
    assert "train.csv" in capsys.readouterr().out


def test_a_channel_of_parts_is_one_file_of_their_lines_in_name_order(tmp_path):
    # preprocess.py writes a split as train-<part>.txt, one per part of its rows (named after its input
    # files); BlazingText reads the whole channel.
    channel = tmp_path / "train"
    channel.mkdir()
    (channel / "train-reviews-b-00000.txt").write_text("__label__a third\n")
    (channel / "train-reviews-a-00001.txt").write_text("")  # a part may hold no lines
    (channel / "train-reviews-a-00000.txt").write_text("__label__a first\n__label__b second")  # no last \n
    merged = blazingtext.channel_file(channel, tmp_path, "train")
    assert merged is not None and merged.parent == tmp_path
    assert merged.read_text() == "__label__a first\n__label__b second\n__label__a third\n"


def test_container_run_writes_a_small_loadable_model_bin(tmp_path):
    """The stand-in as the runner starts it: SM_* environment in, model.bin + report out."""
    lines = [
        f"__label__{'pos' if i % 2 else 'neg'} {'great lovely fits' if i % 2 else 'awful torn returned'} {i}"
        for i in range(200)
    ]
    for name in ("train", "validation"):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{name}.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "config").mkdir()
    hps = {
        "mode": "supervised",
        "epochs": "6",
        "early_stopping": "true",
        "min_epochs": "3",
        "patience": "2",
        "buckets": "5000",
        "vector_dim": "16",
        "min_count": "1",
        "word_ngrams": "2",
    }
    (tmp_path / "config" / "hyperparameters.json").write_text(json.dumps(hps))
    env = {
        **os.environ,
        "SM_INPUT_CONFIG_DIR": str(tmp_path / "config"),
        "SM_MODEL_DIR": str(tmp_path / "model"),
        "SM_CHANNEL_TRAIN": str(tmp_path / "train"),
        "SM_CHANNEL_VALIDATION": str(tmp_path / "validation"),
        "SM_OUTPUT_DATA_DIR": str(tmp_path / "out"),
        "SM_NUM_CPUS": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "sagespec.local.blazingtext"], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "validation:accuracy=1.0" in proc.stdout
    model_bin = tmp_path / "model" / "model.bin"
    assert model_bin.stat().st_size < 2_000_000  # 5,000 buckets x 16 dims, not fastText's 2M-bucket default

    import fasttext

    model = fasttext.load_model(str(model_bin))
    labels, _ = model.predict(["great lovely fits"])  # a list: numpy 2 rejects a single string
    assert list(labels[0]) == ["__label__pos"]
    report = json.loads((tmp_path / "out" / "training-report.json").read_text())
    assert report["early_stopping"] is True and len(report["candidates"]) >= 1

    artifact = make_model_tar(tmp_path / "model", tmp_path / "a" / "model.tar.gz")
    with tarfile.open(artifact) as tar:
        assert tar.getnames() == ["model.bin"]
    again = make_model_tar(tmp_path / "model", tmp_path / "b" / "model.tar.gz")
    assert artifact.read_bytes() == again.read_bytes()  # reproducible: later steps can be cached


def test_container_run_exits_2_on_bad_hyperparameters(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "hyperparameters.json").write_text(
        json.dumps({"mode": "supervised", "epocs": "1"})
    )
    env = {**os.environ, "SM_INPUT_CONFIG_DIR": str(tmp_path / "config"), "SM_MODEL_DIR": str(tmp_path / "m")}
    proc = subprocess.run(
        [sys.executable, "-m", "sagespec.local.blazingtext"], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "unknown hyperparameter" in proc.stderr and "Traceback" not in proc.stderr


def test_training_is_reproducible(tmp_path):
    """One thread and a fixed seed: the same data gives the same model.bin (so later steps can be cached)."""
    train = tmp_path / "train.txt"
    train.write_text("".join(f"__label__{i % 3} word{i % 7} other{i % 5} text{i}\n" for i in range(300)))
    config = blazingtext.settings(
        {"epochs": "3", "buckets": "2000", "vector_dim": "8"}, threads=blazingtext.THREADS
    )
    blazingtext.train(train, None, config, tmp_path / "a")
    blazingtext.train(train, None, config, tmp_path / "b")
    assert (tmp_path / "a" / "model.bin").read_bytes() == (tmp_path / "b" / "model.bin").read_bytes()
