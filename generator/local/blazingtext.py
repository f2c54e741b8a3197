"""A local stand-in for SageMaker's built-in BlazingText (supervised mode), on fastText.

BlazingText is an algorithm container, not a script, so locally fastText (``fasttext-wheel``) trains in
its place. It runs as ``python -m sagespec.local.blazingtext`` under the same training contract as the
container: hyperparameters from ``/opt/ml/input/config/hyperparameters.json``, data from the ``train``
and ``validation`` channels (fastText format, ``__label__<class> <text>`` per line), ``model.bin`` written
to ``/opt/ml/model`` (SageMaker then tars that folder into ``model.tar.gz``).

Hyperparameters map one to one onto fastText's: epochs->epoch, learning_rate->lr, word_ngrams->wordNgrams,
vector_dim->dim, min_count->minCount, buckets->bucket. Character n-grams stay off (fastText's
supervised default, minn = maxn = 0): BlazingText's text classification mode has none.

Early stopping (BlazingText: stop when validation accuracy has not improved for ``patience`` epochs,
checked only from ``min_epochs`` on). fastText cannot resume training, and its learning rate decays
linearly over the run's own epoch count, so "the model after k epochs" is trained as a complete fastText
run with ``epoch=k``: candidates k = min_epochs, min_epochs+1, ..., epochs are trained in turn, each is
scored on the validation channel, the loop stops once ``patience`` consecutive candidates have not beaten
the best, and the best candidate is the model written. Without early stopping one run with
``epoch=epochs`` is trained. The cost is at most sum(k) epochs; fastText is fast enough on this scale.
Training uses one thread with a fixed seed, so the same data and hyperparameters give the same model.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..spec.catalog import BLAZINGTEXT

FASTTEXT_NAMES = {
    "epochs": "epoch",
    "learning_rate": "lr",
    "word_ngrams": "wordNgrams",
    "vector_dim": "dim",
    "min_count": "minCount",
    "buckets": "bucket",
}
CONTROL_NAMES = {"mode", "early_stopping", "patience", "min_epochs"}
# What the container uses for a hyperparameter the job does not set (the catalog's defaults).
DEFAULTS = BLAZINGTEXT.defaults()
EXIT_CLIENT_ERROR = 2
# One training thread: fastText's lock-free SGD over several threads gives a different model on every run,
# and a reproducible model is worth more locally (the same data gives the same model.tar.gz, so the steps
# after training can be cached). On a 2-core machine one thread was also faster than two.
THREADS = 1


class ClientError(Exception):
    """Bad hyperparameters or data: the container's ClientError (the job fails, exit 2)."""


@dataclass(frozen=True)
class Settings:
    fasttext: dict[str, Any]  # keyword arguments of fasttext.train_supervised (without epoch)
    epochs: int
    early_stopping: bool
    patience: int
    min_epochs: int


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise ClientError(f"hyperparameter {name}: expected true or false, got {value!r}")


def _number(name: str, value: Any, kind: type) -> Any:
    try:
        number = kind(float(value)) if kind is int else kind(value)
    except (TypeError, ValueError):
        raise ClientError(f"hyperparameter {name}: expected a number, got {value!r}") from None
    if kind is int and float(value) != int(float(value)):
        raise ClientError(f"hyperparameter {name}: expected an integer, got {value!r}")
    return number


def settings(hyperparameters: dict[str, Any], threads: int) -> Settings:
    """Validate BlazingText hyperparameters (strings, as SageMaker passes them) and map them."""
    unknown = sorted(set(hyperparameters) - set(FASTTEXT_NAMES) - CONTROL_NAMES)
    if unknown:
        raise ClientError(f"unknown hyperparameter(s) for BlazingText supervised mode: {', '.join(unknown)}")
    mode = str(hyperparameters.get("mode", "supervised"))
    if mode != "supervised":
        raise ClientError(f"mode {mode!r}: the local stand-in runs only BlazingText's supervised mode")
    ft: dict[str, Any] = {"thread": max(1, threads), "verbose": 0, "seed": 0}
    for name, ft_name in FASTTEXT_NAMES.items():
        if name in hyperparameters and name != "epochs":
            kind = float if name == "learning_rate" else int
            ft[ft_name] = _number(name, hyperparameters[name], kind)
    epochs = _number("epochs", hyperparameters.get("epochs", DEFAULTS["epochs"]), int)
    early = _bool("early_stopping", hyperparameters.get("early_stopping", DEFAULTS["early_stopping"]))
    patience = _number("patience", hyperparameters.get("patience", DEFAULTS["patience"]), int)
    min_epochs = _number("min_epochs", hyperparameters.get("min_epochs", DEFAULTS["min_epochs"]), int)
    for name, value in (("epochs", epochs), ("patience", patience), ("min_epochs", min_epochs)):
        if value < 1:
            raise ClientError(f"hyperparameter {name}: must be a positive integer, got {value}")
    return Settings(ft, epochs, early, patience, min_epochs)


