"""evaluate.py scores the whole test split: every part preprocess.py wrote (test-<part>.txt, .tfrecord or
.npz, one per part of its input rows), read in name order, and the one test.<format> file of a project
generated before the splits came in parts. These tests need no model: they stop at the test split or
read it without predicting."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
_EVALUATE_SCRIPTS = sorted(ROOT.glob("pipelines/*/evaluate.py"))
SCRIPTS = _EVALUATE_SCRIPTS[0].parent if _EVALUATE_SCRIPTS else ROOT / "pipelines"
CLASSES = ["very bad", "ok", "good"]


@pytest.fixture
def evaluate(monkeypatch: pytest.MonkeyPatch) -> Any:
    """evaluate.py imported as a module, with the modules beside it importable as in its container."""
    monkeypatch.syspath_prepend(str(SCRIPTS))
    spec = importlib.util.spec_from_file_location("step_evaluate", SCRIPTS / "evaluate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def beside_evaluate(name: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """One of the modules evaluate.py imports, as it imports it; skipped where this project has none (each
    project has the predictions of its own model only)."""
    if not (SCRIPTS / f"{name}.py").is_file():
        pytest.skip(f"this project's model is not scored by {name}.py")
    monkeypatch.syspath_prepend(str(SCRIPTS))
    return importlib.import_module(name)


@pytest.fixture
def blazingtext(monkeypatch: pytest.MonkeyPatch) -> Any:
    return beside_evaluate("predict_blazingtext", monkeypatch)


def write_test_split(test_dir: Path, parts: dict[str, str]) -> Path:
    """A test split folder: labels.json, the CSV part preprocess.py writes beside the lines, and ``parts``."""
    test_dir.mkdir(parents=True, exist_ok=True)
    (test_dir / "labels.json").write_text(json.dumps({"classes": CLASSES}), encoding="utf-8")
    (test_dir / "test-00000.csv").write_text("text,label\nnot a line of the format,ok\n", encoding="utf-8")
    for name, content in parts.items():
        (test_dir / name).write_text(content, encoding="utf-8")
    return test_dir


# ---------------------------------------------------------------------------------------------- BlazingText


def test_every_blazingtext_part_is_read_in_name_order(blazingtext: Any, tmp_path: Path) -> None:
    # Parts are named after preprocess.py's input files, not numbered: the order is the names' order.
    test_dir = write_test_split(
        tmp_path / "test",
        {
            "test-reviews-b-00000.txt": "__label__good great dress\n",
            "test-reviews-a-00001.txt": "__label__ok fine\n__label__good lovely\n",
            "test-reviews-a-00000.txt": "__label__very%20bad awful fit\n",
        },
    )
    truth, texts = blazingtext.read_blazingtext_lines(test_dir)
    assert truth == ["very bad", "ok", "good", "good"]
    assert texts == ["awful fit", "fine", "lovely", "great dress"]


def test_the_single_test_txt_of_an_earlier_project_is_read(blazingtext: Any, tmp_path: Path) -> None:
    test_dir = write_test_split(tmp_path / "test", {"test.txt": "__label__ok fine\n__label__good lovely\n"})
    assert blazingtext.read_blazingtext_lines(test_dir) == (["ok", "good"], ["fine", "lovely"])


def test_a_line_without_a_class_names_its_part(evaluate: Any, blazingtext: Any, tmp_path: Path) -> None:
    test_dir = write_test_split(
        tmp_path / "test",
        {"test-a-00000.txt": "__label__ok fine\n", "test-b-00000.txt": "__label__ok fine\nno class here\n"},
    )
    with pytest.raises(evaluate.EvaluationError, match="test-b-00000.txt line 2 does not start with"):
        blazingtext.read_blazingtext_lines(test_dir)


# ------------------------------------------------------------------------------------ a split without parts


# What each kind of model leaves in the model folder, the suffix of its test split's parts, and the module
# beside evaluate.py that scores it.
SCORERS = [
    ("blazingtext", [], ".txt", "predict_blazingtext"),
    ("autopilot", [], ".csv", "predict_autopilot"),
    ("bert", [], ".tfrecord", "predict_tensorflow"),  # TensorFlow's export
    ("bert", ["classifier.safetensors"], ".npz", "predict_pytorch"),  # PyTorch's has the classifier head
]


def evaluate_without_parts(
    tmp_path: Path, model_type: str, export_files: list[str], suffix: str
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """evaluate.py run on a test split with labels.json but no part of the model's format; its test
    split folder."""
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "labels.json").write_text(json.dumps({"classes": CLASSES}), encoding="utf-8")
    for name in export_files:
        (model_dir / name).write_bytes(b"")
    test_dir = write_test_split(tmp_path / "test", {})  # labels.json and a CSV part: no lines of the format
    if suffix == ".csv":
        (test_dir / "test-00000.csv").unlink()
    output_dir = tmp_path / "evaluation"
    arguments = ["--model-dir", str(model_dir), "--test-dir", str(test_dir), "--output-dir", str(output_dir)]
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / "evaluate.py"), *arguments, "--model-type", model_type],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in message, message
    assert not output_dir.exists()
    return result, test_dir


@pytest.mark.parametrize(("model_type", "export_files", "suffix", "scorer"), SCORERS)
def test_a_test_split_without_parts_exits_2_naming_the_folder(
    tmp_path: Path, model_type: str, export_files: list[str], suffix: str, scorer: str
) -> None:
    if not (SCRIPTS / f"{scorer}.py").is_file():
        pytest.skip(f"this project's model is not scored by {scorer}.py")
    result, test_dir = evaluate_without_parts(tmp_path, model_type, export_files, suffix)
    assert f"no *{suffix} files in {test_dir}" in result.stderr


def test_a_pytorch_export_without_its_head_is_still_scored_by_the_projects_module(tmp_path: Path) -> None:
    """A BERT project has one framework's module: a broken export is named by it, not taken for the other
    framework's."""
    if not (SCRIPTS / "predict_pytorch.py").is_file() or (SCRIPTS / "predict_tensorflow.py").is_file():
        pytest.skip("this project's model is not a BERT model trained with PyTorch")
    result, test_dir = evaluate_without_parts(tmp_path, "bert", [], ".npz")
    assert f"no *.npz files in {test_dir}" in result.stderr


