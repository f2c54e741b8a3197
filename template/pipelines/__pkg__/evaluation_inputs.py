"""What evaluate.py and its model's predict_<model>.py read: the training job's artifact, the test split's
parts and labels.json, and the inference handler's answers (for Model Monitor's baselines).

A problem the user has to fix is an EvaluationError: evaluate.py ends with exit status 2 and its message.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

PYTORCH_HEAD_FILE = "classifier.safetensors"  # the classification head, in a PyTorch BERT export only


class EvaluationError(Exception):
    """A problem with the model or test data that the user has to fix (exit status 2)."""


def unpack_model(model_dir: Path, destination: Path) -> Path:
    """Extract model.tar.gz into ``destination``; a model directory without one is used as it is."""
    archive = model_dir / "model.tar.gz"
    if not archive.is_file():
        if not model_dir.is_dir():
            raise EvaluationError(f"model directory {model_dir} does not exist")
        return model_dir
    try:
        with tarfile.open(archive) as tar:
            extract_safely(tar, destination)
    except (tarfile.TarError, OSError) as err:
        raise EvaluationError(f"cannot extract {archive}: {err}") from None
    return destination


def extract_safely(tar: tarfile.TarFile, destination: Path) -> None:
    """Extract without letting a member land outside ``destination``."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(destination, filter="data")
        return
    # Pythons before 3.10.12 / 3.11.4 have no extraction filters: check the members ourselves.
    root = destination.resolve()
    for member in tar.getmembers():
        inside = (root / member.name).resolve().is_relative_to(root)
        if not inside or member.issym() or member.islnk():
            raise EvaluationError(
                f"refusing to extract {member.name!r}: a link or a path outside the archive"
            )
    tar.extractall(destination)


def read_classes(path: Path) -> list[str]:
    if not path.is_file():
        raise EvaluationError(f"{path} is missing")
    try:
        return [str(c) for c in json.loads(path.read_text(encoding="utf-8"))["classes"]]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise EvaluationError(f'{path} is not a {{"classes": [...]}} JSON file') from None


def check_model_classes(model_dir: Path, classes: list[str]) -> None:
    """A BERT export names its classes in labels.json: they must be the test split's."""
    if read_classes(model_dir / "labels.json") != classes:
        raise EvaluationError(
            "the model's labels.json and the test split's labels.json list different classes"
        )


def required_file(directory: Path, name: str, what: str) -> Path:
    path = directory / name
    if not path.is_file():
        raise EvaluationError(f"{name} not found in {directory} ({what})")
    return path


def split_parts(directory: Path, suffix: str, what: str) -> list[Path]:
    """Every ``*<suffix>`` file of the split folder, sorted by name: preprocess.py writes one per part of
    its input rows, and the order of the names is the order of the split."""
    parts = sorted(path for path in directory.glob(f"*{suffix}") if path.is_file())
    if not parts:
        raise EvaluationError(f"no *{suffix} files in {directory} ({what})")
    return parts


def answered_rows(model_dir: Path, texts: list[str], truth: list[str]) -> list[tuple[str, str, str, float]]:
    """Model Monitor's baseline rows: each text as the endpoint receives it, its true class, and the
    inference handler's answer (its class and that class's probability)."""
    answers = handler_answers(model_dir, texts)
    return [(text, true, *answer) for text, true, answer in zip(texts, truth, answers, strict=True)]


def decoded_rows(
    model_dir: Path, token_ids: list[list[int]], truth: list[str]
) -> list[tuple[str, str, str, float]]:
    """:func:`answered_rows` of a BERT test split, which holds token ids only: the texts are the ids
    decoded by the export's own tokenizer (lower-cased and cut at max_seq_length, as the model saw them)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(required_file(model_dir, "tokenizer.json", "train.py's export")))
    return answered_rows(model_dir, tokenizer.decode_batch(token_ids, skip_special_tokens=True), truth)


def handler_answers(model_dir: Path, texts: list[str]) -> list[tuple[str, float]]:
    """The inference handler's answer to each text: its class and that class's probability."""
    import inference  # beside this script: what serves the model (and `make serve`)

    model = inference.model_fn(str(model_dir))
    answers = []
    for start in range(0, len(texts), inference.MAX_INSTANCES):
        for prediction in inference.predict_fn(texts[start : start + inference.MAX_INSTANCES], model):
            answers.append((prediction["label"], prediction["probabilities"][prediction["label"]]))
    return answers
