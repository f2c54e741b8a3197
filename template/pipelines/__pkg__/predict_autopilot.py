"""evaluate.py's predictions for an AutoML model: on SageMaker, the batch transform's answers of Autopilot's
best candidate (test-<part>.csv.out files in the model folder); locally, the AutoML search's best
candidate, a scikit-learn pipeline (model.joblib) or a fastText model (model.bin), on the test split's
text,label CSV parts."""

from __future__ import annotations

import csv
from pathlib import Path

from blazingtext_format import blazingtext_tokens, class_of
from evaluation_inputs import answered_rows, required_file, split_parts


def predict(model_dir: Path, test_dir: Path, classes: list[str]) -> tuple[list[str], list[str]]:
    """True and predicted class labels of the test split."""
    import pandas as pd

    transformed = sorted(model_dir.glob("*.csv.out"))
    if transformed:
        # Each line is the input row and the predicted label (JoinSource Input); the first line of each
        # file is the part's header row, predicted like any other row, and is skipped.
        names = ["text", "label", "predicted"]
        frames = [
            pd.read_csv(path, header=None, skiprows=1, names=names, dtype=str, keep_default_na=False)
            for path in transformed
        ]
        rows = pd.concat(frames)
        return rows["label"].tolist(), rows["predicted"].str.strip().tolist()
    parts = split_parts(test_dir, ".csv", "preprocess.py's csv output")
    rows = pd.concat([pd.read_csv(path, dtype=str, keep_default_na=False) for path in parts])
    truth, texts = rows["label"].tolist(), rows["text"].tolist()
    if (model_dir / "model.joblib").is_file():
        import joblib

        return truth, [str(label) for label in joblib.load(model_dir / "model.joblib").predict(texts)]
    import fasttext

    fasttext.FastText.eprint = lambda *args, **kwargs: None
    model = fasttext.load_model(str(required_file(model_dir, "model.bin", "the AutoML candidate")))
    predicted, _ = model.predict([blazingtext_tokens(text) for text in texts], k=1)
    return truth, [class_of(labels[0]) if labels else "" for labels in predicted]


def baseline_rows(
    model_dir: Path, test_dir: Path, classes: list[str]
) -> list[tuple[str, str, str, float | None]]:
    """Each test text as the endpoint receives it (the handler's cleaned text), its class, and the
    endpoint's answer: the transform's label alone on SageMaker, the handler's label and probability
    locally."""
    transformed = sorted(model_dir.glob("*.csv.out"))
    if transformed:
        return [(text, true, label.strip(), None) for text, true, label in _transformed_rows(transformed)]
    truth, texts = _csv_split(test_dir)
    return answered_rows(model_dir, texts, truth)


def _transformed_rows(paths: list[Path]) -> list[list[str]]:
    """The rows of the batch transform's output (text,label,predicted; each file's header row left out)."""
    rows = []
    for path in paths:
        with path.open(newline="", encoding="utf-8") as lines:
            rows += [row[:3] for row in list(csv.reader(lines))[1:] if len(row) >= 3]
    return rows


def _csv_split(test_dir: Path) -> tuple[list[str], list[str]]:
    """The classes and the cleaned texts of the test split's text,label parts (Autopilot's input)."""
    from inference import clean_text  # beside this script: the endpoint's handler

    truth, texts = [], []
    for path in split_parts(test_dir, ".csv", "preprocess.py's csv output"):
        with path.open(newline="", encoding="utf-8") as lines:
            for row in csv.DictReader(lines):
                truth.append(row["label"])
                texts.append(clean_text(row["text"]))
    return truth, texts
