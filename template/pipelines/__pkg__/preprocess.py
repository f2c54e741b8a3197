"""Turn a labelled text table into train / validation / test sets for the pipeline's training step.

Runs as a SageMaker Processing job (and unchanged on a laptop through the local runner):

    input-dir/<one .csv or .parquet file>
        -> output-dir/{train,validation,test}/<split>.txt       (--output-format blazingtext)
           output-dir/{train,validation,test}/<split>.tfrecord  (--output-format tfrecord)
           output-dir/{train,validation,test}/<split>.npz       (--output-format token-arrays)
           output-dir/{train,validation,test}/<split>.csv       (text,label: raw text for evaluation/labeling)
           output-dir/{train,validation,test}/labels.json       ({"classes": [...]}, the class index order)
           (for blazingtext only test/ gets the .csv and labels.json: the algorithm reads whole channels)
           output-dir/bias/bias.csv                             (label + facet columns, for Clarify)

Each training format is written by a module beside this script that a project has only when its model
reads that format: blazingtext_format.py (BlazingText), tfrecord_format.py (BERT with TensorFlow) and
token_arrays_format.py (BERT with PyTorch). With --feature-group-name (BERT formats only), every example's
features also go to a SageMaker Feature Store feature group (feature_store.py; with --offline-store-dir, a
local stand-in for the offline store).

Steps: drop rows without text or without a label, map raw label values to class labels, optionally
downsample every class to the size of the rarest one, optionally sample --max-rows rows, then a stratified
train/validation/test split.

A bad input (missing column, unmapped label value, a single class, a split that would be empty...) ends
the job with exit status 2 and a one-line message on stderr, so the pipeline's failure reason says what to
fix.
"""

from __future__ import annotations

import argparse
import html
import importlib
import json
import math
import re
import sys
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd
from sklearn.model_selection import train_test_split

DATA_SUFFIXES = (".csv", ".parquet")
# The BERT training formats, each written by its own module beside this script, and tokenized alike.
TOKEN_FORMATS = {"tfrecord": "tfrecord_format", "token-arrays": "token_arrays_format"}
OUTPUT_FORMATS = ("blazingtext", *TOKEN_FORMATS)

_INTEGRAL_FLOAT = re.compile(r"-?\d+\.0+")


class InputError(Exception):
    """A problem with the input data or arguments that the user has to fix (exit status 2)."""


class FeatureStoreError(Exception):
    """Creating the feature group or ingesting into it failed (exit status 1)."""


