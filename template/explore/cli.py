"""`python -m explore local|athena`: run every query in explore/queries/ and write the report."""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from explore import settings
from explore.engines import (
    AthenaEngine,
    DuckDBEngine,
    ExploreError,
    load_dataset,
    load_queries,
    register_dataset,
)
from explore.report import write_report
from pipelines.aws_errors import reports_aws_errors

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = Path("reports/explore")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m explore", description=__doc__)
    engines = parser.add_subparsers(dest="engine", required=True)
    local = engines.add_parser("local", help="answer the queries with DuckDB on this machine")
    athena = engines.add_parser("athena", help="register the dataset in Glue and query it with Athena")
    for sub in (local, athena):
        sub.add_argument("--data", help=f"dataset file (default: {settings.DEFAULT_DATA})")
        sub.add_argument("--queries", type=Path, help="folder of .sql files (default: explore/queries)")
        sub.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="report folder")
    athena.add_argument("--region", default=settings.DEFAULT_REGION)
    athena.add_argument("--bucket", help="default: SageMaker's default bucket, sagemaker-<region>-<account>")
    athena.add_argument("--workgroup", default="primary")
    athena.add_argument("--database", default=settings.GLUE_DATABASE, help="Glue database")
    return parser.parse_args(argv)


def dataset_path(data: str | None, session: Any = None) -> Path:
    """The dataset as a local file; an s3:// URI is downloaded first (the athena engine only)."""
    source = data or settings.DEFAULT_DATA
    if source is None:
        raise ExploreError("the spec's dataset is in S3: pass --data with a local copy or its s3:// URI")
    if not source.startswith("s3://"):
        path = Path(source)
        return path if path.is_absolute() or path.exists() else ROOT / path
    if session is None:
        raise ExploreError("python -m explore local reads local files: download the dataset and pass --data")
    bucket, _, key = source.removeprefix("s3://").partition("/")
    target = Path(tempfile.mkdtemp(prefix="explore-")) / Path(key).name
    session.client("s3").download_file(bucket, key, str(target))
    return target


def default_bucket(session: Any) -> str:
    account = session.client("sts").get_caller_identity()["Account"]
    return f"sagemaker-{session.region_name}-{account}"


def run_queries(engine: DuckDBEngine | AthenaEngine, queries_dir: Path | None) -> dict[str, pd.DataFrame]:
    queries = load_queries(queries_dir) if queries_dir else load_queries()
    results = {}
    for query in queries:
        results[query.name] = engine.run(query)
        print(f"{query.name}: {len(results[query.name])} rows")
    return results


def explore_locally(args: argparse.Namespace) -> tuple[dict[str, pd.DataFrame], str]:
    path = dataset_path(args.data)
    table = load_dataset(path, settings.LABEL_COLUMN)
    print(f"read {table.num_rows} rows from {path}")
    return run_queries(DuckDBEngine(table, settings.TABLE), args.queries), f"{path} (DuckDB)"


def explore_on_athena(args: argparse.Namespace, session: Any) -> tuple[dict[str, pd.DataFrame], str]:
    path = dataset_path(args.data, session)
    table = load_dataset(path, settings.LABEL_COLUMN)
    bucket = args.bucket or default_bucket(session)
    location = register_dataset(
        session.client("s3"),
        session.client("glue"),
        table,
        bucket=bucket,
        prefix=settings.S3_PREFIX,
        database=args.database,
        table_name=settings.TABLE,
    )
    print(f"registered {args.database}.{settings.TABLE} ({table.num_rows} rows) over {location}")
    engine = AthenaEngine(
        session.client("athena"),
        database=args.database,
        output_location=f"s3://{bucket}/{settings.S3_PREFIX}/athena-results/",
        workgroup=args.workgroup,
    )
    return run_queries(engine, args.queries), f"{args.database}.{settings.TABLE} at {location} (Athena)"


@reports_aws_errors
def main(argv: Sequence[str] | None = None, session: Any = None) -> int:
    """``session``: a boto3 Session for the athena engine (default: one for --region)."""
    args = parse_args(argv)
    try:
        if args.engine == "local":
            results, source = explore_locally(args)
        else:
            import boto3

            # AWS errors end the command through @reports_aws_errors: one line, exit 2 or 1.
            results, source = explore_on_athena(args, session or boto3.Session(region_name=args.region))
    except ExploreError as err:
        print(f"explore: error: {err}", file=sys.stderr)
        return 2
    report = write_report(
        results, args.output, heading=f"{settings.PROJECT_NAME}: data exploration", source=source
    )
    print(f"report: {report}")
    return 0
