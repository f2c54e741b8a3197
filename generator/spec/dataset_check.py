"""Check a spec against its local dataset: the named columns exist and every label value is mapped.

Cheap enough for `sagespec validate` and `sagespec new` (the csv module, no pandas). An s3:// dataset
is checked when the pipeline's preprocessing step reads it.
"""

from __future__ import annotations

import csv
import sys
from collections import Counter
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
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        wanted = {"dataset.text_column": ds.text_column, "dataset.label_column": ds.label_column}
        wanted |= {f"dataset.facet_columns.{i}": c for i, c in enumerate(ds.facet_columns)}
        missing = {field: column for field, column in wanted.items() if column not in header}
        for field, column in missing.items():
            shown = ", ".join(repr(h) for h in header if h)
            issue(field, f"no column {column!r} in {path.name}; columns: {shown}")
        if "dataset.label_column" not in missing:
            index = header.index(ds.label_column)
            counts = Counter(_number_text(row[index]) for row in reader if len(row) > index)
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
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        indexes = {column: header.index(column) for column in wanted if column in header}
        found: dict[str, set[str]] = {column: set() for column in indexes}
        for row in reader:
            for column, index in indexes.items():
                if index < len(row) and row[index].strip():
                    found[column].add(row[index])
    return {column: sorted(values) for column, values in found.items()}
