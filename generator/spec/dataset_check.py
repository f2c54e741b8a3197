"""Check a spec against its local dataset: the named columns exist and every label value is mapped.

Cheap enough for `sagespec validate` and `sagespec new` (the csv module, no pandas). An s3:// dataset
is checked when the pipeline's preprocessing step reads it.
"""

from __future__ import annotations

import csv
import sys
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import Issue, SpecError
from .loader import LoadedSpec, locate


def dataset_path(loaded: LoadedSpec) -> Path | None:
    source = loaded.spec.dataset.source
    if source.startswith("s3://"):
        return None
    path = Path(source).expanduser()
    return path if path.is_absolute() else loaded.base_dir / path


def _number_text(value: str) -> str:
    """'4.0' and '4' name the same label when a CSV column was written as floats."""
    try:
        number = float(value)
    except ValueError:
        return value
    return str(int(number)) if number.is_integer() else value


@dataclass(frozen=True)
class ColumnScan:
    """One pass over a CSV: its header and the distinct values (with counts) of some columns."""

    header: tuple[str, ...]
    counts: dict[str, Counter[str]]


@lru_cache(maxsize=8)
def scan_csv(path: Path, stamp: tuple[int, int], columns: tuple[str, ...]) -> ColumnScan:
    """Read ``path`` once for every column asked about. ``stamp`` (mtime, size) keys the cache, so
    `sagespec new` checks the data and lists facet values in a single pass."""
    del stamp  # part of the cache key only
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = tuple(next(reader, []))
        indexes = {column: header.index(column) for column in columns if column in header}
        counts: dict[str, Counter[str]] = {column: Counter() for column in indexes}
        for row in reader:
            for column, index in indexes.items():
                if index < len(row):
                    counts[column][row[index]] += 1
    return ColumnScan(header, counts)


def _scan(loaded: LoadedSpec, path: Path) -> ColumnScan:
    ds = loaded.spec.dataset
    facets = [f.column for f in loaded.spec.bias.facets] if loaded.spec.bias.enabled else []
    columns = tuple(dict.fromkeys([ds.label_column, *ds.facet_columns, *facets]))
    stat = path.stat()
    return scan_csv(path.resolve(), (stat.st_mtime_ns, stat.st_size), columns)


def check_dataset_file(loaded: LoadedSpec) -> None:
    """Raise :class:`SpecError` (with spec positions) when the local dataset does not fit the spec."""
    path = dataset_path(loaded)
    if path is None:
        return
    ds = loaded.spec.dataset
    issues: list[Issue] = []

    def issue(field: str, message: str) -> None:
        line, col = locate(loaded, field)
        issues.append(Issue(field, message, loaded.path, line, col))

    if not path.is_file():
        issue("dataset.source", f"no such file: {path} (relative paths start at the spec's folder)")
        raise SpecError(issues, loaded.path)
    if ds.format != "csv":
        return
    scan = _scan(loaded, path)
    header = scan.header
    wanted = {"dataset.text_column": ds.text_column, "dataset.label_column": ds.label_column}
    wanted |= {f"dataset.facet_columns.{i}": c for i, c in enumerate(ds.facet_columns)}
    missing = {field: column for field, column in wanted.items() if column not in header}
    for field, column in missing.items():
        shown = ", ".join(repr(h) for h in header if h)
        issue(field, f"no column {column!r} in {path.name}; columns: {shown}")
    if "dataset.label_column" not in missing:
        counts: Counter[str] = Counter()
        for value, n in scan.counts[ds.label_column].items():
            counts[_number_text(value)] += n
        mapped = {str(k) for k in ds.label_mapping}
        unmapped = {value: n for value, n in counts.items() if value not in mapped}
        if unmapped:
            listed = ", ".join(f"{v!r} ({n} rows)" for v, n in sorted(unmapped.items())[:10])
            issue("dataset.label_mapping", f"label values in {path.name} with no mapping: {listed}")
    if issues:
        raise SpecError(issues, loaded.path)


def facet_values(loaded: LoadedSpec) -> dict[str, list[str]]:
    """Every value of each bias facet that lists none, read from the local dataset.

    The pipeline's Clarify baseline needs one threshold entry per facet value; an s3:// dataset (or a
    non-CSV one) yields nothing here, and the pipeline then warns that those thresholds are unchecked.
    """
    wanted = [f.column for f in loaded.spec.bias.facets if not f.values] if loaded.spec.bias.enabled else []
    path = dataset_path(loaded)
    if not wanted or path is None or not path.is_file() or loaded.spec.dataset.format != "csv":
        return {}
    scan = _scan(loaded, path)
    return {
        column: sorted(value for value in scan.counts[column] if value.strip())
        for column in wanted
        if column in scan.counts
    }
