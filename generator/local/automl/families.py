"""The candidate families of the local AutoML search: models that suit short texts, each with its
defaults, its search space and how it is trained and saved.

Every candidate is saved in a form the generated project's own inference handler and evaluate.py load
without sagespec installed:

- scikit-learn families: ``model.joblib``, a fitted :class:`sklearn.pipeline.Pipeline` from raw text to
  class (TF-IDF features, then the classifier; only scikit-learn classes, so unpickling needs nothing
  else), and ``labels.json``;
- fastText: ``model.bin``, the same format BlazingText writes (``__label__<class>`` labels, lower-cased
  tokens), so it loads and predicts exactly as a BlazingText model does.
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

Params = dict[str, Any]
# A fitted candidate's prediction for each text.
Predict = Callable[[list[str]], list[str]]

LABEL_PREFIX = "__label__"
# The tokenization of the generated project's blazingtext_format.py and inference.py (a test holds the
# three to the same output): words keeping inner apostrophes, or single punctuation characters.
_TOKEN = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")
_LABEL_UNSAFE = re.compile(r"[\s%]")


def fasttext_tokens(text: str) -> str:
    tokens = _TOKEN.findall(html.unescape(text).lower())
    return " ".join(t.removeprefix("__") if t.startswith(LABEL_PREFIX) else t for t in tokens)


def fasttext_label(label: str) -> str:
    return LABEL_PREFIX + _LABEL_UNSAFE.sub(lambda match: quote(match.group(), safe=""), label)


@dataclass(frozen=True)
class Family:
    """One kind of candidate: ``defaults`` is its first try, ``sample`` draws the next from an Optuna
    trial, ``train`` fits one on texts and labels, saves it into a folder and returns its predictor."""

    name: str
    defaults: Params
    sample: Callable[[Any], Params]
    train: Callable[[Params, list[str], list[str], int, Path], Predict]


# ---------------------------------------------------------------------------------------------- scikit-learn


def _tfidf(params: Params, analyzer: str = "word") -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    if analyzer == "char_wb":
        return TfidfVectorizer(
            analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True, max_features=200_000
        )
    return TfidfVectorizer(
        ngram_range=(1, int(params.get("max_ngram", 2))),
        min_df=int(params.get("min_df", 2)),
        sublinear_tf=True,
        max_features=200_000,
    )


def _save_pipeline(pipeline: Any, folder: Path, family: str) -> Predict:
    import joblib

    joblib.dump(pipeline, folder / "model.joblib")
    classes = [str(c) for c in pipeline.classes_]
    (folder / "labels.json").write_text(json.dumps({"classes": classes, "family": family}) + "\n")
    return lambda texts: [str(c) for c in pipeline.predict(texts)]


def _train_logistic(params: Params, texts: list[str], labels: list[str], seed: int, out: Path) -> Predict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    classifier = LogisticRegression(
        C=float(params["C"]), class_weight=params["class_weight"], max_iter=2000, random_state=seed
    )
    pipeline = make_pipeline(_tfidf(params), classifier).fit(texts, labels)
    return _save_pipeline(pipeline, out, "tfidf-logistic")


def _train_sgd(params: Params, texts: list[str], labels: list[str], seed: int, out: Path) -> Predict:
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import make_pipeline, make_union

    # modified_huber: a linear SVM-like loss that still gives class probabilities.
    classifier = SGDClassifier(
        loss="modified_huber", alpha=float(params["alpha"]), max_iter=50, tol=None, random_state=seed
    )
    features = make_union(_tfidf(params), _tfidf(params, "char_wb"))
    pipeline = make_pipeline(features, classifier).fit(texts, labels)
    return _save_pipeline(pipeline, out, "tfidf-sgd")


def _train_boosted(params: Params, texts: list[str], labels: list[str], seed: int, out: Path) -> Predict:
    from sklearn.decomposition import TruncatedSVD
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline

    # Gradient boosting wants dense features: TF-IDF reduced by SVD (latent semantic analysis), to fewer
    # components than the vocabulary has words. Each step is fitted in turn, then chained.
    tfidf = _tfidf(params).fit(texts)
    features = tfidf.transform(texts)
    components = max(1, min(int(params["components"]), features.shape[1] - 1))
    svd = TruncatedSVD(n_components=components, random_state=seed).fit(features)
    classifier = HistGradientBoostingClassifier(
        learning_rate=float(params["learning_rate"]),
        max_iter=int(params["max_iter"]),
        max_leaf_nodes=int(params["max_leaf_nodes"]),
        random_state=seed,
    ).fit(svd.transform(features), labels)
    return _save_pipeline(make_pipeline(tfidf, svd, classifier), out, "tfidf-boosted")


def _train_naive_bayes(params: Params, texts: list[str], labels: list[str], seed: int, out: Path) -> Predict:
    from sklearn.naive_bayes import ComplementNB
    from sklearn.pipeline import make_pipeline

    pipeline = make_pipeline(_tfidf(params), ComplementNB(alpha=float(params["alpha"]))).fit(texts, labels)
    return _save_pipeline(pipeline, out, "naive-bayes")


# ---------------------------------------------------------------------------------------------- fastText


def _train_fasttext(params: Params, texts: list[str], labels: list[str], seed: int, out: Path) -> Predict:
    import fasttext

    fasttext.FastText.eprint = lambda *args, **kwargs: None  # its load/train deprecation notices
    with tempfile.TemporaryDirectory(prefix="automl-fasttext-") as scratch:
        lines = Path(scratch) / "train.txt"
        lines.write_text(
            "".join(
                f"{fasttext_label(y)} {fasttext_tokens(x)}\n" for x, y in zip(texts, labels, strict=True)
            ),
            encoding="utf-8",
        )
        with contextlib.redirect_stderr(io.StringIO()):
            model = fasttext.train_supervised(
                str(lines),
                lr=float(params["lr"]),
                epoch=int(params["epoch"]),
                wordNgrams=int(params["word_ngrams"]),
                dim=int(params["dim"]),
                minCount=2,
                bucket=200_000,  # keeps model.bin small (the default with word n-grams is 400 MB)
                thread=1,  # one thread: the same data gives the same model
                seed=seed,
                verbose=0,
            )
    model.save_model(str(out / "model.bin"))

    def predict(batch: list[str]) -> list[str]:
        # The low-level call: 0.9.2's predict() fails on single strings under numpy 2.
        return [
            unquote(found[0][1].removeprefix(LABEL_PREFIX)) if found else ""
            for found in (model.f.predict(fasttext_tokens(text) + "\n", 1, 0.0, "strict") for text in batch)
        ]

    return predict


# ---------------------------------------------------------------------------------------------- the families

FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family(
            "tfidf-logistic",
            {"C": 4.0, "max_ngram": 2, "min_df": 2, "class_weight": None},
            lambda t: {
                "C": t.suggest_float("C", 0.05, 50.0, log=True),
                "max_ngram": t.suggest_int("max_ngram", 1, 3),
                "min_df": t.suggest_int("min_df", 1, 5),
                "class_weight": t.suggest_categorical("class_weight", [None, "balanced"]),
            },
            _train_logistic,
        ),
        Family(
            "fasttext",
            {"lr": 0.1, "epoch": 10, "word_ngrams": 2, "dim": 50},
            lambda t: {
                "lr": t.suggest_float("lr", 0.01, 1.0, log=True),
                "epoch": t.suggest_int("epoch", 3, 30),
                "word_ngrams": t.suggest_int("word_ngrams", 1, 3),
                "dim": t.suggest_categorical("dim", [25, 50, 100]),
            },
            _train_fasttext,
        ),
        Family(
            "tfidf-boosted",
            {"components": 200, "learning_rate": 0.1, "max_iter": 200, "max_leaf_nodes": 31},
            lambda t: {
                "components": t.suggest_int("components", 50, 300, step=50),
                "learning_rate": t.suggest_float("learning_rate", 0.02, 0.3, log=True),
                "max_iter": t.suggest_int("max_iter", 50, 400, step=50),
                "max_leaf_nodes": t.suggest_int("max_leaf_nodes", 15, 63),
            },
            _train_boosted,
        ),
        Family(
            "tfidf-sgd",
            {"alpha": 1e-4, "max_ngram": 2, "min_df": 2},
            lambda t: {
                "alpha": t.suggest_float("alpha", 1e-6, 1e-3, log=True),
                "max_ngram": t.suggest_int("max_ngram", 1, 2),
                "min_df": t.suggest_int("min_df", 1, 5),
            },
            _train_sgd,
        ),
        Family(
            "naive-bayes",
            {"alpha": 0.3, "max_ngram": 2, "min_df": 1},
            lambda t: {
                "alpha": t.suggest_float("alpha", 0.01, 3.0, log=True),
                "max_ngram": t.suggest_int("max_ngram", 1, 3),
                "min_df": t.suggest_int("min_df", 1, 5),
            },
            _train_naive_bayes,
        ),
    )
}
