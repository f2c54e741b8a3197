"""Balance, split and write the training format: the pipeline's PreprocessData step.

Runs as a SageMaker Processing job (and unchanged on a laptop through the local runner), after prepare.py:

    input-dir/<part>.parquet        prepare.py's row parts (with N instances, this instance's share of them)
    counts-dir/<file>.json          prepare.py's class counts per key bucket, of every input file
        -> output-dir/{train,validation,test}/<split>-<part>.txt       (--output-format blazingtext)
           output-dir/{train,validation,test}/<split>-<part>.tfrecord  (--output-format tfrecord)
           output-dir/{train,validation,test}/<split>-<part>.npz       (--output-format token-arrays)
           output-dir/{train,validation,test}/<split>-<part>.csv       (text,label: raw text for evaluation;
                                                                        with --output-format csv, the
                                                                        training format: one-line texts)
           output-dir/{train,validation,test}/labels.json              ({"classes": [...]}, class index order)
           (for blazingtext and csv only test/ gets labels.json: the algorithm or AutoML job reads whole
           channels)
           output-dir/bias/bias-<part>.csv     (label, facet and group columns, no header row, for Clarify)

Each training format is written by a module beside this script that a project has only when its model
reads that format: blazingtext_format.py (BlazingText), tfrecord_format.py (BERT with TensorFlow) and
token_arrays_format.py (BERT with PyTorch). With --feature-group-name (BERT formats only), every example's
features also go to a SageMaker Feature Store feature group (feature_store.py; with --offline-store-dir, a
local stand-in for the offline store).

The counts of the whole data set decide everything global: optionally every class is downsampled to the
size of the rarest one (--balance downsample) and a stratified sample of --max-rows rows is kept; then each
class is split into train / validation / test by the ratios. Each decision is a per-class threshold on the
row keys (a row's key is a seeded hash of its text), so every instance applies the same thresholds to its
own parts: the splits are the same for any instance count, every kept row lands in exactly one split, and
equal texts of the same class share a split. Sizes are exact up to one key bucket (1/65,536 of a class).

A bad input (a single class, a split that would be empty...) ends the job with exit status 2 and a one-line
message on stderr, so the pipeline's failure reason says what to fix.
"""

from __future__ import annotations

import argparse
import html
import importlib
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from prepare import KEY_BUCKET_BITS, InputError, OneLineErrorParser, key_buckets, positive_int

try:
    import tracking  # MLflow logging, beside this script when the spec tracks experiments
except ModuleNotFoundError:
    tracking = None

SPLITS = ("test", "validation", "train")  # the order their key ranges take within a class
# The BERT training formats, each written by its own module beside this script, and tokenized alike.
TOKEN_FORMATS = {"tfrecord": "tfrecord_format", "token-arrays": "token_arrays_format"}
OUTPUT_FORMATS = ("blazingtext", "csv", *TOKEN_FORMATS)
# Formats whose train and validation folders are read whole by a built-in algorithm or an AutoML job:
# they hold the training files alone.
CHANNEL_FORMATS = ("blazingtext", "csv")


class FeatureStoreError(Exception):
    """Creating the feature group or ingesting into it failed (exit status 1)."""


# ---------------------------------------------------------------------------------------------- arguments