class OneLineErrorParser(argparse.ArgumentParser):
    """Argument errors as one line on stderr (what the job's failure reason shows), without the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


@dataclass(frozen=True)
class Dataset:
    """The processed examples: one row per kept example, ``text`` (raw) and ``label`` (class label)."""

    frame: pd.DataFrame
    classes: list[str]
    extra_columns: list[str]  # facet and group columns, copied to bias/bias.csv


# ---------------------------------------------------------------------------------------------- arguments


def _json_arg(kind: type, what: str) -> Callable[[str], Any]:
    """An argparse type: a JSON document of the given kind."""

    def parse(value: str) -> Any:
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as err:
            raise argparse.ArgumentTypeError(f"not valid JSON ({err.msg}): {value!r}") from None
        if not isinstance(parsed, kind):
            raise argparse.ArgumentTypeError(f"expected a JSON {what}, got {value!r}")
        return parsed

    return parse


def _ratio(value: str) -> float:
    ratio = float(value)
    if not 0 < ratio < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {value}")
    return ratio


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return number


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = OneLineErrorParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--input-dir", type=Path, default=Path("/opt/ml/processing/input/data"))
    parser.add_argument("--input-file", help="file name inside --input-dir (default: its only .csv/.parquet)")
    parser.add_argument("--output-dir", type=Path, default=Path("/opt/ml/processing/output"))
    parser.add_argument("--text-column", required=True)
    parser.add_argument("--label-column", required=True)
    parser.add_argument(
        "--label-mapping",
        required=True,
        type=_json_arg(dict, "object"),
        help='JSON object, raw label value -> class label, e.g. \'{"1": "neg", "5": "pos"}\'',
    )
    parser.add_argument("--facet-columns", type=_json_arg(list, "list"), default=[], help="JSON list")
    parser.add_argument("--group-column", default=None)
    parser.add_argument("--train-ratio", type=_ratio, default=0.8)
    parser.add_argument("--validation-ratio", type=_ratio, default=0.1)
    parser.add_argument("--test-ratio", type=_ratio, default=0.1)
    parser.add_argument("--balance", choices=("none", "downsample"), default="none")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--max-rows", type=_positive_int, default=None, help="stratified sample, for quick runs"
    )
    parser.add_argument("--output-format", choices=OUTPUT_FORMATS, default="blazingtext")
    parser.add_argument("--tokenizer", help="BERT formats only: Hugging Face model id or local folder")
    parser.add_argument("--max-seq-length", type=_positive_int, default=128, help="BERT formats only")
    store = parser.add_argument_group("feature store (BERT formats only)")
    store.add_argument("--feature-group-name", help="store the features in this feature group too")
    store.add_argument("--feature-store-region", help="the feature group's AWS region")
    store.add_argument("--record-identifier", default="review_id", help="feature (and column) name")
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
    # Compare labels as strings: JSON keys always are, and the values may have been given as numbers.
    args.label_mapping = {str(raw): str(label) for raw, label in args.label_mapping.items()}
    if len(set(args.label_mapping.values())) < 2:
        parser.error("--label-mapping must map to at least 2 distinct class labels")
    args.facet_columns = [str(column) for column in args.facet_columns]
    return args


# ---------------------------------------------------------------------------------------------- reading


def find_input_file(input_dir: Path, name: str | None) -> Path:
    if not input_dir.is_dir():
        raise InputError(f"input directory {input_dir} does not exist")
    if name:
        path = input_dir / name
        if not path.is_file():
            raise InputError(f"input file {path} does not exist")
        return path
    candidates = sorted(p for p in input_dir.iterdir() if p.is_file() and p.suffix.lower() in DATA_SUFFIXES)
    if len(candidates) != 1:
        found = ", ".join(p.name for p in candidates) or "none"
        raise InputError(
            f"expected exactly one .csv or .parquet file in {input_dir} (found: {found}); pass --input-file"
        )
    return candidates[0]


def read_table(path: Path, label_column: str) -> pd.DataFrame:
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    if path.suffix.lower() != ".csv":
        raise InputError(f"{path.name}: unsupported file type (expected .csv or .parquet)")
    try:
        # Read the label column as text: an integer column with a gap would otherwise become float, and
        # the raw value 1 would no longer match the mapping key "1".
        frame = pd.read_csv(path, dtype={label_column: str})
    except pd.errors.EmptyDataError:
        raise InputError(f"{path.name} is empty: it has no header row") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(f"{path.name}: cannot be read as CSV: {str(err).splitlines()[0]}") from None
    # A first column with an empty header is an index that pandas wrote out (DataFrame.to_csv): drop it.
    if len(frame.columns) and str(frame.columns[0]).startswith("Unnamed: 0"):
        frame = frame.drop(columns=frame.columns[0])
    return frame


def check_columns(frame: pd.DataFrame, file_name: str, wanted: dict[str, str]) -> None:
    """``wanted`` maps a column name to the argument it came from, for the error message."""
    for column, argument in wanted.items():
        if column not in frame.columns:
            available = ", ".join(map(str, frame.columns))
            raise InputError(
                f"column {column!r} ({argument}) is not in {file_name}; its columns are: {available}"
            )


# ---------------------------------------------------------------------------------------------- shaping


def label_strings(values: pd.Series, keys: Collection[str]) -> pd.Series:
    """Raw label values as the strings the mapping's keys use: 1, 1.0 and "1" all become "1".

    "1.0" also becomes "1" unless "1.0" itself is a key: an integer column with a gap is written to CSV
    as floats.
    """

    def as_key(value: Any) -> Any:
        if pd.isna(value):
            return pd.NA
        text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value).strip()
        if text not in keys and _INTEGRAL_FLOAT.fullmatch(text):
            text = text.split(".", 1)[0]
        return text

    return values.map(as_key)


def drop_empty(frame: pd.DataFrame, column: str, what: str) -> pd.DataFrame:
    """``frame`` without the rows whose ``column`` is empty (missing or blank); says how many it dropped."""
    values = frame[column]
    keep = values.notna() & (values.astype(str).str.strip() != "")
    dropped = int((~keep).sum())
    if dropped:
        print(f"dropped {dropped} rows with no {what} in {column!r}")
    return frame[keep]


def map_labels(raw: pd.Series, mapping: dict[str, str], label_column: str) -> pd.Series:
    raw = label_strings(raw, mapping.keys())
    unmapped = raw[~raw.isin(list(mapping))].value_counts()
    if not unmapped.empty:
        listed = ", ".join(f"{value!r} ({count} rows)" for value, count in unmapped.items())
        raise InputError(
            f"label column {label_column!r} has values not in --label-mapping: {listed}; "
            f"mapped values are {sorted(mapping)}"
        )
    return raw.map(mapping)


def downsample(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Keep as many examples of every class as the rarest class has."""
    smallest = int(frame["label"].value_counts().min())
    return frame.groupby("label", group_keys=False).sample(n=smallest, random_state=seed)


