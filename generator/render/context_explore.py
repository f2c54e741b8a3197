"""Template context for data exploration (``explore/``) and the Feature Store helper (``features/``).

The exploration queries are SQL files that run unchanged on Athena (Trino) and on DuckDB, so every spec
string that reaches them is made SQL here: column names become double-quoted identifiers (a ``"`` inside
doubled), label values become single-quoted string literals (a ``'`` inside doubled). Both engines read
both forms the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..plan import LOCAL_OFFLINE_STORE_DIR, PREPROCESS_STEP
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


@dataclass(frozen=True)
class ExploreGroup:
    """``explore.*``: the exploration queries (explore/), spec strings already made SQL."""

    table: str
    glue_database: str
    text_sql: str
    label_sql: str
    label_mapping: dict[str, str]
    # (raw value, class label) as SQL string literals: the CASE that maps raw labels to classes.
    label_cases: list[tuple[str, str]]
    # (name as a string literal, name as an identifier) per facet column.
    facets: list[tuple[str, str]]
    negative_labels: list[str]
    negative_labels_sql: str
    length_bucket: int = LENGTH_BUCKET
    min_facet_rows: int = MIN_FACET_ROWS
    top_facet_values: int = TOP_FACET_VALUES


@dataclass(frozen=True)
class FeaturesGroup:
    """``features.*``: the Feature Store helper (features/); every value but ``enabled`` and
    ``local_store`` is None (False for ``online_store``) when the spec has no feature store."""

    enabled: bool
    group_name: str | None
    record_identifier: str | None
    event_time: str | None
    offline_store_s3_uri: str | None
    online_store: bool
    # Where a local run's PreprocessData step folder holds its offline store (the runner maps
    # /opt/ml/<path> to <run>/<step>/<path>).
    local_store: str


def explore_group(spec: Spec) -> ExploreGroup:
    ds = spec.dataset
    negatives = negative_labels(spec)
    mapping = {str(raw): str(label) for raw, label in ds.label_mapping.items()}
    return ExploreGroup(
        table=EXPLORE_TABLE,
        glue_database=glue_database(spec),
        text_sql=sql_identifier(ds.text_column),
        label_sql=sql_identifier(ds.label_column),
        label_mapping=mapping,
        label_cases=[(sql_string(raw), sql_string(label)) for raw, label in mapping.items()],
        facets=[(sql_string(c), sql_identifier(c)) for c in ds.facet_columns],
        negative_labels=negatives,
        negative_labels_sql=", ".join(sql_string(v) for v in negatives),
    )


def features_group(spec: Spec) -> FeaturesGroup:
    fs = spec.feature_store if spec.feature_store_enabled else None
    return FeaturesGroup(
        enabled=fs is not None,
        group_name=spec.feature_group_name if fs else None,
        record_identifier=fs.record_identifier if fs else None,
        event_time=fs.event_time if fs else None,
        offline_store_s3_uri=fs.offline_store_s3_uri if fs else None,
        online_store=fs.online if fs else False,
        local_store=f"{PREPROCESS_STEP}/" + LOCAL_OFFLINE_STORE_DIR.removeprefix("/opt/ml/"),
    )