def _ratio(value: str) -> float:
    ratio = float(value)
    if not 0 < ratio < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {value}")
    return ratio


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = OneLineErrorParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--input-dir", type=Path, default=Path("/opt/ml/processing/input/rows"))
    parser.add_argument("--counts-dir", type=Path, default=Path("/opt/ml/processing/input/counts"))
    parser.add_argument("--output-dir", type=Path, default=Path("/opt/ml/processing/output"))
    parser.add_argument("--train-ratio", type=_ratio, default=0.8)
    parser.add_argument("--validation-ratio", type=_ratio, default=0.1)
    parser.add_argument("--test-ratio", type=_ratio, default=0.1)
    parser.add_argument("--balance", choices=("none", "downsample"), default="none")
    parser.add_argument(
        "--max-rows", type=positive_int, default=None, help="stratified sample, for quick runs"
    )
    parser.add_argument("--output-format", choices=OUTPUT_FORMATS, default="blazingtext")
    parser.add_argument("--tokenizer", help="BERT formats only: Hugging Face model id or local folder")
    parser.add_argument("--max-seq-length", type=positive_int, default=128, help="BERT formats only")
    store = parser.add_argument_group("feature store (BERT formats only)")
    store.add_argument("--feature-group-name", help="store the features in this feature group too")
    store.add_argument("--feature-store-region", help="the feature group's AWS region")
    store.add_argument(
        "--record-identifier", default="review_id", help="feature name of prepare.py's record_id"
    )
    store.add_argument("--event-time-feature", default="event_time")
    store.add_argument("--online-store", action="store_true", help="a new group gets an online store")
    store.add_argument("--offline-store-s3-uri", help="a new group gets an offline store here")
    store.add_argument("--feature-store-role-arn", help="role of a new group (default: the job's role)")
    store.add_argument(
        "--offline-store-dir", type=Path, help="write a local offline store here instead of calling AWS"
    )
    args = parser.parse_args(argv)

    if args.output_format in TOKEN_FORMATS and not args.tokenizer:
        parser.error(f"--tokenizer is required with --output-format {args.output_format}")
    if args.feature_group_name:
        if args.output_format not in TOKEN_FORMATS:
            parser.error(
                "--feature-group-name stores BERT features: it needs --output-format "
                + " or ".join(TOKEN_FORMATS)
            )
        if not args.feature_store_region:
            parser.error("--feature-store-region is required with --feature-group-name")
        if not (args.online_store or args.offline_store_s3_uri or args.offline_store_dir):
            parser.error("--feature-group-name needs --online-store and/or --offline-store-s3-uri")
    elif args.offline_store_dir:
        parser.error("--offline-store-dir needs --feature-group-name")
    ratio_sum = args.train_ratio + args.validation_ratio + args.test_ratio
    if not math.isclose(ratio_sum, 1.0, abs_tol=1e-6):
        parser.error(
            f"--train-ratio, --validation-ratio and --test-ratio must add up to 1, not {ratio_sum:g}"
        )
    return args


# ---------------------------------------------------------------------------------------------- counts


@dataclass(frozen=True)
class Counts:
    """prepare.py's counts of every input file, summed: rows per class and key bucket."""

    classes: list[str]
    extra_columns: list[str]  # facet and group columns, copied to the bias table
    histogram: np.ndarray  # (classes, buckets)


def read_counts(counts_dir: Path) -> Counts:
    files = sorted(counts_dir.glob("*.json")) if counts_dir.is_dir() else []
    if not files:
        raise InputError(
            f"no prepare.py counts (*.json) in {counts_dir}: PrepareData found no .csv or .parquet file"
        )
    histogram: np.ndarray | None = None
    first: dict[str, Any] = {}
    for path in files:
        found = json.loads(path.read_text(encoding="utf-8"))
        same = ("classes", "extra_columns", "key_bucket_bits")
        if not first:
            first = found
            if found["key_bucket_bits"] != KEY_BUCKET_BITS:
                raise InputError(f"{path.name} was written by another version of prepare.py")
            histogram = np.zeros((len(found["classes"]), 1 << KEY_BUCKET_BITS), dtype=np.int64)
        elif any(found[name] != first[name] for name in same):
            raise InputError(f"{path.name} and {files[0].name} come from prepare.py runs with other settings")
        assert histogram is not None
        for index, label in enumerate(found["classes"]):
            for bucket, rows in found["histogram"][label]:
                histogram[index, bucket] += rows
    assert histogram is not None
    return Counts(first["classes"], first["extra_columns"], histogram)


@dataclass(frozen=True)
class SplitPlan:
    """Per class, the last key bucket of each split (test lowest, then validation, then train; -1: none) and
    the rows each split gets."""

    classes: list[str]
    last_bucket: dict[str, np.ndarray]  # split -> (classes,) last bucket, inclusive
    rows: dict[str, np.ndarray]  # split -> (classes,) rows


