"""Check a spec against its local dataset: the named columns exist, every label value is mapped, and
what preprocessing keeps (rows with a text and a label) holds at least two classes.

Cheap enough for `sagespec validate` and `sagespec new` (the csv module, no pandas). An s3:// dataset
is checked when the pipeline's preprocessing step reads it. Messages describe the file, they do not
quote it: a source that is no CSV (a binary, ``/proc/self/environ``) is not echoed back.

:func:`dataset_problems` needs only a valid ``dataset`` section, so `sagespec validate` hands it to the
loader, which runs it even when other sections are broken and reports its findings in the same list.
"""

from __future__ import annotations

import csv
import re
import sys
from collections import Counter
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import Issue, SpecError, shown_name
from .findings import Finding
from .loader import LoadedSpec, load_spec, locate
from .models import Bias, Dataset, Spec

# The strings pandas reads as missing (read_csv's default na_values). prepare.py drops a row whose text
# is one of these or blank, and a row whose label is blank or one of these that the label mapping does not
# name (a raw label "NA" the spec maps is data).
MISSING_VALUES = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>",
     "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
)  # fmt: skip
_INTEGRAL_FLOAT = re.compile(r"-?\d+\.0+")  # prepare.py's own
MAX_COLUMNS_SHOWN = 20
MAX_VALUE_SHOWN = 40  # characters of a column name or label value quoted in a message


class UnreadableData(Exception):
    """The dataset is not UTF-8 CSV text; the message says why and where, without quoting the file."""


def dataset_path(spec: Spec, base_dir: Path) -> Path | None:
    source = spec.dataset.source
    if source.startswith("s3://"):
        return None
    path = Path(source).expanduser()
    return path if path.is_absolute() else base_dir / path


def _is_missing(value: str, data: Collection[str] = ()) -> bool:
    """Whether prepare.py reads ``value`` as no value; ``data``: the strings that are values here."""
    return (value in MISSING_VALUES and value not in data) or not value.strip()


def _label_key(value: str, keys: Collection[str]) -> str:
    """The mapping key a raw label names, as prepare.py's label_strings reads it: stripped, and "4.0" is
    "4" (an integer column with a gap is written as floats) unless "4.0" itself is a key."""
    text = value.strip()
    if text not in keys and _INTEGRAL_FLOAT.fullmatch(text):
        return text.split(".", 1)[0]
    return text


def _cut(value: str) -> str:
    return shown_name(value, MAX_VALUE_SHOWN)


def _quoted(names: Iterable[str]) -> str:
    """Column names for a message: the first few, each cut short."""
    shown = [repr(_cut(name)) for name in names if name]
    more = len(shown) - MAX_COLUMNS_SHOWN
    return ", ".join(shown[:MAX_COLUMNS_SHOWN]) + (f" and {more} more" if more > 0 else "")


@dataclass(frozen=True)
class ColumnScan:
    """One pass over a CSV: its header, the distinct values (with counts) of some columns, and the
    label values of the rows that have a text and a label that is not blank: what preprocessing keeps,
    unless the label is one of pandas' missing values that the mapping does not name."""

    header: tuple[str, ...]
    counts: dict[str, Counter[str]]
    labelled: Counter[str]


def _text_lines(handle: Iterable[str]) -> Iterator[str]:
    """The file's lines; a NUL character means it is no text file."""
    for number, line in enumerate(handle, start=1):
        if "\0" in line:
            raise UnreadableData(f"line {number} holds a NUL character: not a CSV text file")
        yield line


def not_utf8_at(lines: Iterable[bytes]) -> str | None:
    """Where ``lines`` (a file's, in order) first hold a byte that is no UTF-8: "line N, column C is not
    UTF-8 text (byte 0xXX)"; None when there is none."""
    for number, raw in enumerate(lines, start=1):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as err:
            column = len(raw[: err.start].decode("utf-8")) + 1
            return f"line {number}, column {column} is not UTF-8 text (byte 0x{raw[err.start]:02x})"
    return None


