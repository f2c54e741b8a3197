"""Template context for data exploration (``explore/``) and the Feature Store helper (``features/``).

The exploration queries are SQL files that run unchanged on Athena (Trino) and on DuckDB, so every spec
string that reaches them is made SQL here: column names become double-quoted identifiers (a ``"`` inside
doubled), label values become single-quoted string literals (a ``'`` inside doubled). Both engines read
both forms the same way.
"""

from __future__ import annotations

from typing import Any

from ..plan import LOCAL_OFFLINE_STORE_DIR
from ..spec.models import Spec

# The table (Glue) or view (DuckDB) the queries read.
EXPLORE_TABLE = "raw_data"
# Review length histogram bucket width, in characters.
LENGTH_BUCKET = 50
# Facet values with fewer rows are left out of the negative-share ranking: a share of 1 out of 1 says little.
MIN_FACET_ROWS = 30
TOP_FACET_VALUES = 10


def sql_identifier(name: str) -> str:
    """A double-quoted SQL identifier (Trino/Athena and DuckDB alike)."""
    return '"' + name.replace('"', '""') + '"'


def sql_string(value: object) -> str:
    """A single-quoted SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def _is_number(value: object) -> bool:
    try:
        float(str(value))
    except ValueError:
        return False
    return True


def negative_labels(spec: Spec) -> list[str]:
    """The class labels that count as negative: the lowest one when every class is a number (sentiment
    scales like -1/0/1, 0/1 or 1..5), else the classes that bias.positive_labels does not name."""
    classes = spec.dataset.classes
    if all(_is_number(c) for c in classes):
        return [str(min(classes, key=lambda c: float(str(c))))]
    positive = {str(v) for v in spec.bias.positive_labels}
    if not positive:
        return []
    return [str(c) for c in classes if str(c) not in positive]


def glue_database(spec: Spec) -> str:
    """Glue database names are lower-case letters, digits and underscores: the package name is one."""
    return f"{spec.project.package}_explore"


def explore_context(spec: Spec) -> dict[str, Any]:
    ds = spec.dataset
    negatives = negative_labels(spec)
    mapping = {str(raw): str(label) for raw, label in ds.label_mapping.items()}
    return {
        "explore_table": EXPLORE_TABLE,
        "explore_glue_database": glue_database(spec),
        "explore_text_sql": sql_identifier(ds.text_column),
        "explore_label_sql": sql_identifier(ds.label_column),
        "explore_label_mapping": mapping,
        # (raw value, class label) as SQL string literals: the CASE that maps raw labels to classes.
        "explore_label_cases": [(sql_string(raw), sql_string(label)) for raw, label in mapping.items()],
        # (name as a string literal, name as an identifier) per facet column.
        "explore_facets": [(sql_string(c), sql_identifier(c)) for c in ds.facet_columns],
        "explore_negative_labels": negatives,
        "explore_negative_labels_sql": ", ".join(sql_string(v) for v in negatives),
        "explore_length_bucket": LENGTH_BUCKET,
        "explore_min_facet_rows": MIN_FACET_ROWS,
        "explore_top_facet_values": TOP_FACET_VALUES,
    }


def feature_store_context(spec: Spec) -> dict[str, Any]:
    fs = spec.feature_store if spec.feature_store_enabled else None
    return {
        "feature_store_enabled": fs is not None,
        "feature_group_name": spec.feature_group_name if fs else None,
        "feature_record_identifier": fs.record_identifier if fs else None,
        "feature_event_time": fs.event_time if fs else None,
        "feature_offline_store_s3_uri": fs.offline_store_s3_uri if fs else None,
        "feature_online_store": fs.online if fs else False,
        # Where a local run's PreprocessData step folder holds its offline store (the runner maps
        # /opt/ml/<path> to <run>/<step>/<path>).
        "feature_local_store": "PreprocessData/" + LOCAL_OFFLINE_STORE_DIR.removeprefix("/opt/ml/"),
    }
