"""Score the trained model on the held-out test split (SageMaker Processing).

    model-dir/model.tar.gz   the training job's artifact (BlazingText: model.bin; BERT: train.py's export,
                             TensorFlow's SavedModel or PyTorch's encoder and classifier.safetensors;
                             the local AutoML search's best candidate: model.joblib or model.bin;
                             Autopilot on SageMaker: the batch transform's test-<part>.csv.out)
    test-dir/                preprocess.py's test split: labels.json and the parts test-<part>.txt,
                             .tfrecord (BERT with TensorFlow) or .npz (BERT with PyTorch), all read in
                             name order (a project generated earlier wrote one test.txt, which is read too)
        -> output-dir/evaluation.json
               {"metrics": {"accuracy": {"value": x}, "macro_f1": {"value": x}, "weighted_f1": {"value": x}},
                "per_class": {"<label>": {"precision", "recall", "f1", "support"}},
                "confusion_matrix": {"labels": [...], "matrix": [[...]]}}   (rows: true, columns: predicted)
           output-dir/confusion_matrix.png
           monitoring-dir/data-quality-baseline.csv    (with --monitoring-dir: the monitored features of
                                                        each test text, monitoring_features.FEATURES)
           monitoring-dir/model-quality-baseline.csv   (label,prediction,probability per test text)

The pipeline's condition step reads ``metrics.<name>.value`` from evaluation.json.
A bad input ends the job with exit status 2 and a one-line message on stderr.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import unquote

try:
    import tracking  # MLflow logging, beside this script when the spec tracks experiments
except ModuleNotFoundError:
    tracking = None

LABEL_PREFIX = "__label__"  # fastText / BlazingText label marker
BATCH_SIZE = 64
PYTORCH_HEAD_FILE = "classifier.safetensors"  # the classification head of a PyTorch BERT export


class EvaluationError(Exception):
    """A problem with the model or test data that the user has to fix (exit status 2)."""


class OneLineErrorParser(argparse.ArgumentParser):
    """Argument errors as one line on stderr (what the job's failure reason shows), without the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = OneLineErrorParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model-dir", type=Path, default=Path("/opt/ml/processing/model"))
    parser.add_argument("--test-dir", type=Path, default=Path("/opt/ml/processing/test"))
    parser.add_argument("--output-dir", type=Path, default=Path("/opt/ml/processing/evaluation"))
    parser.add_argument("--model-type", choices=("blazingtext", "bert", "autopilot"), required=True)
    parser.add_argument(
        "--monitoring-dir",
        type=Path,
        help="write Model Monitor's baselines here (data-quality-baseline.csv, model-quality-baseline.csv)",
    )
    return parser.parse_args(argv)


# ---------------------------------------------------------------------------------------------- inputs


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


# ---------------------------------------------------------------------------------------------- prediction


def read_blazingtext_lines(test_dir: Path) -> tuple[list[str], list[str]]:
    """The class and the tokens of every line of the test split's parts (``__label__<class> <tokens>``)."""
    truth, texts = [], []
    for path in split_parts(test_dir, ".txt", "preprocess.py's blazingtext output"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            label, _, text = line.partition(" ")
            if not label.startswith(LABEL_PREFIX):
                raise EvaluationError(f"{path.name} line {number} does not start with {LABEL_PREFIX}<class>")
            truth.append(class_of(label))
            texts.append(text)
    return truth, texts


def predict_blazingtext(model_dir: Path, test_dir: Path) -> tuple[list[str], list[str]]:
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


def predict_automl(model_dir: Path, test_dir: Path) -> tuple[list[str], list[str]]:
    """True and predicted class labels for the test split's text,label CSV parts: on SageMaker, the
    batch transform's predictions of Autopilot's best candidate (test-<part>.csv.out files in the model
    folder); locally, by the AutoML search's best candidate, a scikit-learn pipeline (model.joblib) or a
    fastText model (model.bin)."""
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
    from blazingtext_format import blazingtext_tokens  # beside this script: fastText's tokenization

    fasttext.FastText.eprint = lambda *args, **kwargs: None
    model = fasttext.load_model(str(required_file(model_dir, "model.bin", "the AutoML candidate")))
    predicted, _ = model.predict([blazingtext_tokens(text) for text in texts], k=1)
    return truth, [class_of(labels[0]) if labels else "" for labels in predicted]


def class_of(label: str) -> str:
    """``__label__<class>`` -> the class (blazingtext_format.py percent-encodes white space and '%' in it)."""
    return unquote(label.removeprefix(LABEL_PREFIX))


def predict_bert(model_dir: Path, test_dir: Path, classes: list[str]) -> tuple[list[str], list[str]]:
    """True and predicted class labels of the test split, by the export of either framework."""
    if read_classes(model_dir / "labels.json") != classes:
        raise EvaluationError(
            "the model's labels.json and the test split's labels.json list different classes"
        )
    if (model_dir / PYTORCH_HEAD_FILE).is_file():
        return predict_pytorch_bert(model_dir, test_dir, classes)
    return predict_tensorflow_bert(model_dir, test_dir, classes)


def predict_tensorflow_bert(
    model_dir: Path, test_dir: Path, classes: list[str]
) -> tuple[list[str], list[str]]:
    """True and predicted class labels for the test split's TFRecords, through the exported SavedModel's
    signature."""
    # Found before TensorFlow and the model load: a split without records fails fast.
    records = [str(path) for path in split_parts(test_dir, ".tfrecord", "preprocess.py's tfrecord output")]
    import tensorflow as tf

    config_path = required_file(model_dir, "config.json", "train.py's export")
    pad_token_id = json.loads(config_path.read_text(encoding="utf-8")).get("pad_token_id") or 0
    saved_model = model_dir / "saved_model" / "1"
    if not (saved_model / "saved_model.pb").is_file():
        raise EvaluationError(f"no SavedModel in {saved_model} (train.py's export)")
    serve = tf.saved_model.load(str(saved_model)).signatures["serving_default"]

    def parse(serialized: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        features = tf.io.parse_single_example(
            serialized,
            {"input_ids": tf.io.RaggedFeature(tf.int64), "label": tf.io.FixedLenFeature([], tf.int64)},
        )
        input_ids = tf.cast(features["input_ids"], tf.int32)
        return {"input_ids": input_ids, "attention_mask": tf.ones_like(input_ids)}, features["label"]

    padding = (
        {"input_ids": tf.constant(pad_token_id, tf.int32), "attention_mask": tf.constant(0, tf.int32)},
        tf.constant(0, tf.int64),
    )
    # Dynamic padding: each batch is padded to its own longest example, not to max_seq_length.
    batches = (
        tf.data.TFRecordDataset(records)  # the files one after the other, in the order given
        .map(parse, num_parallel_calls=tf.data.AUTOTUNE)
        .padded_batch(BATCH_SIZE, padding_values=padding)
        .prefetch(tf.data.AUTOTUNE)
    )
    truth, predicted = [], []
    for inputs, labels in batches:
        logits = serve(**inputs)["logits"]
        truth += [classes[i] for i in labels.numpy()]
        predicted += [classes[i] for i in tf.argmax(logits, axis=-1).numpy()]
    return truth, predicted


def read_test_texts(test_dir: Path, num_classes: int) -> tuple[list[Any], list[int]]:
    """The test split's texts as token id arrays, and their class indexes."""
    parts = split_parts(test_dir, ".npz", "preprocess.py's token-arrays output")
    from token_arrays_format import TokenArraysError, read_token_arrays  # beside this script (PyTorch only)

    try:
        arrays = read_token_arrays(parts)
    except TokenArraysError as err:
        raise EvaluationError(f"{err} (preprocess.py's token-arrays output)") from None
    input_ids, offsets, labels = arrays["input_ids"], arrays["offsets"], arrays["labels"].tolist()
    if any(not 0 <= label < num_classes for label in labels):
        raise EvaluationError(f"{test_dir} has class indexes outside 0..{num_classes - 1}")
    return [input_ids[start:end] for start, end in zip(offsets[:-1], offsets[1:], strict=True)], labels


def cut_texts(texts: list[Any], max_length: int) -> list[Any]:
    """Texts longer than max_length cut as train.py cuts them: the closing [SEP] kept."""
    import numpy as np

    return [np.concatenate([t[: max_length - 1], t[-1:]]) if len(t) > max_length else t for t in texts]


def predict_pytorch_bert(model_dir: Path, test_dir: Path, classes: list[str]) -> tuple[list[str], list[str]]:
    """True and predicted class labels for the test split's token arrays, by the exported encoder, pooling
    and linear head: the forward pass of train.py's TextClassifier (and of inference.py, which serves the
    same export)."""
    texts, labels = read_test_texts(test_dir, len(classes))  # before the model: a bad split fails fast
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModel

    settings = json.loads((model_dir / "labels.json").read_text(encoding="utf-8"))
    try:
        encoder = AutoModel.from_pretrained(str(model_dir), add_pooling_layer=False, local_files_only=True)
    except (OSError, ValueError) as err:
        raise EvaluationError(
            f"cannot load the encoder of train.py's export: {str(err).splitlines()[0]}"
        ) from None
    encoder.eval()
    weights = load_file(str(model_dir / PYTORCH_HEAD_FILE))
    head = torch.nn.Linear(weights["weight"].shape[1], weights["weight"].shape[0])
    head.load_state_dict(weights)
    mean_pooling = settings.get("pooling") == "mean"
    pad_token_id = int(settings.get("pad_token_id") or 0)
    max_length = int(settings.get("max_seq_length") or encoder.config.max_position_embeddings)
    texts = cut_texts(texts, max_length)

    predicted: list[str] = []
    with torch.inference_mode():
        for start in range(0, len(texts), BATCH_SIZE):
            batch = texts[start : start + BATCH_SIZE]
            # Padded to the batch's longest text; the attention mask keeps the padding out.
            ids = torch.full((len(batch), max(map(len, batch))), pad_token_id, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for row, text in enumerate(batch):
                ids[row, : len(text)] = torch.as_tensor(text, dtype=torch.long)
                mask[row, : len(text)] = 1
            hidden = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
            if mean_pooling:
                weight = mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * weight).sum(1) / weight.sum(1).clamp(min=1)
            else:  # the [CLS] token
                pooled = hidden[:, 0]
            predicted += [classes[i] for i in head(pooled).argmax(-1).tolist()]
    return [classes[i] for i in labels], predicted


# ---------------------------------------------------------------------------------------------- report


def build_report(truth: list[str], predicted: list[str], classes: list[str]) -> dict[str, Any]:
    if not truth:
        raise EvaluationError("the test split has no examples")
    unknown = sorted(set(truth) - set(classes))
    if unknown:
        raise EvaluationError(f"test labels {unknown} are not in labels.json {classes}")
    # The counts by hand: scikit-learn's metrics give the same numbers (a test holds them to it), but
    # importing sklearn.metrics takes longer than the whole evaluation of a fastText model.
    index = {label: i for i, label in enumerate(classes)}
    matrix = [[0] * len(classes) for _ in classes]
    for true, guess in zip(truth, predicted, strict=True):
        if guess in index:  # a prediction outside the classes (an empty one) is only a miss
            matrix[index[true]][index[guess]] += 1
    per_class = {}
    for i, label in enumerate(classes):
        hits = matrix[i][i]
        support = truth.count(label)
        guessed = sum(row[i] for row in matrix)
        per_class[label] = {
            "precision": _ratio(hits, guessed),
            "recall": _ratio(hits, support),
            "f1": _ratio(2 * hits, guessed + support),  # 2TP / (2TP + FP + FN); 0 when there is none
            "support": support,
        }
    f1 = [scores["f1"] for scores in per_class.values()]
    metrics = {
        "accuracy": sum(t == p for t, p in zip(truth, predicted, strict=True)) / len(truth),
        "macro_f1": sum(f1) / len(f1),
        "weighted_f1": sum(s["f1"] * s["support"] for s in per_class.values()) / len(truth),
    }
    return {
        "metrics": {name: {"value": float(value)} for name, value in metrics.items()},
        "per_class": per_class,
        "confusion_matrix": {"labels": classes, "matrix": matrix},
    }


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def plot_confusion_matrix(matrix: list[list[int]], labels: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display in a processing container
    import matplotlib.pyplot as plt

    # Class labels are data: a '$' in one must not switch matplotlib into math mode.
    plt.rcParams["text.parse_math"] = False

    size = max(4.0, 0.6 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set(
        xticks=range(len(labels)),
        yticks=range(len(labels)),
        xticklabels=labels,
        yticklabels=labels,
        xlabel="predicted",
        ylabel="true",
        title="Confusion matrix (test split)",
    )
    threshold = max(max(row) for row in matrix) / 2
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            ax.text(
                j, i, str(count), ha="center", va="center", color="white" if count > threshold else "black"
            )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------- monitoring

DATA_QUALITY_BASELINE = "data-quality-baseline.csv"
MODEL_QUALITY_BASELINE = "model-quality-baseline.csv"


def write_monitoring_baselines(
    directory: Path, model_dir: Path, test_dir: Path, model_type: str, classes: list[str]
) -> None:
    """Model Monitor's baselines: the monitored features of every test text with the endpoint's answer
    (data-quality-baseline.csv, columns monitoring_features.FEATURES) and every answer beside the true
    class (model-quality-baseline.csv: label,prediction,probability; no probability where the server gives
    none)."""
    import monitoring_features  # beside this script: the features Model Monitor watches

    rows = baseline_rows(model_dir, test_dir, model_type, classes)
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / DATA_QUALITY_BASELINE).open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=monitoring_features.FEATURES)
        writer.writeheader()
        for text, _, label, confidence in rows:
            writer.writerow(monitoring_features.features(text, label, confidence))
    with (directory / MODEL_QUALITY_BASELINE).open("w", newline="", encoding="utf-8") as out:
        table = csv.writer(out)
        table.writerow(["label", "prediction", "probability"])
        table.writerows((true, label, "" if p is None else p) for _, true, label, p in rows)
    print(f"wrote {DATA_QUALITY_BASELINE} and {MODEL_QUALITY_BASELINE} ({len(rows)} rows) to {directory}")


def baseline_rows(
    model_dir: Path, test_dir: Path, model_type: str, classes: list[str]
) -> list[tuple[str, str, str, float | None]]:
    """Each test text as the deployed endpoint receives it (deploy/payload.py: BlazingText's tokens,
    Autopilot's cleaned text, the handler's raw text), its class, and the endpoint's answer."""
    if model_type == "blazingtext":
        truth, texts = read_blazingtext_lines(test_dir)  # already the tokens a client sends BlazingText
    elif model_type == "autopilot":
        transformed = sorted(model_dir.glob("*.csv.out"))
        if transformed:  # on SageMaker: Autopilot's batch transform answered with the label alone
            return [(text, true, label.strip(), None) for text, true, label in _transformed_rows(transformed)]
        truth, texts = _csv_split(test_dir)
    else:
        truth, texts = _bert_test_texts(model_dir, test_dir, classes)
    answers = _handler_answers(model_dir, texts)
    return [(text, true, *answer) for text, true, answer in zip(texts, truth, answers, strict=True)]


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


def _bert_test_texts(model_dir: Path, test_dir: Path, classes: list[str]) -> tuple[list[str], list[str]]:
    """The test split's classes and texts: BERT's split holds token ids only, so the texts are the ids
    decoded by the model's own tokenizer (lower-cased and cut at max_seq_length, as the model saw them)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(required_file(model_dir, "tokenizer.json", "train.py's export")))
    if (model_dir / PYTORCH_HEAD_FILE).is_file():
        arrays, labels = read_test_texts(test_dir, len(classes))
        ids = [[int(i) for i in array] for array in arrays]
    else:
        import tensorflow as tf

        records = [
            str(path) for path in split_parts(test_dir, ".tfrecord", "preprocess.py's tfrecord output")
        ]
        schema = {"input_ids": tf.io.RaggedFeature(tf.int64), "label": tf.io.FixedLenFeature([], tf.int64)}
        examples = [tf.io.parse_single_example(record, schema) for record in tf.data.TFRecordDataset(records)]
        ids = [example["input_ids"].numpy().tolist() for example in examples]
        labels = [int(example["label"]) for example in examples]
    return [classes[i] for i in labels], tokenizer.decode_batch(ids, skip_special_tokens=True)


def _handler_answers(model_dir: Path, texts: list[str]) -> list[tuple[str, float]]:
    """The inference handler's answer to each text: its class and that class's probability."""
    import inference  # beside this script: what serves the model (and `make serve`)

    model = inference.model_fn(str(model_dir))
    answers = []
    for start in range(0, len(texts), inference.MAX_INSTANCES):
        for prediction in inference.predict_fn(texts[start : start + inference.MAX_INSTANCES], model):
            answers.append((prediction["label"], prediction["probabilities"][prediction["label"]]))
    return answers


# ---------------------------------------------------------------------------------------------- main


def run(args: argparse.Namespace) -> None:
    classes = read_classes(args.test_dir / "labels.json")
    with tempfile.TemporaryDirectory(prefix="model-") as scratch:
        model_dir = unpack_model(args.model_dir, Path(scratch))
        if args.model_type == "blazingtext":
            truth, predicted = predict_blazingtext(model_dir, args.test_dir)
        elif args.model_type == "autopilot":
            truth, predicted = predict_automl(model_dir, args.test_dir)
        else:
            truth, predicted = predict_bert(model_dir, args.test_dir, classes)
        if args.monitoring_dir is not None:
            write_monitoring_baselines(
                args.monitoring_dir, model_dir, args.test_dir, args.model_type, classes
            )
    report = build_report(truth, predicted, classes)

    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "evaluation.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    matrix = report["confusion_matrix"]
    plot_confusion_matrix(matrix["matrix"], matrix["labels"], args.output_dir / "confusion_matrix.png")
    summary = " ".join(f"{name}={m['value']:.4f}" for name, m in report["metrics"].items())
    print(f"test examples={len(truth)} {summary}")
    print(f"wrote evaluation.json and confusion_matrix.png to {args.output_dir}")
    if tracking:
        tracking.log_step(
            "EvaluateModel",
            params=vars(args),
            metrics={f"test_{name}": metric["value"] for name, metric in report["metrics"].items()},
            artifacts=[args.output_dir / "evaluation.json", args.output_dir / "confusion_matrix.png"],
        )


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        run(args)
    except EvaluationError as err:
        print(f"evaluate.py: error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
