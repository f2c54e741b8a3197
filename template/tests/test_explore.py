"""explore/: the SQL questions about the dataset, answered by DuckDB on a sample of data/, and the Glue and
Athena requests of `python -m explore athena`, checked against botocore's service model (Stubber) and run
against moto (which stores Glue tables and Athena queries but runs no SQL: it answers with the results
DuckDB gave for the same files)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("duckdb")

from explore import cli, settings  # noqa: E402
from explore import report as report_module  # noqa: E402
from explore.engines import (  # noqa: E402
    AthenaEngine,
    Query,
    QueryError,
    load_dataset,
    load_queries,
    register_dataset,
)

ROOT = Path(__file__).resolve().parents[1]
DATA_FILES = sorted((ROOT / "data").glob("*.csv"))
SAMPLE_ROWS = 1500
REGION = settings.DEFAULT_REGION
BUCKET = "explore-test-bucket"

pytestmark = pytest.mark.skipif(not DATA_FILES, reason="no data/*.csv")


def run_explore(*arguments: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.run(
        [sys.executable, "-m", "explore", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    frame = pd.read_csv(DATA_FILES[0], dtype={settings.LABEL_COLUMN: str})
    if str(frame.columns[0]).startswith("Unnamed: 0"):
        frame = frame.drop(columns=frame.columns[0])
    return frame.sample(n=min(SAMPLE_ROWS, len(frame)), random_state=3).reset_index(drop=True)


@pytest.fixture(scope="module")
def sample_file(sample: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "sample.csv"
    sample.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def report(sample_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("explore")
    result = run_explore("local", "--data", str(sample_file), "--output", str(output))
    assert result.returncode == 0, result.stdout + result.stderr
    return output


def table(report: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(report / "tables" / f"{name}.csv", dtype={"label": str, "facet_value": str})


def class_labels(sample: pd.DataFrame) -> pd.Series:
    return sample[settings.LABEL_COLUMN].map(settings.LABEL_MAPPING)


def has_text(sample: pd.DataFrame) -> pd.Series:
    text = sample[settings.TEXT_COLUMN]
    return text.notna() & (text.astype(str).str.strip() != "")


# ---------------------------------------------------------------------------------------------- DuckDB


def test_every_query_has_tables_and_the_report_embeds_the_plots(report: Path) -> None:
    names = [query.name for query in load_queries()]
    for name in names:
        assert (report / "tables" / f"{name}.csv").is_file()
        assert (report / "tables" / f"{name}.md").read_text(encoding="utf-8").startswith("# ")
    plots = ["label_distribution", "length_histogram"]
    if settings.FACET_COLUMNS:
        plots.append("label_by_facet")
    for name in plots:
        assert (report / "plots" / f"{name}.png").read_bytes().startswith(b"\x89PNG")
    html = (report / "report.html").read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == len(plots)
    assert all(f'id="{name}"' in html for name in names)


def test_rows_per_label_match_the_label_mapping(report: Path, sample: pd.DataFrame) -> None:
    rows = table(report, "rows_per_label")
    assert rows["row_count"].sum() == len(sample)
    expected = class_labels(sample).value_counts()
    assert dict(zip(rows["label"], rows["row_count"], strict=True)) == expected.to_dict()
    assert rows["share"].sum() == pytest.approx(1.0, abs=1e-3)


def test_missing_texts_and_lengths_per_label(report: Path, sample: pd.DataFrame) -> None:
    labels = class_labels(sample)
    missing = table(report, "missing_texts").set_index("label")
    assert missing["missing_texts"].to_dict() == (~has_text(sample)).groupby(labels).sum().to_dict()

    lengths = sample[settings.TEXT_COLUMN].dropna().str.len().groupby(labels).agg(["min", "max", "count"])
    per_label = table(report, "review_length_per_label").set_index("label")
    assert per_label["min_length"].to_dict() == lengths["min"].to_dict()
    assert per_label["max_length"].to_dict() == lengths["max"].to_dict()
    histogram = table(report, "review_length_histogram")
    assert histogram.groupby("label")["row_count"].sum().to_dict() == lengths["count"].to_dict()


@pytest.mark.skipif(not settings.FACET_COLUMNS, reason="the spec lists no facet columns")
def test_facet_tables_add_up(report: Path, sample: pd.DataFrame) -> None:
    per_facet = table(report, "rows_per_facet")
    assert (per_facet.groupby("facet")["row_count"].sum() == len(sample)).all()
    assert set(per_facet["facet"]) == set(settings.FACET_COLUMNS)
    shares = table(report, "label_share_per_facet")
    totals = shares.groupby(["facet", "facet_value"], dropna=False)["share"].sum()
    assert totals.to_numpy() == pytest.approx(1.0, abs=1e-3)


@pytest.mark.skipif(not (settings.FACET_COLUMNS and settings.NEGATIVE_LABELS), reason="no facets")
def test_top_facets_by_negative_share(report: Path, sample: pd.DataFrame) -> None:
    top = table(report, "top_facets_by_negative_share")
    facet = settings.FACET_COLUMNS[0]
    rows = top[top["facet"] == facet]
    assert not rows.empty
    assert rows["negative_share"].is_monotonic_decreasing
    negative = class_labels(sample).isin(settings.NEGATIVE_LABELS)
    groups = sample.assign(negative=negative).groupby(sample[facet].astype(str))["negative"]
    first = rows.iloc[0]
    assert first["row_count"] == groups.size()[first["facet_value"]]
    assert first["negative_count"] == groups.sum()[first["facet_value"]]


def test_plots_show_labels_and_facet_values_literally(tmp_path: Path) -> None:
    # A '$' in a label or facet value would switch matplotlib into math mode (and fail when unbalanced).
    hostile = ["cost $5 # $", "$x_1$", "50% & $$"]
    results = {
        "rows_per_label": pd.DataFrame({"label": hostile, "row_count": [3, 2, 1]}),
        "label_share_per_facet": pd.DataFrame(
            {
                "facet": ["$Class$"] * 3,
                "facet_value": hostile,
                "label": hostile,
                "share": [1.0, 1.0, 1.0],
                "row_count": [3, 2, 1],
            }
        ),
    }
    plots = report_module.write_plots(results, tmp_path)
    assert set(plots) == {"label_distribution", "label_by_facet"}
    assert all(path.read_bytes()[:4] == b"\x89PNG" for path in plots.values())


@pytest.mark.parametrize(
    ("sql", "fragment"),
    [
        ("SELECT count(*) AS row_count FROM raw_data WHERE", "syntax"),
        ('SELECT "No Such Column", count(*) FROM raw_data GROUP BY 1', "No Such Column"),
    ],
)
def test_a_bad_query_is_named_in_a_one_line_error(
    sample_file: Path, tmp_path: Path, sql: str, fragment: str
) -> None:
    queries = tmp_path / "queries"
    shutil.copytree(ROOT / "explore" / "queries", queries)
    (queries / "zz_broken.sql").write_text(sql + "\n", encoding="utf-8")
    result = run_explore(
        "local", "--data", str(sample_file), "--queries", str(queries), "--output", str(tmp_path)
    )
    assert result.returncode == 2, result.stdout + result.stderr
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in message, message
    assert "query zz_broken" in message and str(queries / "zz_broken.sql") in message
    assert fragment.lower() in message.lower()
    assert not (tmp_path / "report.html").exists()


def test_a_missing_dataset_is_an_error(tmp_path: Path) -> None:
    result = run_explore("local", "--data", str(tmp_path / "nope.csv"), "--output", str(tmp_path))
    assert result.returncode == 2 and "nope.csv" in result.stderr and "does not exist" in result.stderr


# ---------------------------------------------------------------------------------------------- Glue + Athena


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    yield


def test_glue_and_athena_requests_match_the_service_model(sample_file: Path, aws_credentials: None) -> None:
    import boto3
    from botocore.stub import ANY, Stubber

    session = boto3.Session(region_name=REGION)
    s3, glue, athena = (session.client(name) for name in ("s3", "glue", "athena"))
    data = load_dataset(sample_file, settings.LABEL_COLUMN)
    prefix = settings.S3_PREFIX
    location = f"s3://{BUCKET}/{prefix}/{settings.TABLE}/"
    query = load_queries()[0]
    with Stubber(s3) as s3_stub, Stubber(glue) as glue_stub, Stubber(athena) as athena_stub:
        key = f"{prefix}/{settings.TABLE}/{settings.TABLE}.parquet"
        s3_stub.add_response("put_object", {}, {"Bucket": BUCKET, "Key": key, "Body": ANY})
        # A second run finds the database and the table and replaces the table's definition.
        glue_stub.add_client_error("create_database", "AlreadyExistsException")
        glue_stub.add_client_error("create_table", "AlreadyExistsException")
        glue_stub.add_response(
            "update_table", {}, {"DatabaseName": settings.GLUE_DATABASE, "TableInput": ANY}
        )
        athena_stub.add_response(
            "start_query_execution",
            {"QueryExecutionId": "q-1"},
            {
                "QueryString": query.sql,
                "QueryExecutionContext": {"Database": settings.GLUE_DATABASE},
                "ResultConfiguration": {"OutputLocation": f"s3://{BUCKET}/results/"},
                "WorkGroup": "primary",
            },
        )
        for state in ("QUEUED", "RUNNING", "SUCCEEDED"):
            athena_stub.add_response(
                "get_query_execution",
                {"QueryExecution": {"QueryExecutionId": "q-1", "Status": {"State": state}}},
                {"QueryExecutionId": "q-1"},
            )
        athena_stub.add_response(
            "get_query_results",
            {
                "ResultSet": {
                    "Rows": [
                        {"Data": [{"VarCharValue": "label"}, {"VarCharValue": "row_count"}]},
                        {"Data": [{"VarCharValue": "1"}, {"VarCharValue": "12"}]},
                        {"Data": [{}, {"VarCharValue": "3"}]},
                    ],
                    "ResultSetMetadata": {
                        "ColumnInfo": [
                            {"Name": "label", "Type": "varchar"},
                            {"Name": "row_count", "Type": "bigint"},
                        ]
                    },
                }
            },
            {"QueryExecutionId": "q-1"},
        )

        assert (
            register_dataset(
                s3,
                glue,
                data,
                bucket=BUCKET,
                prefix=prefix,
                database=settings.GLUE_DATABASE,
                table_name=settings.TABLE,
            )
            == location
        )
        engine = AthenaEngine(
            athena,
            database=settings.GLUE_DATABASE,
            output_location=f"s3://{BUCKET}/results/",
            sleep=lambda seconds: None,
        )
        frame = engine.run(query)
        s3_stub.assert_no_pending_responses()
        glue_stub.assert_no_pending_responses()
        athena_stub.assert_no_pending_responses()
    assert frame["label"].tolist()[0] == "1" and frame["label"].isna().tolist() == [False, True]
    assert frame["row_count"].tolist() == [12, 3]


def test_a_failed_athena_query_is_named(aws_credentials: None) -> None:
    import boto3
    from botocore.stub import Stubber

    athena = boto3.Session(region_name=REGION).client("athena")
    query = Query("rows_per_label", Path("explore/queries/rows_per_label.sql"), "SELECT 1")
    with Stubber(athena) as stub:
        stub.add_response("start_query_execution", {"QueryExecutionId": "q-2"})
        failed = {
            "State": "FAILED",
            "StateChangeReason": "COLUMN_NOT_FOUND: line 1:8: Column 'x' cannot be resolved",
        }
        stub.add_response("get_query_execution", {"QueryExecution": {"Status": failed}})
        engine = AthenaEngine(athena, database="db", output_location="s3://b/r/", sleep=lambda seconds: None)
        with pytest.raises(
            QueryError, match=r"query rows_per_label \(explore/queries/rows_per_label.sql\).*COLUMN_NOT_FOUND"
        ):
            engine.run(query)


def test_explore_on_athena_against_moto(
    sample_file: Path, report: Path, tmp_path: Path, aws_credentials: None, queue_athena_results
) -> None:
    import boto3
    from moto import mock_aws

    queries = load_queries()
    local = [pd.read_csv(report / "tables" / f"{query.name}.csv") for query in queries]
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        session.client("s3").create_bucket(Bucket=BUCKET)
        queue_athena_results(local, REGION)
        code = cli.main(
            ["athena", "--data", str(sample_file), "--bucket", BUCKET, "--output", str(tmp_path)],
            session=session,
        )
        assert code == 0

        glue_table = session.client("glue").get_table(
            DatabaseName=settings.GLUE_DATABASE, Name=settings.TABLE
        )
        descriptor = glue_table["Table"]["StorageDescriptor"]
        assert descriptor["Location"] == f"s3://{BUCKET}/{settings.S3_PREFIX}/{settings.TABLE}/"
        columns = [column["Name"] for column in descriptor["Columns"]]
        assert settings.TEXT_COLUMN in columns and settings.LABEL_COLUMN in columns
        folder = f"{settings.S3_PREFIX}/{settings.TABLE}/"
        objects = session.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=folder)["Contents"]
        assert [o["Key"] for o in objects] == [f"{folder}{settings.TABLE}.parquet"]

        athena = session.client("athena")
        sent = []
        for execution_id in athena.list_query_executions()["QueryExecutionIds"]:
            execution = athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
            sent.append(execution["Query"])
            assert execution["QueryExecutionContext"]["Database"] == settings.GLUE_DATABASE
        assert sorted(sent) == sorted(query.sql for query in queries)

    for query, expected in zip(queries, local, strict=True):
        athena_table = pd.read_csv(tmp_path / "tables" / f"{query.name}.csv")
        pd.testing.assert_frame_equal(athena_table, expected, check_dtype=False)
    assert json.dumps(sorted(p.name for p in (tmp_path / "plots").iterdir())) == json.dumps(
        sorted(p.name for p in (report / "plots").iterdir())
    )
