"""The dataset as a table, and the two engines that answer the .sql questions about it.

- DuckDB reads the dataset in this process (``python -m explore local``).
- Athena reads a Parquet copy in S3 that :func:`register_dataset` uploads and registers in the Glue
  Data Catalog (``python -m explore athena``). Parquet rather than the CSV itself: Athena's CSV SerDes
  cannot read quoted line breaks, and review texts have them.

Both get the same Arrow table, so a column has the same type in both engines.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

QUERIES_DIR = Path(__file__).resolve().parent / "queries"
ATHENA_POLL_SECONDS = 1.0
ATHENA_TIMEOUT_SECONDS = 900
# Arrow type -> Glue (Hive) column type, for the Parquet copy Athena reads.
_GLUE_TYPES: dict[Callable[[pa.DataType], bool], str] = {
    pa.types.is_boolean: "boolean",
    pa.types.is_int8: "tinyint",
    pa.types.is_int16: "smallint",
    pa.types.is_int32: "int",
    pa.types.is_int64: "bigint",
    pa.types.is_float32: "float",
    pa.types.is_float64: "double",
    pa.types.is_string: "string",
    pa.types.is_large_string: "string",
    pa.types.is_date32: "date",
    pa.types.is_timestamp: "timestamp",
}
_ATHENA_INTEGERS = {"tinyint", "smallint", "integer", "int", "bigint"}
_ATHENA_FLOATS = {"float", "real", "double", "decimal"}


class ExploreError(Exception):
    """Something the user has to fix: a missing file, a bad query (exit status 2)."""


class QueryError(ExploreError):
    def __init__(self, query: Query, reason: str):
        first_line = reason.strip().splitlines()[0] if reason.strip() else "no reason given"
        super().__init__(f"query {query.name} ({query.path}) failed: {first_line}")
        self.query = query


@dataclass(frozen=True)
class Query:
    name: str  # the file name without .sql
    path: Path
    sql: str


def load_queries(folder: Path = QUERIES_DIR) -> list[Query]:
    paths = sorted(folder.glob("*.sql"))
    if not paths:
        raise ExploreError(f"no .sql files in {folder}")
    return [Query(path.stem, path, path.read_text(encoding="utf-8")) for path in paths]


# ---------------------------------------------------------------------------------------------- the data


def load_dataset(path: Path, label_column: str) -> pa.Table:
    """The dataset as preprocess.py reads it: the label column as text, pandas' index column dropped."""
    if not path.is_file():
        raise ExploreError(f"dataset file {path} does not exist")
    if path.suffix.lower() == ".parquet":
        frame = pd.read_parquet(path)
    else:
        try:
            frame = pd.read_csv(path, dtype={label_column: str})
        except (pd.errors.ParserError, UnicodeDecodeError) as err:
            raise ExploreError(f"{path} cannot be read as CSV: {str(err).splitlines()[0]}") from None
        if len(frame.columns) and str(frame.columns[0]).startswith("Unnamed: 0"):
            frame = frame.drop(columns=frame.columns[0])
    table = pa.Table.from_pandas(frame, preserve_index=False)
    # A column with no value at all has Arrow's null type, which Glue cannot declare: make it text.
    for index, field in enumerate(table.schema):
        if pa.types.is_null(field.type):
            table = table.set_column(index, field.name, table.column(index).cast(pa.string()))
    return table


def glue_columns(schema: pa.Schema) -> list[dict[str, str]]:
    columns = []
    for field in schema:
        glue_type = next((name for test, name in _GLUE_TYPES.items() if test(field.type)), None)
        if glue_type is None:
            raise ExploreError(f"column {field.name!r} has type {field.type}, which Glue cannot declare")
        columns.append({"Name": field.name, "Type": glue_type})
    return columns


# ---------------------------------------------------------------------------------------------- DuckDB


class DuckDBEngine:
    """The queries against the table in this process."""

    def __init__(self, table: pa.Table, table_name: str):
        import duckdb

        self._duckdb = duckdb
        self.connection = duckdb.connect()
        self.connection.register(table_name, table)

    def run(self, query: Query) -> pd.DataFrame:
        try:
            return self.connection.execute(query.sql).df()
        except self._duckdb.Error as err:
            raise QueryError(query, str(err)) from None


