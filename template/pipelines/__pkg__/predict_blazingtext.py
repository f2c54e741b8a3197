"""evaluate.py's predictions for a BlazingText model: the test split's lines (``__label__<class> <tokens>``)
scored with fastText, which reads the model.bin that BlazingText trains."""

from __future__ import annotations

from pathlib import Path

from blazingtext_format import LABEL_PREFIX, class_of
from evaluation_inputs import EvaluationError, answered_rows, required_file, split_parts


def read_blazingtext_lines(test_dir: Path) -> tuple[list[str], list[str]]:
    """The class and the tokens of every line of the test split's parts."""
    truth, texts = [], []
    for path in split_parts(test_dir, ".txt", "preprocess.py's blazingtext output"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            label, _, text = line.partition(" ")
            if not label.startswith(LABEL_PREFIX):
                raise EvaluationError(f"{path.name} line {number} does not start with {LABEL_PREFIX}<class>")
            truth.append(class_of(label))
            texts.append(text)
    return truth, texts


def predict(model_dir: Path, test_dir: Path, classes: list[str]) -> tuple[list[str], list[str]]:
    """True and predicted class labels for the test split's lines."""
    truth, texts = read_blazingtext_lines(test_dir)  # before the model: a bad split fails fast
    import fasttext

    # fastText's Python wrapper prints a deprecation notice on every load_model: keep stderr for errors.
    fasttext.FastText.eprint = lambda *args, **kwargs: None
    model = fasttext.load_model(str(required_file(model_dir, "model.bin", "the BlazingText artifact")))
    # A list, not one string at a time: fastText 0.9.2's single-text predict fails under numpy 2.
    predicted, _ = model.predict(texts, k=1)
    # An empty prediction (fastText gives none for an empty text) counts as wrong, not as a crash.
    return truth, [class_of(labels[0]) if labels else "" for labels in predicted]


def baseline_rows(
    model_dir: Path, test_dir: Path, classes: list[str]
) -> list[tuple[str, str, str, float | None]]:
    """Each test text as the endpoint receives it (already the tokens a client sends BlazingText), its
    class, and the handler's answer."""
    truth, texts = read_blazingtext_lines(test_dir)
    return answered_rows(model_dir, texts, truth)