def _last_buckets(cumulative: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Per class, the first bucket by which its ``rows`` rows are reached (-1 for none)."""
    return np.array(
        [-1 if n <= 0 else int(np.searchsorted(c, n)) for c, n in zip(cumulative, rows, strict=True)],
        dtype=np.int64,
    )


def _rows_through(cumulative: np.ndarray, last_buckets: np.ndarray) -> np.ndarray:
    """Per class, its rows in the buckets up to ``last_buckets`` (inclusive; -1: none)."""
    return np.array([c[b] if b >= 0 else 0 for c, b in zip(cumulative, last_buckets, strict=True)])


def proportional(sizes: np.ndarray, total: int) -> np.ndarray:
    """``total`` shared in proportion to ``sizes``, in whole numbers that add up to it (largest remainder)."""
    exact = sizes * total / sizes.sum()
    shares = np.floor(exact)
    short = int(total - shares.sum())
    shares[np.argsort(shares - exact, kind="stable")[:short]] += 1
    return shares


def plan_split(counts: Counts, ratios: dict[str, float], balance: str, max_rows: int | None) -> SplitPlan:
    totals = counts.histogram.sum(axis=1)
    present = {label: int(n) for label, n in zip(counts.classes, totals, strict=True) if n}
    if not present:
        raise InputError("no rows with both text and a label")
    if len(present) < 2:
        # Training would "succeed" on one class and register a model that always answers it.
        listed = ", ".join(f"{label}: {n} rows" for label, n in present.items())
        raise InputError(
            f"the rows with text and a label hold only one class ({listed}); a classifier needs at least 2"
        )
    wanted = totals.astype(float)
    if balance == "downsample":
        wanted = np.where(totals > 0, min(present.values()), 0).astype(float)
    if max_rows is not None and max_rows < wanted.sum():
        wanted = proportional(wanted, max_rows)  # a stratified sample: every class in proportion
    cumulative = counts.histogram.cumsum(axis=1)
    last_kept = _last_buckets(cumulative, wanted.astype(np.int64))
    kept = _rows_through(cumulative, last_kept)
    last_bucket: dict[str, np.ndarray] = {}
    rows: dict[str, np.ndarray] = {}
    share = 0.0
    below = np.zeros(len(counts.classes), dtype=np.int64)
    for name in SPLITS:
        share += ratios[name]
        ends = last_kept if name == SPLITS[-1] else _last_buckets(cumulative, np.round(share * kept))
        last_bucket[name] = ends
        upto = _rows_through(cumulative, ends)
        rows[name] = np.maximum(upto - below, 0)
        below = np.maximum(below, upto)
    total = int(kept.sum())
    for name in SPLITS:
        if not rows[name].sum():
            raise InputError(f"the {name} split is empty ({total} examples); use more data or other ratios")
    return SplitPlan(counts.classes, last_bucket, rows)


def shuffle_order(keys: np.ndarray) -> np.ndarray:
    """An order of the rows that is random but the same for every run: by the keys, remixed (SplitMix64's
    finalizer). Not by the keys themselves: the thresholds are key ranges, so in key order the rows of a
    split would come class by class at its ends, and a learner that reads its file in order (fastText)
    would favour the last class."""
    with np.errstate(over="ignore"):
        mixed = keys ^ (keys >> np.uint64(30))
        mixed = mixed * np.uint64(0xBF58476D1CE4E5B9)
        mixed ^= mixed >> np.uint64(27)
        mixed = mixed * np.uint64(0x94D049BB133111EB)
        mixed ^= mixed >> np.uint64(31)
    return np.argsort(mixed, kind="stable")


def assign(rows: pd.DataFrame, plan: SplitPlan) -> dict[str, pd.DataFrame]:
    """The part's rows of each split, shuffled (the same way for every run)."""
    rows = rows.iloc[shuffle_order(rows["key"].to_numpy(dtype=np.uint64))]
    index = {label: i for i, label in enumerate(plan.classes)}
    class_ids = rows["label"].map(index).to_numpy()
    buckets = key_buckets(rows["key"].to_numpy(dtype=np.uint64))
    taken = np.zeros(len(rows), dtype=bool)
    parts = {}
    for name in SPLITS:
        mine = (buckets <= plan.last_bucket[name][class_ids]) & ~taken
        taken |= mine
        parts[name] = rows[mine]
    return {name: parts[name] for name in ("train", "validation", "test")}


# ---------------------------------------------------------------------------------------------- writing


def clean_text(text: str) -> str:
    """Unescape HTML entities (the source has &#39; and &quot;) and put the text on one line."""
    return " ".join(html.unescape(text).split())


def write_labels(output_dir: Path, output_format: str, classes: list[str]) -> None:
    """labels.json in each split folder that gets one: the same file from every instance."""
    for name in ("train", "validation", "test"):
        # The built-in BlazingText algorithm may take every file in its train/validation channels for
        # training lines, so those folders hold the fastText files alone. The test split is read by
        # evaluate.py, not by the algorithm, and keeps the raw text and class order beside it.
        if output_format not in CHANNEL_FORMATS or name == "test":
            directory = output_dir / name
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "labels.json").write_text(
                json.dumps({"classes": classes}, indent=2) + "\n", encoding="utf-8"
            )