# ---------------------------------------------------------------------------------------------- Glue + Athena


def register_dataset(
    s3: Any, glue: Any, table: pa.Table, *, bucket: str, prefix: str, database: str, table_name: str
) -> str:
    """Upload the table as Parquet to s3://<bucket>/<prefix>/<table_name>/ and (re)declare it in Glue.

    Returns the table's S3 location.
    """
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    key = f"{prefix}/{table_name}/{table_name}.parquet"
    s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())
    location = f"s3://{bucket}/{prefix}/{table_name}/"
    with contextlib.suppress(glue.exceptions.AlreadyExistsException):
        glue.create_database(
            DatabaseInput={"Name": database, "Description": "Tables of the project's data exploration."}
        )
    table_input = {
        "Name": table_name,
        "Description": "The raw dataset, as `python -m explore athena` uploaded it.",
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet"},
        "StorageDescriptor": {
            "Columns": glue_columns(table.schema),
            "Location": location,
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "SerdeInfo": {
                "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
            },
        },
    }
    try:
        glue.create_table(DatabaseName=database, TableInput=table_input)
    except glue.exceptions.AlreadyExistsException:
        glue.update_table(DatabaseName=database, TableInput=table_input)
    return location


class AthenaEngine:
    """The queries on Athena: start, wait, read the result set."""

    def __init__(
        self,
        athena: Any,
        *,
        database: str,
        output_location: str,
        workgroup: str = "primary",
        timeout_seconds: float = ATHENA_TIMEOUT_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.athena = athena
        self.database = database
        self.output_location = output_location
        self.workgroup = workgroup
        self.timeout_seconds = timeout_seconds
        self.sleep = sleep

    def run(self, query: Query) -> pd.DataFrame:
        from botocore.exceptions import ClientError

        try:
            execution_id = self.athena.start_query_execution(
                QueryString=query.sql,
                QueryExecutionContext={"Database": self.database},
                ResultConfiguration={"OutputLocation": self.output_location},
                WorkGroup=self.workgroup,
            )["QueryExecutionId"]
        except ClientError as err:  # a syntax error can be refused right away
            raise QueryError(query, err.response["Error"].get("Message", str(err))) from None
        status = self._wait(execution_id)
        if status["State"] != "SUCCEEDED":
            raise QueryError(query, f"{status['State']}: {status.get('StateChangeReason', '')}")
        pages = self.athena.get_paginator("get_query_results").paginate(QueryExecutionId=execution_id)
        return athena_frame(pages)

    def _wait(self, execution_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout_seconds
        while True:
            execution = self.athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
            status: dict[str, Any] = execution["Status"]
            if status["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
                return status
            if time.monotonic() > deadline:
                self.athena.stop_query_execution(QueryExecutionId=execution_id)
                return {"State": "CANCELLED", "StateChangeReason": f"no result in {self.timeout_seconds:g}s"}
            self.sleep(ATHENA_POLL_SECONDS)


def athena_frame(pages: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """GetQueryResults pages -> a DataFrame typed like DuckDB's (Athena sends every value as text)."""
    column_info: list[dict[str, Any]] = []
    rows: list[list[str | None]] = []
    for page in pages:
        result_set = page["ResultSet"]
        column_info = column_info or result_set["ResultSetMetadata"]["ColumnInfo"]
        rows += [[cell.get("VarCharValue") for cell in row["Data"]] for row in result_set["Rows"]]
    names = [column["Name"] for column in column_info]
    if rows and rows[0] == names:
        rows = rows[1:]  # a SELECT's first row repeats the column names
    frame = pd.DataFrame(rows, columns=names, dtype=object)
    for column in column_info:
        name, kind = column["Name"], column["Type"].lower()
        if kind in _ATHENA_INTEGERS:
            frame[name] = pd.to_numeric(frame[name]).astype("Int64")
        elif kind in _ATHENA_FLOATS:
            frame[name] = pd.to_numeric(frame[name]).astype("float64")
        elif kind == "boolean":
            frame[name] = frame[name].map({"true": True, "false": False})
    return frame