def stratified_sample(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    if rows >= len(frame):
        return frame
    sample, _ = _stratified_split(frame, train_size=rows, seed=seed, what=f"a --max-rows {rows} sample")
    return sample


def _stratified_split(
    frame: pd.DataFrame, *, train_size: float | int, seed: int, what: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    try:
        first, second = train_test_split(
            frame, train_size=train_size, random_state=seed, shuffle=True, stratify=frame["label"]
        )
    except ValueError as err:
        # sklearn refuses a stratified split when a class has a single example or a part would be empty.
        counts = ", ".join(f"{label}: {n}" for label, n in frame["label"].value_counts().items())
        raise InputError(f"cannot make {what} from {len(frame)} examples ({counts}): {err}") from None
    return first, second


def split(frame: pd.DataFrame, ratios: dict[str, float], seed: int) -> dict[str, pd.DataFrame]:
    """Stratified train/validation/test split: test first, then validation out of the rest."""
    rest, test = _stratified_split(frame, train_size=1 - ratios["test"], seed=seed, what="the test split")
    validation_share = ratios["validation"] / (ratios["train"] + ratios["validation"])
    train, validation = _stratified_split(
        rest, train_size=1 - validation_share, seed=seed, what="the validation split"
    )
    parts = {"train": train, "validation": validation, "test": test}
    for name, part in parts.items():
        if part.empty:
            raise InputError(
                f"the {name} split is empty ({len(frame)} examples); use more data or other ratios"
            )
    return parts


def record_ids(frame: pd.DataFrame, column: str) -> pd.Series:
    """Each row's record identifier: the column of that name when the data has one, else the row's
    position in the file (for the reviews CSV, the index column pandas wrote out). Strings either way."""
    if column not in frame.columns:
        return pd.Series(range(len(frame)), index=frame.index).astype(str)
    ids = frame[column]
    if ids.isna().any():
        raise InputError(f"column {column!r} (--record-identifier) is empty in {int(ids.isna().sum())} rows")
    ids = ids.astype(str)
    duplicated = ids[ids.duplicated()].unique()
    if len(duplicated):
        raise InputError(
            f"column {column!r} (--record-identifier) must identify rows, but repeats {len(duplicated)} "
            f"values, e.g. {duplicated[0]!r}"
        )
    return ids


def build_dataset(frame: pd.DataFrame, args: argparse.Namespace) -> Dataset:
    # Before any row is dropped: a row's position in the file is its identity.
    frame = frame.reset_index(drop=True)
    ids = record_ids(frame, args.record_identifier) if args.feature_group_name else None
    frame = drop_empty(frame, args.text_column, "text")
    if frame.empty:
        raise InputError(f"no rows with text in column {args.text_column!r}")
    # A row without a label is unlabelled data, not a mistake in the mapping: leave it out, like a row
    # without text.
    frame = drop_empty(frame, args.label_column, "label")
    if frame.empty:
        raise InputError(f"no rows with both text and a label in column {args.label_column!r}")
    extra_columns = list(
        dict.fromkeys([*args.facet_columns, *([args.group_column] if args.group_column else [])])
    )
    shaped = pd.DataFrame(
        {
            "text": frame[args.text_column].astype(str),
            "label": map_labels(frame[args.label_column], args.label_mapping, args.label_column),
        }
    )
    present = shaped["label"].value_counts()
    if len(present) < 2:
        # Training would "succeed" on one class and register a model that always answers it.
        counts = ", ".join(f"{label}: {n} rows" for label, n in present.items())
        raise InputError(
            f"the rows with text and a label hold only one class ({counts}); a classifier needs at least 2"
        )
    if ids is not None:
        shaped["record_id"] = ids.loc[shaped.index]
    shaped = pd.concat([shaped, frame[extra_columns]], axis=1)
    if args.balance == "downsample":
        shaped = downsample(shaped, args.seed)
    if args.max_rows:
        shaped = stratified_sample(shaped, args.max_rows, args.seed)
    # Class index order: first appearance among the mapping's values, so it is the same for every run.
    classes = list(dict.fromkeys(args.label_mapping.values()))
    return Dataset(frame=shaped.reset_index(drop=True), classes=classes, extra_columns=extra_columns)


# ---------------------------------------------------------------------------------------------- writing


def clean_text(text: str) -> str:
    """Unescape HTML entities (the source has &#39; and &quot;) and put the text on one line."""
    return " ".join(html.unescape(text).split())


def write_split(
    directory: Path,
    name: str,
    part: pd.DataFrame,
    classes: list[str],
    args: argparse.Namespace,
    tokenizer: Any,
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    # The built-in BlazingText algorithm may take every file in its train/validation channels for
    # training lines, so those folders hold the fastText file alone. The test split is read by
    # evaluate.py, not by the algorithm, and keeps the raw text and class order beside it.
    if args.output_format != "blazingtext" or name == "test":
        (directory / "labels.json").write_text(
            json.dumps({"classes": classes}, indent=2) + "\n", encoding="utf-8"
        )
        part[["text", "label"]].to_csv(directory / f"{name}.csv", index=False)
    if args.output_format == "blazingtext":
        import blazingtext_format  # BlazingText projects only

        blazingtext_format.write_blazingtext(directory / f"{name}.txt", part["text"], part["label"])
        return
    index = {label: i for i, label in enumerate(classes)}
    label_ids = [index[label] for label in part["label"]]
    texts = [clean_text(text) for text in part["text"]]
    if args.output_format == "tfrecord":
        import tfrecord_format  # BERT projects with TensorFlow only: see the end of this file

        tfrecord_format.write_tfrecord(
            directory / f"{name}.tfrecord", texts, label_ids, tokenizer, args.max_seq_length
        )
    else:
        import token_arrays_format  # BERT projects with PyTorch only: see the end of this file

        token_arrays_format.write_token_arrays(
            directory / f"{name}.npz", texts, label_ids, tokenizer, args.max_seq_length
        )


def write_bias_table(directory: Path, dataset: Dataset) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    dataset.frame[["label", *dataset.extra_columns]].to_csv(directory / "bias.csv", index=False)


def print_counts(parts: dict[str, pd.DataFrame], classes: list[str]) -> None:
    for name, part in parts.items():
        counts = part["label"].value_counts()
        per_class = " ".join(f"{label}={int(counts.get(label, 0))}" for label in classes)
        print(f"{name}: {len(part)} examples ({per_class})")


# ---------------------------------------------------------------------------------------------- main


def run(args: argparse.Namespace) -> None:
    path = find_input_file(args.input_dir, args.input_file)
    frame = read_table(path, args.label_column)
    wanted = {args.text_column: "--text-column", args.label_column: "--label-column"}
    wanted |= {column: "--facet-columns" for column in args.facet_columns}
    if args.group_column:
        wanted[args.group_column] = "--group-column"
    check_columns(frame, path.name, wanted)
    print(f"read {len(frame)} rows from {path}")

    dataset = build_dataset(frame, args)
    # Load the tokenizer before writing anything, so a bad --tokenizer fails fast.
    tokenizer = (
        load_tokenizer(args.output_format, args.tokenizer) if args.output_format in TOKEN_FORMATS else None
    )
    ratios = {"train": args.train_ratio, "validation": args.validation_ratio, "test": args.test_ratio}
    parts = split(dataset.frame, ratios, args.seed)
    for name, part in parts.items():
        write_split(args.output_dir / name, name, part, dataset.classes, args, tokenizer)
    write_bias_table(args.output_dir / "bias", dataset)
    print_counts(parts, dataset.classes)
    print(f"wrote {args.output_format} splits and bias/bias.csv to {args.output_dir}")
    if args.feature_group_name:
        store_features(parts, tokenizer, args)


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