def channel_file(channel: Path, workdir: Path, name: str) -> Path | None:
    """One fastText input file from a channel folder: its files concatenated in name order if there are
    several (preprocess.py writes a split as <split>-<part>.txt, one per part of its rows).

    When the channel holds .txt files beside others (a project generated earlier also wrote <split>.csv
    and labels.json there), only the .txt files are read, and the others are named in the log.
    """
    if not channel.is_dir():
        return None
    files = sorted(p for p in channel.rglob("*") if p.is_file())
    text_files = [p for p in files if p.suffix == ".txt"]
    if text_files and len(text_files) < len(files):
        ignored = ", ".join(p.name for p in files if p not in text_files)
        print(f"note: the {name} channel also holds {ignored}; reading only its .txt file(s)")
        files = text_files
    if not files:
        return None
    if len(files) == 1:
        return files[0]
    merged = workdir / f"{name}.txt"
    with merged.open("wb") as out:
        for path in files:
            data = path.read_bytes()
            out.write(data if data.endswith(b"\n") or not data else data + b"\n")
    return merged


def _count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for line in fh if line.strip())


def _accuracy(model: Any, path: Path | None) -> float | None:
    if path is None:
        return None
    examples, precision_at_1, _ = model.test(str(path))
    return float(precision_at_1) if examples else None


def train(
    train_file: Path, validation_file: Path | None, config: Settings, model_dir: Path
) -> dict[str, Any]:
    """Train, print BlazingText-style progress, write ``model_dir/model.bin``; returns a report."""
    import fasttext  # local: only this step needs it

    n_train = _count_lines(train_file)
    n_valid = _count_lines(validation_file) if validation_file else 0
    if n_train == 0:
        raise ClientError(f"the train channel has no examples ({train_file.name})")
    print(f"Number of train examples: {n_train}")
    if validation_file:
        print(f"Number of validation examples: {n_valid}")

    early = config.early_stopping and validation_file is not None and n_valid > 0
    if config.early_stopping and not early:
        print("early_stopping needs a validation channel; training all epochs")
    first = min(config.min_epochs, config.epochs) if early else config.epochs
    candidates: list[dict[str, Any]] = []
    best: tuple[float, int, Any] | None = None
    since_best = 0
    for epochs in range(first, config.epochs + 1):
        started = time.perf_counter()
        model = fasttext.train_supervised(input=str(train_file), epoch=epochs, **config.fasttext)
        train_acc = _accuracy(model, train_file)
        valid_acc = _accuracy(model, validation_file)
        seconds = time.perf_counter() - started
        candidates.append(
            {
                "epochs": epochs,
                "train_accuracy": train_acc,
                "validation_accuracy": valid_acc,
                "seconds": round(seconds, 3),
            }
        )
        line = f"epochs={epochs} #train_accuracy: {train_acc:.4f}"
        if valid_acc is not None:
            line += f"  #validation_accuracy: {valid_acc:.4f}"
        print(f"{line}  ({seconds:.1f}s)", flush=True)
        score = valid_acc if valid_acc is not None else train_acc
        if best is None or score > best[0]:
            best, since_best = (score, epochs, model), 0
        else:
            since_best += 1
            del model
        if early and since_best >= config.patience:
            print(f"Early stopping: validation accuracy has not improved for {config.patience} epoch(s)")
            break
    assert best is not None
    score, best_epochs, model = best
    model_dir.mkdir(parents=True, exist_ok=True)
    model.save_model(str(model_dir / "model.bin"))
    chosen = next(c for c in candidates if c["epochs"] == best_epochs)
    if chosen["validation_accuracy"] is not None:
        print(f"validation:accuracy={chosen['validation_accuracy']:.6f}")
    print(f"train:accuracy={chosen['train_accuracy']:.6f}")
    size_mb = (model_dir / "model.bin").stat().st_size / 1e6
    print(f"model.bin: {size_mb:.1f} MB, {len(model.words)} words, labels {sorted(model.labels)}")
    return {
        "epochs_trained": best_epochs,
        "early_stopping": early,
        "candidates": candidates,
        "validation_accuracy": chosen["validation_accuracy"],
        "train_accuracy": chosen["train_accuracy"],
        "fasttext_args": {**config.fasttext, "epoch": best_epochs},
    }


def _hyperparameters() -> dict[str, Any]:
    config_dir = os.environ.get("SM_INPUT_CONFIG_DIR")
    if config_dir and (Path(config_dir) / "hyperparameters.json").is_file():
        return json.loads((Path(config_dir) / "hyperparameters.json").read_text())
    return json.loads(os.environ.get("SM_HPS", "{}"))


def main() -> int:
    try:
        config = settings(_hyperparameters(), THREADS)
        model_dir = Path(os.environ["SM_MODEL_DIR"])
        with tempfile.TemporaryDirectory(prefix="blazingtext-") as tmp:
            work = Path(tmp)
            train_file = channel_file(Path(os.environ.get("SM_CHANNEL_TRAIN", "")), work, "train")
            if train_file is None:
                raise ClientError("the train channel is missing or empty")
            valid_dir = os.environ.get("SM_CHANNEL_VALIDATION")
            valid_file = channel_file(Path(valid_dir), work, "validation") if valid_dir else None
            report = train(train_file, valid_file, config, model_dir)
        out = os.environ.get("SM_OUTPUT_DATA_DIR")
        if out:
            Path(out).mkdir(parents=True, exist_ok=True)
            (Path(out) / "training-report.json").write_text(json.dumps(report, indent=2) + "\n")
    except ClientError as exc:
        print(f"ClientError: {exc}", file=sys.stderr)
        return EXIT_CLIENT_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
