"""explore/ and features/ as rendered: the SQL files run on DuckDB against the real data for both example
specs, spec strings reach the SQL as quoted identifiers and literals (hostile column names included), and
optional files follow the spec."""

from __future__ import annotations

import ast
import json

import pandas as pd
import pytest

from sagespec.render.context_explore import negative_labels, sql_identifier, sql_string
from sagespec.render.project import render_project
from sagespec.spec import load_spec, load_spec_text

from ..conftest import DATA

duckdb = pytest.importorskip("duckdb")

REVIEWS = DATA / "womens_clothing_ecommerce_reviews.csv"
QUERIES = [
    "label_share_per_facet",
    "missing_texts",
    "review_length_histogram",
    "review_length_per_label",
    "rows_per_facet",
    "rows_per_label",
    "top_facets_by_negative_share",
]
HOSTILE_TEXT = 'Re"view" Text; DROP TABLE raw_data --'
HOSTILE_LABEL = 'It\'s "rating"'
HOSTILE_FACET = 'Class\' Name" -- it\'s \\ "second"'  # column names are one line (the spec says so)


@pytest.fixture
def rendered(write_spec):
    """Spec text -> the generated files (text files only), rendered in memory."""

    def render(text: str) -> dict[str, str]:
        files = render_project(load_spec(write_spec(text))).files
        return {path: content.decode() for path, content in files.items() if not path.startswith("data/")}

    return render


def run_sql(files: dict[str, str], frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    connection = duckdb.connect()
    connection.register("raw_data", frame)
    prefix = "explore/queries/"
    return {
        path.removeprefix(prefix).removesuffix(".sql"): connection.execute(sql).df()
        for path, sql in files.items()
        if path.startswith(prefix)
    }


@pytest.fixture(scope="module")
def reviews() -> pd.DataFrame:
    return pd.read_csv(REVIEWS, index_col=0, dtype={"Rating": str})


def test_quoting():
    assert sql_identifier('a "b"') == '"a ""b"""'
    assert sql_string("it's") == "'it''s'"


@pytest.mark.parametrize("name", ["womens-clothing-blazingtext.yaml", "womens-clothing-bert.yaml"])
def test_the_example_queries_answer_the_dataset_readme(example_text, rendered, reviews, name):
    files = rendered(example_text(name))
    assert sorted(p.removeprefix("explore/queries/") for p in files if p.startswith("explore/queries/")) == [
        f"{query}.sql" for query in QUERIES
    ]
    assert {"explore/cli.py", "explore/engines.py", "explore/report.py", "explore/settings.py"} <= set(files)
    assert "tests/test_explore.py" in files and not any(p.startswith("features/") for p in files)
    assert "\nexplore: ## " in files["Makefile"]

    results = run_sql(files, reviews)
    per_label = results["rows_per_label"].set_index("label")["row_count"].to_dict()
    # data/README.md: 1★ 842, 2★ 1,565, 3★ 2,871, 4★ 5,077, 5★ 13,131; 845 rows without a text.
    assert per_label == {"-1": 842 + 1565, "0": 2871, "1": 5077 + 13131}
    assert results["missing_texts"]["missing_texts"].sum() == 845
    per_facet = results["rows_per_facet"].set_index("facet_value")["row_count"]
    assert per_facet["Dresses"] == 6319 and per_facet.sum() == len(reviews)
    assert results["review_length_per_label"]["max_length"].max() == 508
    top = results["top_facets_by_negative_share"]
    assert len(top) == 10 and (top["row_count"] >= 30).all() and top["negative_share"].is_monotonic_decreasing
    shares = results["label_share_per_facet"].groupby("facet_value", dropna=False)["share"].sum()
    assert shares.to_numpy() == pytest.approx(1.0, abs=1e-3)


def test_hostile_column_names_and_labels_stay_data(tmp_path, rendered):
    text = f"""\
spec_version: 1
project: {{name: Hostile, slug: hostile-sql}}
dataset:
  source: reviews.csv
  text_column: {json.dumps(HOSTILE_TEXT)}
  label_column: {json.dumps(HOSTILE_LABEL)}
  label_mapping: {{"o'ne": "ba'd", "two\\"": "go\\"od"}}
  facet_columns: [{json.dumps(HOSTILE_FACET)}]
bias: {{enabled: false}}
model: {{type: blazingtext}}
"""
    (tmp_path / "reviews.csv").write_text("unused\n")
    files = rendered(text)
    constants = {}
    for node in ast.parse(files["explore/settings.py"]).body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
            assert isinstance(target, ast.Name)
            constants[target.id] = ast.literal_eval(node.value)
    assert constants["TEXT_COLUMN"] == HOSTILE_TEXT and constants["FACET_COLUMNS"] == [HOSTILE_FACET]
    frame = pd.DataFrame(
        {
            HOSTILE_TEXT: ["fine", None, "lovely dress", "too small"],
            HOSTILE_LABEL: ["o'ne", 'two"', 'two"', "seven"],
            HOSTILE_FACET: ["x", "x", "y'", "y'"],
        }
    )
    results = run_sql(files, frame)
    per_label = dict(
        zip(results["rows_per_label"]["label"], results["rows_per_label"]["row_count"], strict=True)
    )
    assert per_label == {"ba'd": 1, 'go"od': 2, None: 1}  # the unmapped raw value shows as NULL
    assert results["missing_texts"]["missing_texts"].sum() == 1
    facets = results["rows_per_facet"]
    assert set(facets["facet"]) == {HOSTILE_FACET} and set(facets["facet_value"]) == {"x", "y'"}
    # Non-numeric classes and no positive labels: no notion of "negative", so that question is left out.
    assert negative_labels(load_spec_text(text).spec) == []
    assert "top_facets_by_negative_share" not in results


def test_without_facets_the_facet_questions_are_left_out(example_text, rendered):
    text = example_text().replace("facet_columns: [Class Name]", "facet_columns: []")
    text = text.replace("bias:\n", "bias:\n  enabled: false\n", 1)
    files = rendered(text)
    queries = sorted(p for p in files if p.startswith("explore/queries/"))
    assert [q.removeprefix("explore/queries/") for q in queries] == [
        "missing_texts.sql",
        "review_length_histogram.sql",
        "review_length_per_label.sql",
        "rows_per_label.sql",
    ]


def test_feature_store_files_follow_the_spec(example_text, rendered):
    section = "feature_store:\n  offline_store_s3_uri: s3://store-bucket/features\n  event_time: written_at\n"
    files = rendered(example_text("womens-clothing-bert.yaml") + section)
    assert {
        "features/__init__.py",
        "features/query.py",
        "features/settings.py",
        "tests/test_features.py",
    } <= set(files)
    settings = files["features/settings.py"]
    assert 'FEATURE_GROUP_NAME = scoped("feature_group", "reviews-bert-features")' in settings
    assert 'EVENT_TIME = "written_at"' in settings
    assert 'OFFLINE_STORE_S3_URI: str | None = "s3://store-bucket/features"' in settings
    pipeline = files["pipelines/reviews_bert/settings.py"]
    # Inside a SageMaker project the feature group is the project's (pipelines/project_names.py).
    assert 'FEATURE_GROUP_NAME = scoped("feature_group", "reviews-bert-features")' in pipeline
    assert '"--feature-group-name",\n    FEATURE_GROUP_NAME,' in pipeline