def _not_utf8(path: Path) -> UnreadableData:
    """Where the file stops being UTF-8 (the text reader decodes in chunks, so it cannot say)."""
    with path.open("rb") as handle:
        return UnreadableData(not_utf8_at(handle) or "it is not UTF-8 text")


@lru_cache(maxsize=8)
def scan_csv(
    path: Path, stamp: tuple[int, int], columns: tuple[str, ...], text_column: str, label_column: str
) -> ColumnScan:
    """Read ``path`` once for every column asked about. ``stamp`` (mtime, size) keys the cache, so
    `sagespec new` checks the data and lists facet values in a single pass. Raises
    :class:`UnreadableData` when the file is not UTF-8 CSV text."""
    del stamp  # part of the cache key only
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(_text_lines(handle))
        try:
            header = tuple(next(reader, []))
            indexes = {column: header.index(column) for column in columns if column in header}
            counts: dict[str, Counter[str]] = {column: Counter() for column in indexes}
            labelled: Counter[str] = Counter()
            # Where the text and the label are, when both columns exist.
            pair = None
            if text_column in header and label_column in header:
                pair = (header.index(text_column), header.index(label_column))
            for row in reader:
                for column, index in indexes.items():
                    if index < len(row):
                        counts[column][row[index]] += 1
                if pair and max(pair) < len(row):
                    text, label = row[pair[0]], row[pair[1]]
                    if not _is_missing(text) and label.strip():
                        labelled[label] += 1
        except UnicodeDecodeError:
            raise _not_utf8(path) from None
        except csv.Error as err:
            raise UnreadableData(f"line {reader.line_num + 1} cannot be read as CSV: {err}") from None
    return ColumnScan(header, counts, labelled)


def _facet_columns(spec: Spec) -> list[str]:
    bias = getattr(spec, "bias", None)
    # A broken bias section (validation reports it) names no facets to scan.
    return [f.column for f in bias.facets] if isinstance(bias, Bias) and bias.enabled else []


def _scan(spec: Spec, path: Path) -> ColumnScan:
    ds = spec.dataset
    columns = tuple(dict.fromkeys([ds.label_column, *ds.facet_columns, *_facet_columns(spec)]))
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    return scan_csv(path.resolve(), stamp, columns, ds.text_column, ds.label_column)


def dataset_problems(spec: Spec, base_dir: Path) -> list[Finding]:
    """What is wrong between ``spec.dataset`` and the local file it names, as (field, message, severity).

    Reads ``spec.dataset`` (and the bias facets when that section is valid) only, so it also runs on a
    spec whose other sections are broken. Relative sources start at ``base_dir`` (the spec's folder).
    """
    path = dataset_path(spec, base_dir)
    if path is None:
        return []
    ds = spec.dataset
    try:
        if not path.exists():
            return [
                _error("dataset.source", f"no such file: {path} (relative paths start at the spec's folder)")
            ]
        if not path.is_file():
            return [_error("dataset.source", f"{path} is not a regular file (a folder, a device, a pipe?)")]
        if ds.format != "csv":
            return []
        scan = _scan(spec, path)
    except UnreadableData as err:
        return [_error("dataset.source", f"{path.name}: {err}")]
    except OSError as err:
        # A name too long, a folder without permission, an I/O error: the system's word for it.
        return [_error("dataset.source", f"cannot read {_cut(str(path))}: {err.strerror or err}")]
    if not scan.header:
        return [_error("dataset.source", f"{path.name} is empty: it has no header row")]
    wanted = {"dataset.text_column": ds.text_column, "dataset.label_column": ds.label_column}
    wanted |= {f"dataset.facet_columns.{i}": c for i, c in enumerate(ds.facet_columns)}
    missing = {field: column for field, column in wanted.items() if column not in scan.header}
    if len(scan.header) < 2:
        # Text and label need two columns: this is no CSV with a header (a credentials or .env file?),
        # so its first line is not quoted back.
        columns = f"its first line is no header of named columns (1 field, {len(scan.header[0])} characters)"
    else:
        columns = f"columns: {_quoted(scan.header)}"
    problems = [
        _error(field, f"no column {column!r} in {path.name}; {columns}") for field, column in missing.items()
    ]
    for field, column in wanted.items():
        places = [str(number) for number, name in enumerate(scan.header, start=1) if name == column]
        if len(places) > 1:  # preprocessing would read the first and ignore the others
            problems.append(
                _error(
                    field,
                    f"column {_cut(column)!r} is in the header of {path.name} {len(places)} times "
                    f"(columns {', '.join(places)}): rename all but the one to read",
                )
            )
    if "dataset.label_column" not in missing:
        problems += _label_problems(ds, path.name, scan, rows_known="dataset.text_column" not in missing)
    return problems


