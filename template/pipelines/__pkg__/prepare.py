"""Read the labelled text files, keep the rows a classifier can learn from, and key each one for the split.

The pipeline's first step (PrepareData), run as a SageMaker Processing job and unchanged on a laptop
through the local runner:

    input-dir/**/<file>.csv|.parquet                 the raw data, one file or many
        -> output-dir/rows/<file>-<chunk>.parquet    text, label (class label), key, [record_id],
                                                     facet and group columns
           output-dir/counts/<file>.json             every class's row count per key bucket

Each file is read in chunks of --chunk-rows rows, so memory stays bounded by the chunk, not the file. With
N processing instances, SageMaker hands each one its share of the files (ShardedByS3Key): the outputs are
named after the input files, never after the instance, so they are the same for any instance count.

A row's key is a seeded 64-bit hash of its text. The next step (preprocess.py) balances and splits the
data by the keys: it sums the small count files into per-class histograms of the keys, picks per-class
key thresholds from them and then needs no other global fact, so each of its instances can work on its own
share of the row parts. Equal texts get equal keys, so a review repeated with the same class never lands
in two splits.

A bad input (missing column, unmapped label value, unreadable file...) ends the job with exit status 2 and
a one-line message on stderr, so the pipeline's failure reason says what to fix.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import sys
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd

try:
    import tracking  # MLflow logging, beside this script when the spec tracks experiments
except ModuleNotFoundError:
    tracking = None

DATA_SUFFIXES = (".csv", ".parquet")
CHUNK_ROWS = 25_000  # bounds the memory of a step: about 0.3 GB at 25,000 reviews, whatever the file size
# The key's top KEY_BUCKET_BITS bits are its bucket: preprocess.py picks thresholds at bucket borders, so a
# split's size is exact up to one bucket's rows (1/65,536 of a class).
KEY_BUCKET_BITS = 16
KEY_COLUMNS = ("text", "label", "key")

_INTEGRAL_FLOAT = re.compile(r"-?\d+\.0+")
# The strings read_csv reads as missing by default (pandas' STR_NA_VALUES). A CSV field that is one of
# these, or blank, is no value, except in the label column where the label mapping names it: a class
# raw-labelled "NA" or "None" is data.
MISSING_VALUES = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>",
     "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
)  # fmt: skip


class InputError(Exception):
    """A problem with the input data or arguments that the user has to fix (exit status 2)."""


class OneLineErrorParser(argparse.ArgumentParser):
    """Argument errors as one line on stderr (what the job's failure reason shows), without the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def json_arg(kind: type, what: str) -> Callable[[str], Any]:
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


def positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return number


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = OneLineErrorParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--input-dir", type=Path, default=Path("/opt/ml/processing/input/data"))
    parser.add_argument(
        "--input-file", help="read only this file of --input-dir (default: every .csv/.parquet)"
    )
    parser.add_argument("--output-dir", type=Path, default=Path("/opt/ml/processing/output"))
    parser.add_argument("--text-column", required=True)
    parser.add_argument("--label-column", required=True)
    parser.add_argument(
        "--label-mapping",
        required=True,
        type=json_arg(dict, "object"),
        help='JSON object, raw label value -> class label, e.g. \'{"1": "neg", "5": "pos"}\'',
    )
    parser.add_argument("--facet-columns", type=json_arg(list, "list"), default=[], help="JSON list")
    parser.add_argument("--group-column", default=None)
    parser.add_argument("--seed", type=int, default=42, help="seeds the row keys, and so the split")
    parser.add_argument(
        "--record-identifier",
        help="keep this column as record_id (a feature store's record identifier); "
        "without such a column, a row's id is <file name without suffix>:<row number>",
    )
    parser.add_argument("--chunk-rows", type=positive_int, default=CHUNK_ROWS, help="rows read at a time")
    args = parser.parse_args(argv)
    # Compare labels as strings: JSON keys always are, and the values may have been given as numbers.
    args.label_mapping = {str(raw): str(label) for raw, label in args.label_mapping.items()}
    if len(set(args.label_mapping.values())) < 2:
        parser.error("--label-mapping must map to at least 2 distinct class labels")
    args.facet_columns = [str(column) for column in args.facet_columns]
    return args


def class_order(mapping: dict[str, str]) -> list[str]:
    """Class index order: first appearance among the mapping's values, the same for every run."""
    return list(dict.fromkeys(mapping.values()))


# ---------------------------------------------------------------------------------------------- reading


def input_files(input_dir: Path, name: str | None) -> list[Path]:
    """The data files to read: --input-file, else every .csv/.parquet file under --input-dir (none when
    SageMaker gave this instance no share: more instances than files)."""
    if name:
        path = input_dir / name
        if not path.is_file():
            raise InputError(f"input file {path} does not exist")
        return [path]
    if not input_dir.is_dir():
        return []
    return sorted(p for p in input_dir.rglob("*") if p.is_file() and p.suffix.lower() in DATA_SUFFIXES)


def read_chunks(
    path: Path,
    text_columns: Collection[str],
    chunk_rows: int,
    values: Mapping[str, Collection[str]] | None = None,
) -> Iterator[pd.DataFrame]:
    """The file's rows, ``chunk_rows`` at a time; of a CSV, only ``text_columns``, read as text.

    ``values``: per column, strings that are data there although pandas reads them as missing.
    """
    if path.suffix.lower() == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
                yield batch.to_pandas()
        except (pa.ArrowException, OSError) as err:
            raise InputError(f"{path.name}: cannot be read as Parquet: {str(err).splitlines()[0]}") from None
        return
    try:
        # Read the columns used as text: pandas guesses each chunk's types on its own, so an integer
        # column with a gap could be 30.0 in one chunk and 30 in the next (and the label 1 would no longer
        # match the mapping key "1"). Only those columns are parsed (a quarter less time on the reviews
        # file); columns not in the file are ignored, and check_columns names them. index_col=False: rows
        # with more fields than the header (a trailing comma on each line) keep their columns in place,
        # instead of pandas taking their first fields as an index and shifting every column by one.
        kept = values or {}
        reader = pd.read_csv(
            path,
            dtype=dict.fromkeys(text_columns, str),
            usecols=lambda column: column in text_columns,
            index_col=False,
            keep_default_na=False,
            na_values={column: MISSING_VALUES - set(kept.get(column, ())) for column in text_columns},
            chunksize=chunk_rows,
        )
        for frame in reader:
            # A first column with an empty header is an index that pandas wrote out (to_csv): drop it.
            if len(frame.columns) and str(frame.columns[0]).startswith("Unnamed: 0"):
                frame = frame.drop(columns=frame.columns[0])
            yield frame
    except pd.errors.EmptyDataError:
        raise InputError(f"{path.name} is empty: it has no header row") from None
    except UnicodeDecodeError:
        raise InputError(f"{path.name}: {not_utf8(path)}") from None
    except pd.errors.ParserError as err:
        raise InputError(f"{path.name}: cannot be read as CSV: {str(err).splitlines()[0]}") from None


def not_utf8(path: Path) -> str:
    """Where the file stops being UTF-8 text: pandas decodes it in blocks, and its error gives an offset
    into one block, which names no place in the file."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as err:
                column = len(line[: err.start].decode("utf-8")) + 1
                return (
                    f"line {number}, column {column} is not UTF-8 text (byte 0x{line[err.start]:02x}); "
                    "save the file as UTF-8"
                )
    return "it is not UTF-8 text; save the file as UTF-8"


def file_columns(path: Path) -> list[str]:
    """Every column of the file, as read_chunks names them (without an index column pandas wrote out)."""
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        return list(pq.ParquetFile(path).schema_arrow.names)
    columns = [str(column) for column in pd.read_csv(path, nrows=0).columns]
    return columns[1:] if columns and columns[0].startswith("Unnamed: 0") else columns


def check_columns(frame: pd.DataFrame, path: Path, wanted: dict[str, str]) -> None:
    """``wanted`` maps a column name to the argument it came from, for the error message."""
    for column, argument in wanted.items():
        if column not in frame.columns:
            available = ", ".join(file_columns(path))
            raise InputError(
                f"column {column!r} ({argument}) is not in {path.name}; its columns are: {available}"
            )
    if path.suffix.lower() != ".csv":
        return
    # pandas renames a repeated column ("label", "label.1") and reads the first: say so instead.
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), [])
    except (UnicodeDecodeError, csv.Error):
        return  # reading the rows reports it
    for column, argument in wanted.items():
        places = [str(number) for number, name in enumerate(header, start=1) if name == column]
        if len(places) > 1:
            raise InputError(
                f"column {column!r} ({argument}) is in the header of {path.name} {len(places)} times "
                f"(columns {', '.join(places)}): rename all but the one to read"
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

    # Each distinct value once: a label column holds a handful of them, over millions of rows.
    keys = {value: as_key(value) for value in values.dropna().unique()}
    return values.map(keys)


def present(values: pd.Series) -> pd.Series:
    """True where a value is there: not missing, not blank."""
    return values.notna() & (values.astype(str).str.strip() != "")


def map_labels(raw: pd.Series, mapping: dict[str, str], label_column: str, file_name: str) -> pd.Series:
    raw = label_strings(raw, mapping.keys())
    unmapped = raw[~raw.isin(list(mapping))].value_counts()
    if not unmapped.empty:
        listed = ", ".join(f"{value!r} ({count} rows)" for value, count in unmapped.items())
        raise InputError(
            f"label column {label_column!r} of {file_name} has values not in --label-mapping: {listed}; "
            f"mapped values are {sorted(mapping)}"
        )
    return raw.map(mapping)


def row_keys(texts: pd.Series, seed: int) -> np.ndarray:
    """Each text's 64-bit key: a hash of the text under a key derived from the seed (uint64)."""
    hash_key = hashlib.blake2b(
        str(seed).encode(), digest_size=8
    ).hexdigest()  # 16 characters, as pandas wants
    return pd.util.hash_pandas_object(texts, index=False, hash_key=hash_key).to_numpy(dtype=np.uint64)


def key_buckets(keys: np.ndarray) -> np.ndarray:
    return (keys >> np.uint64(64 - KEY_BUCKET_BITS)).astype(np.int64)


def record_ids(frame: pd.DataFrame, column: str, source: str, first_row: int) -> pd.Series:
    """Each row's record identifier: the column of that name when the data has one, else
    ``<source>:<row number>``, ``source`` unique among the input's files (for the reviews CSV, the row
    number is the index column pandas wrote out)."""
    if column not in frame.columns:
        rows = pd.RangeIndex(first_row, first_row + len(frame)).astype(str)
        return pd.Series(source + ":" + rows, index=frame.index)
    ids = frame[column]
    if ids.isna().any():
        raise InputError(
            f"column {column!r} (--record-identifier) of {source} is empty in {int(ids.isna().sum())} rows"
        )
    return ids.astype(str)


class FilePreparer:
    """Turns one input file, chunk by chunk, into row parts and the count of its classes per key bucket."""

    def __init__(self, path: Path, name: str, args: argparse.Namespace, written: list[Path]):
        self.path, self.name, self.args = path, name, args
        self.written = written  # every file this run wrote, removed again if a later file is bad
        self.classes = class_order(args.label_mapping)
        self.extra_columns = list(
            dict.fromkeys([*args.facet_columns, *([args.group_column] if args.group_column else [])])
        )
        self.histogram = np.zeros((len(self.classes), 1 << KEY_BUCKET_BITS), dtype=np.int64)
        self.read = 0
        self.dropped = {"text": 0, "label": 0}
        self.seen_ids: set[str] = set()

    def wanted_columns(self) -> dict[str, str]:
        args = self.args
        wanted = {args.text_column: "--text-column", args.label_column: "--label-column"}
        wanted |= {column: "--facet-columns" for column in args.facet_columns}
        if args.group_column:
            wanted[args.group_column] = "--group-column"
        return wanted

    def shape(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The chunk's labelled rows: text, label, key, [record_id], then the facet and group columns."""
        args = self.args
        first_row = self.read
        self.read += len(frame)
        ids = (
            record_ids(frame, args.record_identifier, self.name, first_row)
            if args.record_identifier
            else None
        )
        # A row without a label is unlabelled data, not a mistake in the mapping: leave it out, like a row
        # without text.
        has_text = present(frame[args.text_column])
        has_label = present(frame[args.label_column])
        self.dropped["text"] += int((~has_text).sum())
        self.dropped["label"] += int((has_text & ~has_label).sum())
        frame = frame[has_text & has_label]
        texts = frame[args.text_column].astype(str)
        shaped = pd.DataFrame(
            {
                "text": texts,
                "label": map_labels(
                    frame[args.label_column], args.label_mapping, args.label_column, self.path.name
                ),
                "key": row_keys(texts, args.seed),
            }
        )
        if ids is not None:
            shaped["record_id"] = ids.loc[shaped.index]
            self._check_unique(shaped["record_id"])
        return pd.concat([shaped, frame[self.extra_columns]], axis=1).reset_index(drop=True)

    def _check_unique(self, ids: pd.Series) -> None:
        repeated = ids[ids.duplicated() | ids.isin(self.seen_ids)]
        if len(repeated):
            raise InputError(
                f"column {self.args.record_identifier!r} (--record-identifier) must identify rows, but "
                f"{self.path.name} repeats {repeated.iloc[0]!r}"
            )
        self.seen_ids.update(ids)

    def count(self, rows: pd.DataFrame) -> None:
        buckets = key_buckets(rows["key"].to_numpy(dtype=np.uint64))
        for index, label in enumerate(self.classes):
            mine = buckets[(rows["label"] == label).to_numpy()]
            self.histogram[index] += np.bincount(mine, minlength=self.histogram.shape[1])

    def run(self, rows_dir: Path, counts_dir: Path) -> int:
        kept = 0
        as_text = [
            *self.wanted_columns(),
            *([self.args.record_identifier] if self.args.record_identifier else []),
        ]
        # A label value the mapping names is data, even "NA" or "None".
        values = {self.args.label_column: self.args.label_mapping.keys()}
        chunks = read_chunks(self.path, as_text, self.args.chunk_rows, values)
        for number, frame in enumerate(chunks):
            if number == 0:
                check_columns(frame, self.path, self.wanted_columns())
            rows = self.shape(frame)
            if rows.empty:
                continue
            self.count(rows)
            part = rows_dir / f"{self.name}-{number:05d}.parquet"
            self.written.append(part)
            rows.to_parquet(part, index=False)
            kept += len(rows)
        self.write_counts(counts_dir / f"{self.name}.json")
        for what, column in (("text", self.args.text_column), ("label", self.args.label_column)):
            if self.dropped[what]:
                print(f"dropped {self.dropped[what]} rows with no {what} in {column!r}")
        return kept

    def write_counts(self, path: Path) -> None:
        self.written.append(path)
        # Sparse: a class's non-empty buckets and their row counts.
        histogram = {
            label: [[int(b), int(self.histogram[i, b])] for b in np.flatnonzero(self.histogram[i])]
            for i, label in enumerate(self.classes)
        }
        counts = {
            "source": self.path.name,
            "classes": self.classes,
            "extra_columns": self.extra_columns,
            "key_bucket_bits": KEY_BUCKET_BITS,
            "rows_read": self.read,
            "dropped": self.dropped,
            "histogram": histogram,
        }
        path.write_text(json.dumps(counts, separators=(",", ":")) + "\n", encoding="utf-8")


def part_name(path: Path, input_dir: Path) -> str:
    """A name for the file's outputs, unique among the input's files: its path under the input folder."""
    return path.relative_to(input_dir).with_suffix("").as_posix().replace("/", "__")


def run(args: argparse.Namespace) -> None:
    files = input_files(args.input_dir, args.input_file)
    if not files:
        # Not an error here: with more instances than files, SageMaker gives some instances none.
        # preprocess.py fails if no instance found any (it has no counts then).
        print(f"no .csv or .parquet file in {args.input_dir}: nothing to prepare on this instance")
        return
    names = [part_name(path, args.input_dir) for path in files]
    if len(set(names)) < len(names):
        repeated = next(name for name in names if names.count(name) > 1)
        raise InputError(
            f"two input files in {args.input_dir} are both named {repeated} (.csv and .parquet?)"
        )
    rows_dir, counts_dir = args.output_dir / "rows", args.output_dir / "counts"
    made = [d for d in (args.output_dir, rows_dir, counts_dir) if not d.exists()]
    written: list[Path] = []
    totals = {"rows_read": 0, "rows_kept": 0}
    try:
        for path, name in zip(files, names, strict=True):
            rows_dir.mkdir(parents=True, exist_ok=True)
            counts_dir.mkdir(parents=True, exist_ok=True)
            preparer = FilePreparer(path, name, args, written)
            kept = preparer.run(rows_dir, counts_dir)
            print(f"read {preparer.read} rows from {path}; kept {kept} with text and a label")
            totals["rows_read"] += preparer.read
            totals["rows_kept"] += kept
    except InputError:
        # Nothing half-written: a bad file anywhere leaves no parts of the good ones behind.
        for path in written:
            path.unlink(missing_ok=True)
        for directory in reversed(made):
            if directory.is_dir() and not any(directory.iterdir()):
                directory.rmdir()
        raise
    if tracking:
        tracking.log_step("PrepareData", params=vars(args), metrics={**totals, "files": len(files)})


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        run(args)
    except InputError as err:
        print(f"prepare.py: error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
