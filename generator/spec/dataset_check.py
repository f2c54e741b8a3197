"""Check a spec against its local dataset: the named columns exist and every label value is mapped.

Cheap enough for `sagespec validate` and `sagespec new` (the csv module, no pandas). An s3:// dataset
is checked when the pipeline's preprocessing step reads it.

:func:`dataset_problems` needs only a valid ``dataset`` section, so `sagespec validate` hands it to the
loader, which runs it even when other sections are broken and reports its findings in the same list.
"""

from __future__ import annotations

import csv
import sys
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import Issue, SpecError
from .checks import Finding
from .loader import LoadedSpec, load_spec, locate
from .models import Bias, Spec


def dataset_path(spec: Spec, base_dir: Path) -> Path | None:
    source = spec.dataset.source
    if source.startswith("s3://"):
        return None
    path = Path(source).expanduser()
    return path if path.is_absolute() else base_dir / path


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


def _facet_columns(spec: Spec) -> list[str]:
    bias = getattr(spec, "bias", None)
    # A broken bias section (validation reports it) names no facets to scan.
    return [f.column for f in bias.facets] if isinstance(bias, Bias) and bias.enabled else []


def _scan(spec: Spec, path: Path) -> ColumnScan:
    ds = spec.dataset
    columns = tuple(dict.fromkeys([ds.label_column, *ds.facet_columns, *_facet_columns(spec)]))
    stat = path.stat()
    return scan_csv(path.resolve(), (stat.st_mtime_ns, stat.st_size), columns)


def dataset_problems(spec: Spec, base_dir: Path) -> list[Finding]:
    """What is wrong between ``spec.dataset`` and the local file it names, as (field, message, severity).

    Reads ``spec.dataset`` (and the bias facets when that section is valid) only, so it also runs on a
    spec whose other sections are broken. Relative sources start at ``base_dir`` (the spec's folder).
    """
    path = dataset_path(spec, base_dir)
    if path is None:
        return []
    ds = spec.dataset
    if not path.is_file():
        return [
            ("dataset.source", f"no such file: {path} (relative paths start at the spec's folder)", "error")
        ]
    if ds.format != "csv":
        return []
    problems: list[Finding] = []
    scan = _scan(spec, path)
    header = scan.header
    wanted = {"dataset.text_column": ds.text_column, "dataset.label_column": ds.label_column}
    wanted |= {f"dataset.facet_columns.{i}": c for i, c in enumerate(ds.facet_columns)}
    missing = {field: column for field, column in wanted.items() if column not in header}
    for field, column in missing.items():
        shown = ", ".join(repr(h) for h in header if h)
        problems.append((field, f"no column {column!r} in {path.name}; columns: {shown}", "error"))
    if "dataset.label_column" not in missing:
        counts: Counter[str] = Counter()
        for value, n in scan.counts[ds.label_column].items():
            counts[_number_text(value)] += n
        mapped = {str(k) for k in ds.label_mapping}
        unmapped = {value: n for value, n in counts.items() if value not in mapped}
        if unmapped:
            listed = ", ".join(f"{v!r} ({n} rows)" for v, n in sorted(unmapped.items())[:10])
            problems.append(
                ("dataset.label_mapping", f"label values in {path.name} with no mapping: {listed}", "error")
            )
    return problems


def check_dataset_file(loaded: LoadedSpec) -> None:
    """Raise :class:`SpecError` (with spec positions) when the local dataset does not fit the spec."""
    issues = []
    for field, message, severity in dataset_problems(loaded.spec, loaded.base_dir):
        line, col = locate(loaded, field)
        issues.append(Issue(field, message, loaded.path, line, col, severity))
    if any(i.severity == "error" for i in issues):
        raise SpecError(issues, loaded.path)


def load_spec_with_data(path: str | Path) -> LoadedSpec:
    """:func:`load_spec` with the dataset checked too, all problems in one :class:`SpecError`."""
    return load_spec(path, data_check=dataset_problems)


def facet_values(loaded: LoadedSpec) -> dict[str, list[str]]:
    """Every value of each bias facet that lists none, read from the local dataset.

    The pipeline's Clarify baseline needs one threshold entry per facet value; an s3:// dataset (or a
    non-CSV one) yields nothing here, and the pipeline then warns that those thresholds are unchecked.
    """
    spec = loaded.spec
    wanted = [f.column for f in spec.bias.facets if not f.values] if spec.bias.enabled else []
    path = dataset_path(spec, loaded.base_dir)
    if not wanted or path is None or not path.is_file() or spec.dataset.format != "csv":
        return {}
    scan = _scan(spec, path)
    return {
        column: sorted(value for value in scan.counts[column] if value.strip())
        for column in wanted
        if column in scan.counts
    }