def _error(field: str, message: str) -> Finding:
    return (field, message, "error")


def _label_problems(ds: Dataset, file_name: str, scan: ColumnScan, *, rows_known: bool) -> list[Finding]:
    """Unmapped label values (an empty label is none: preprocessing drops its row, as it drops a row
    without text), then whether the rows with a text and a label hold at least two classes."""
    mapping = {str(raw): str(label) for raw, label in ds.label_mapping.items()}
    counts: Counter[str] = Counter()
    for value, n in scan.counts[ds.label_column].items():
        if not _is_missing(value, data=mapping):
            counts[_label_key(value, mapping)] += n
    unmapped = {value: n for value, n in counts.items() if value not in mapping}
    if unmapped:
        listed = ", ".join(f"{_cut(v)!r} ({n} rows)" for v, n in sorted(unmapped.items())[:10])
        return [_error("dataset.label_mapping", f"label values in {file_name} with no mapping: {listed}")]
    if not rows_known:
        return []
    classes: Counter[str] = Counter()
    for value, n in scan.labelled.items():
        if not _is_missing(value, data=mapping):
            classes[mapping[_label_key(value, mapping)]] += n
    if not classes:
        return [
            _error(
                "dataset.source",
                f"{file_name} has no rows with both a text in {ds.text_column!r} and a label in "
                f"{ds.label_column!r}: nothing to train on",
            )
        ]
    if len(classes) < 2:
        ((label, n),) = classes.items()
        return [
            _error(
                "dataset.label_mapping",
                f"the rows of {file_name} with a text and a label hold one class only ({label}: {n} rows); "
                "a classifier needs at least 2",
            )
        ]
    return []


def check_dataset_file(loaded: LoadedSpec) -> None:
    """Raise :class:`SpecError` (with spec positions) when the local dataset does not fit the spec."""
    issues = []
    for field, message, severity in dataset_problems(loaded.spec, loaded.base_dir):
        line, col = locate(loaded, field)
        issues.append(Issue(field, message, loaded.path, line, col, severity))
    if any(i.severity == "error" for i in issues):
        raise SpecError(issues, loaded.path)


def load_spec_with_data(path: str | Path) -> LoadedSpec:
    """:func:`load_spec` with the dataset checked too, every problem in one :class:`SpecError`."""
    return load_spec(path, data_check=dataset_problems)


def facet_values(loaded: LoadedSpec) -> dict[str, list[str]]:
    """Every value of each bias facet that lists none, read from the local dataset.

    The pipeline's Clarify baseline needs one threshold entry per facet value; an s3:// dataset (or a
    non-CSV one) yields nothing here, and the pipeline then warns that those thresholds are unchecked.
    """
    spec = loaded.spec
    wanted = [f.column for f in spec.bias.facets if not f.values] if spec.bias.enabled else []
    path = dataset_path(spec, loaded.base_dir)
    if not wanted or path is None or spec.dataset.format != "csv":
        return {}
    try:
        if not path.is_file():
            return {}
        scan = _scan(spec, path)
    except (UnreadableData, OSError):
        return {}  # validation reports it, and so does rendering, which copies the file
    # Blank values and the strings prepare.py reads as missing are no facet value: those rows have none.
    return {
        column: sorted(v for v in scan.counts[column] if v.strip() and v not in MISSING_VALUES)
        for column in wanted
        if column in scan.counts
    }