def write_split(
    directory: Path,
    file_stem: str,
    part: pd.DataFrame,
    classes: list[str],
    args: argparse.Namespace,
    tokenizer: Any,
) -> None:
    """One part of one split, in the training format (and as text,label CSV where evaluation reads it)."""
    directory.mkdir(parents=True, exist_ok=True)
    if args.output_format == "csv":
        # Autopilot's input: a header row, the label as the target column, each text on one line.
        rows = pd.DataFrame({"text": [clean_text(text) for text in part["text"]], "label": part["label"]})
        rows.to_csv(directory / f"{file_stem}.csv", index=False)
        return
    if args.output_format != "blazingtext" or directory.name == "test":
        part[["text", "label"]].to_csv(directory / f"{file_stem}.csv", index=False)
    if args.output_format == "blazingtext":
        import blazingtext_format  # BlazingText projects only

        blazingtext_format.write_blazingtext(directory / f"{file_stem}.txt", part["text"], part["label"])
        return
    index = {label: i for i, label in enumerate(classes)}
    label_ids = [index[label] for label in part["label"]]
    texts = [clean_text(text) for text in part["text"]]
    if args.output_format == "tfrecord":
        import tfrecord_format  # BERT projects with TensorFlow only: see the end of this file

        tfrecord_format.write_tfrecord(
            directory / f"{file_stem}.tfrecord", texts, label_ids, tokenizer, args.max_seq_length
        )
    else:
        import token_arrays_format  # BERT projects with PyTorch only: see the end of this file

        token_arrays_format.write_token_arrays(
            directory / f"{file_stem}.npz", texts, label_ids, tokenizer, args.max_seq_length
        )


def print_counts(plan: SplitPlan) -> None:
    for name in ("train", "validation", "test"):
        rows = plan.rows[name]
        per_class = " ".join(f"{label}={int(n)}" for label, n in zip(plan.classes, rows, strict=True))
        print(f"{name}: {int(rows.sum())} examples ({per_class})")


# ---------------------------------------------------------------------------------------------- main


def run(args: argparse.Namespace) -> None:
    counts = read_counts(args.counts_dir)
    ratios = {"train": args.train_ratio, "validation": args.validation_ratio, "test": args.test_ratio}
    plan = plan_split(counts, ratios, args.balance, args.max_rows)
    part_files = sorted(args.input_dir.rglob("*.parquet")) if args.input_dir.is_dir() else []
    if not part_files:
        # With more instances than row parts, SageMaker gives some instances none: nothing to write.
        print(f"no row parts in {args.input_dir}: nothing to write on this instance")
        return
    # Load the tokenizer before writing anything, so a bad --tokenizer fails fast.
    tokenizer = (
        load_tokenizer(args.output_format, args.tokenizer) if args.output_format in TOKEN_FORMATS else None
    )
    write_labels(args.output_dir, args.output_format, counts.classes)
    bias_dir = args.output_dir / "bias"
    bias_dir.mkdir(parents=True, exist_ok=True)
    for path in part_files:
        part = path.stem
        parts = assign(pd.read_parquet(path), plan)
        for name, rows in parts.items():
            if not rows.empty:
                write_split(args.output_dir / name, f"{name}-{part}", rows, counts.classes, args, tokenizer)
        kept = pd.concat(parts.values())
        if not kept.empty:
            # No header row: the instances write parts of one table; Clarify is given the column names.
            bias = kept[["label", *counts.extra_columns]]
            bias.to_csv(bias_dir / f"bias-{part}.csv", index=False, header=False)
        if args.feature_group_name:
            store_features(parts, tokenizer, args)
        print(f"{path.name}: " + ", ".join(f"{len(rows)} {name}" for name, rows in parts.items()))
    print_counts(plan)
    if tracking:
        metrics = {f"{name}_rows": int(rows.sum()) for name, rows in plan.rows.items()}
        tracking.log_step("PreprocessData", params=vars(args), metrics=metrics)
    print(
        f"wrote {args.output_format} splits and bias tables of {len(part_files)} parts to {args.output_dir}"
    )


# The BERT format writers and the Feature Store ingestion are modules beside this script that a project has
# only when its spec uses them (a BERT model in one framework; a feature store); they are imported where they
# are used.


def load_tokenizer(output_format: str, name_or_path: str) -> Any:
    writer = importlib.import_module(TOKEN_FORMATS[output_format])
    try:
        return writer.load_tokenizer(name_or_path)
    except ValueError as err:
        raise InputError(str(err)) from None


def store_features(parts: dict[str, pd.DataFrame], tokenizer: Any, args: argparse.Namespace) -> None:
    import feature_store

    cleaned = {name: part.assign(text=part["text"].map(clean_text)) for name, part in parts.items()}
    try:
        feature_store.store_features(cleaned, tokenizer, args)
    except feature_store.NoRoleError as err:
        raise InputError(str(err)) from None
    except feature_store.FeatureStoreError as err:
        raise FeatureStoreError(str(err)) from None


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        run(args)
    except InputError as err:
        print(f"preprocess.py: error: {err}", file=sys.stderr)
        sys.exit(2)
    except FeatureStoreError as err:
        print(f"preprocess.py: error: {err}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
