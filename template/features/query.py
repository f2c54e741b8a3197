"""Pull one split back out of the feature group's offline store: the latest record of every id.

The offline store keeps every record ever ingested (a re-run of the pipeline adds another one per id),
so the query keeps each id's latest record first and only then selects the split: an example that moved
from train to test in a later run is in test only. The same SQL runs on DuckDB over a local offline store
(what `sagespec local run` writes) and on Athena over the offline store in S3.

    python -m features.query train --local                 # the latest local run's offline store
    python -m features.query test --athena -o test.parquet # the feature group's Glue table, with Athena
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from explore.engines import AthenaEngine, ExploreError, Query
from features import settings
from pipelines.aws_errors import reports_aws_errors

SPLITS = ("train", "validation", "test")
ROOT = Path(__file__).resolve().parents[1]
# Where `sagespec local run` keeps its runs.
LOCAL_RUNS = ROOT / ".sagespec-runs"


class FeatureQueryError(Exception):
    """No offline store to read, or the query failed (exit status 2)."""


def quote(name: str) -> str:
    """A double-quoted SQL identifier, as both Athena and DuckDB read it."""
    return '"' + name.replace('"', '""') + '"'


def split_sql(table: str, split: str) -> str:
    """The SQL that reads ``split`` from the offline store ``table`` (an SQL table reference).

    Ties on the event time go to the record ingested last; a deleted record hides its id.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    features = ",\n    ".join(quote(name) for name in settings.FEATURES)
    return f"""\
SELECT
    {features}
FROM (
    SELECT
        *,
        row_number() OVER (
            PARTITION BY {quote(settings.RECORD_IDENTIFIER)}
            ORDER BY {quote(settings.EVENT_TIME)} DESC, api_invocation_time DESC, write_time DESC
        ) AS record_rank
    FROM {table}
) AS records
WHERE record_rank = 1 AND NOT is_deleted AND "split" = '{split}'
ORDER BY {quote(settings.RECORD_IDENTIFIER)}
"""


def token_arrays(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """input_ids and attention_mask as int32 matrices (one row per record; they are padded alike)."""
    return {
        name: np.array([json.loads(value) for value in frame[name]], dtype=np.int32).reshape(len(frame), -1)
        for name in settings.TOKEN_FEATURES
    }


# ---------------------------------------------------------------------------------------------- local


def latest_local_store() -> Path:
    stores = sorted(p for p in LOCAL_RUNS.glob(f"*/{settings.LOCAL_RUN_STORE}") if p.is_dir())
    if not stores:
        raise FeatureQueryError(f"no local offline store under {LOCAL_RUNS}: run `make local` first")
    return stores[-1]  # run folders are named by their start time


def local_store_files(root: Path) -> list[str]:
    """The feature group's Parquet files in a local offline store laid out like the one in S3:
    <root>/<account>/sagemaker/<region>/offline-store/<group>/data/year=/month=/day=/hour=/*.parquet"""
    pattern = f"*/sagemaker/*/offline-store/{settings.FEATURE_GROUP_NAME}/data/**/*.parquet"
    files = sorted(str(path) for path in root.glob(pattern))
    if not files:
        raise FeatureQueryError(f"no records of {settings.FEATURE_GROUP_NAME} under {root}")
    return files


def query_local(split: str, root: Path | None = None) -> pd.DataFrame:
    import duckdb

    connection = duckdb.connect()
    connection.read_parquet(
        local_store_files(root or latest_local_store()), hive_partitioning=True
    ).create_view("offline_store")
    return connection.execute(split_sql("offline_store", split)).df()


# ---------------------------------------------------------------------------------------------- Athena


def offline_store_table(sagemaker: Any) -> tuple[str, str]:
    """(database, table) of the feature group's offline store in the Glue Data Catalog."""
    group = sagemaker.describe_feature_group(FeatureGroupName=settings.FEATURE_GROUP_NAME)
    catalog = group.get("OfflineStoreConfig", {}).get("DataCatalogConfig")
    if not catalog:
        raise FeatureQueryError(f"feature group {settings.FEATURE_GROUP_NAME} has no offline store table")
    return catalog["Database"], catalog["TableName"]


def query_athena(
    split: str, session: Any, *, output_location: str | None = None, workgroup: str = "primary"
) -> pd.DataFrame:
    database, table = offline_store_table(session.client("sagemaker"))
    if output_location is None:
        account = session.client("sts").get_caller_identity()["Account"]
        bucket = f"sagemaker-{session.region_name}-{account}"
        output_location = f"s3://{bucket}/{settings.PROJECT_SLUG}/feature-store-queries/"
    engine = AthenaEngine(
        session.client("athena"), database=database, output_location=output_location, workgroup=workgroup
    )
    query = Query(f"{split} split", Path(__file__), split_sql(f"{quote(database)}.{quote(table)}", split))
    try:
        return engine.run(query)
    except ExploreError as err:
        raise FeatureQueryError(str(err)) from None


# ---------------------------------------------------------------------------------------------- main


@reports_aws_errors
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m features.query", description=__doc__.split("\n", 1)[0])
    parser.add_argument("split", choices=SPLITS)
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--local",
        nargs="?",
        const="",
        metavar="DIR",
        help="a local offline store (default: the latest run's)",
    )
    where.add_argument("--athena", action="store_true", help="the offline store in S3, with Athena")
    parser.add_argument("--region", default=settings.DEFAULT_REGION)
    parser.add_argument("--workgroup", default="primary")
    parser.add_argument("-o", "--output", type=Path, help="write the records to this .parquet or .csv file")
    args = parser.parse_args(argv)
    try:
        if args.athena:
            import boto3

            frame = query_athena(args.split, boto3.Session(region_name=args.region), workgroup=args.workgroup)
        else:
            frame = query_local(args.split, Path(args.local) if args.local else None)
    except FeatureQueryError as err:
        print(f"features.query: error: {err}", file=sys.stderr)
        return 2
    print(f"{len(frame)} records in {args.split}")
    if args.output is None:
        print(frame.head().to_string(index=False))
    elif args.output.suffix == ".csv":
        frame.to_csv(args.output, index=False)
    else:
        frame.to_parquet(args.output, index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
