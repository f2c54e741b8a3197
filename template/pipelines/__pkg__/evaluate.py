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

The model is scored by the predict_<model>.py beside this script (the project's only one); what they
both read comes from evaluation_inputs.py. The pipeline's condition step reads ``metrics.<name>.value``
from evaluation.json. A bad input ends the job with exit status 2 and a one-line message on stderr.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

from evaluation_inputs import PYTORCH_HEAD_FILE, EvaluationError, read_classes, unpack_model

try:
    import tracking  # MLflow logging, beside this script when the spec tracks experiments
except ModuleNotFoundError:
    tracking = None


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


# ---------------------------------------------------------------------------------------------- model


def predictor(model_type: str, model_dir: Path) -> ModuleType:
    """The predict_<model>.py beside this script that scores this model: ``predict`` (the true and the
    predicted class of each test example) and ``baseline_rows`` (Model Monitor's baseline). A project has
    its own model's only."""
    try:
        if model_type == "blazingtext":
            import predict_blazingtext as scorer
        elif model_type == "autopilot":
            import predict_autopilot as scorer
        elif trained_with_pytorch(model_dir):
            import predict_pytorch as scorer
        else:
            import predict_tensorflow as scorer
    except ModuleNotFoundError as err:
        if not (err.name or "").startswith("predict_"):
            raise
        raise EvaluationError(
            f"no {err.name}.py beside evaluate.py: this project was generated for another kind of model"
        ) from None
    return scorer


def trained_with_pytorch(model_dir: Path) -> bool:
    """Whether a BERT export is scored by predict_pytorch.py: where only one framework's module is beside
    this script (in every generated project), that one; else as the export says (PyTorch's alone has the
    classification head file)."""
    here = Path(__file__).resolve().parent
    pytorch, tensorflow = ((here / f"predict_{name}.py").is_file() for name in ("pytorch", "tensorflow"))
    return pytorch if pytorch != tensorflow else (model_dir / PYTORCH_HEAD_FILE).is_file()


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


def write_monitoring_baselines(directory: Path, rows: list[tuple[str, str, str, float | None]]) -> None:
    """Model Monitor's baselines: the monitored features of every test text with the endpoint's answer
    (data-quality-baseline.csv, columns monitoring_features.FEATURES) and every answer beside the true
    class (model-quality-baseline.csv: label,prediction,probability; no probability where the server gives
    none). ``rows``: each test text as the deployed endpoint receives it (deploy/payload.py: BlazingText's
    tokens, Autopilot's cleaned text, the handler's raw text), its class, the endpoint's answer and that
    answer's probability."""
    import monitoring_features  # beside this script: the features Model Monitor watches

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


# ---------------------------------------------------------------------------------------------- main


def run(args: argparse.Namespace) -> None:
    classes = read_classes(args.test_dir / "labels.json")
    with tempfile.TemporaryDirectory(prefix="model-") as scratch:
        model_dir = unpack_model(args.model_dir, Path(scratch))
        scorer = predictor(args.model_type, model_dir)
        truth, predicted = scorer.predict(model_dir, args.test_dir, classes)
        if args.monitoring_dir is not None:
            rows = scorer.baseline_rows(model_dir, args.test_dir, classes)
            write_monitoring_baselines(args.monitoring_dir, rows)
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