@pytest.mark.parametrize(
    ("model_type", "scorers", "missing"),
    [
        ("blazingtext", ["predict_blazingtext"], "predict_blazingtext"),
        ("autopilot", ["predict_autopilot"], "predict_autopilot"),
        ("bert", ["predict_tensorflow", "predict_pytorch"], "predict_tensorflow"),
    ],
)
def test_another_kind_of_model_exits_2_naming_the_missing_module(
    tmp_path: Path, model_type: str, scorers: list[str], missing: str
) -> None:
    if any((SCRIPTS / f"{name}.py").is_file() for name in scorers):
        pytest.skip(f"this project's model is a {model_type} model")
    result, _ = evaluate_without_parts(tmp_path, model_type, [], ".txt")
    assert f"no {missing}.py beside evaluate.py: this project was generated for another" in result.stderr


# ---------------------------------------------------------------------------------------------- token arrays


@pytest.fixture
def pytorch(monkeypatch: pytest.MonkeyPatch) -> Any:
    pytest.importorskip("numpy")
    return beside_evaluate("predict_pytorch", monkeypatch)


def save_token_arrays(path: Path, texts: list[list[int]], labels: list[int]) -> None:
    import numpy as np

    np.savez(
        path,
        input_ids=np.asarray([token for text in texts for token in text], np.int32),
        offsets=np.cumsum([0, *map(len, texts)]),
        labels=np.asarray(labels, np.int64),
    )


def test_every_token_array_part_is_read_in_name_order(pytorch: Any, tmp_path: Path) -> None:
    test_dir = write_test_split(tmp_path / "test", {})
    save_token_arrays(test_dir / "test-b-00000.npz", [[2, 9, 3]], [0])
    save_token_arrays(test_dir / "test-a-00000.npz", [[2, 5, 6, 7, 3], [2, 8, 3]], [2, 1])
    texts, labels = pytorch.read_test_texts(test_dir, num_classes=len(CLASSES))
    assert [text.tolist() for text in texts] == [[2, 5, 6, 7, 3], [2, 8, 3], [2, 9, 3]]
    assert labels == [2, 1, 0]
    # Cut as train.py cuts a text: the closing special token kept.
    assert [text.tolist() for text in pytorch.cut_texts(texts, 3)] == [[2, 5, 3], [2, 8, 3], [2, 9, 3]]


def test_a_token_array_part_that_does_not_fit_is_named(evaluate: Any, pytorch: Any, tmp_path: Path) -> None:
    import numpy as np

    test_dir = write_test_split(tmp_path / "test", {})
    save_token_arrays(test_dir / "test-a-00000.npz", [[2, 3]], [0])
    np.savez(test_dir / "test-b-00000.npz", input_ids=[2, 3], offsets=[0, 5], labels=[1])
    with pytest.raises(evaluate.EvaluationError, match="test-b-00000.npz has offsets that do not fit"):
        pytorch.read_test_texts(test_dir, num_classes=len(CLASSES))
    save_token_arrays(test_dir / "test-b-00000.npz", [[2, 3]], [len(CLASSES)])
    with pytest.raises(evaluate.EvaluationError, match=r"class indexes outside 0\.\.2"):
        pytorch.read_test_texts(test_dir, num_classes=len(CLASSES))
