"""A local run of a BERT project with a feature store: PreprocessData writes the feature group's records
to a local offline store in its step folder (never calling AWS), and the generated features/query.py reads
a split back with DuckDB."""

from __future__ import annotations

import sys

import pandas as pd
import pytest

from sagespec.local import steps
from sagespec.local.contract import local_path
from sagespec.local.runner import Runner, RunOptions
from sagespec.local.runs import RunResult, StepResult
from sagespec.plan import LOCAL_OFFLINE_STORE_DIR

pytest.importorskip("tensorflow")
pytest.importorskip("duckdb")

MAX_ROWS = 300
FEATURE_STORE = {
    "enabled": True,
    "feature_group_name": "local-reviews",
    "offline_store_s3_uri": "s3://never-reached/feature-store",
}


@pytest.fixture(scope="module")
def tiny_tokenizer(tmp_path_factory, helpers, sample_csv):
    """A WordPiece tokenizer trained on the sample, beside a model config (what --model must hold)."""
    from transformers import BertConfig

    folder = tmp_path_factory.mktemp("tiny-tokenizer")
    texts = pd.read_csv(sample_csv)["Review Text"].dropna().tolist()
    helpers.save_wordpiece_tokenizer(folder, texts, vocab_size=800)
    BertConfig(vocab_size=800, hidden_size=32, num_hidden_layers=1, num_attention_heads=2).save_pretrained(
        folder
    )
    return folder


@pytest.fixture(scope="module")
def preprocessed(tmp_path_factory, helpers, sample_csv, tiny_tokenizer):
    """The project's PreprocessData step, run by the local runner into a run folder."""
    spec = helpers.deep_merge(
        helpers.load_example("womens-clothing-bert.yaml"),
        {
            "dataset": {"source": "reviews.csv"},
            "model": {"hyperparameters!": {"max_seq_length": 32}},
            "feature_store": FEATURE_STORE,
        },
    )
    project = helpers.make_project(tmp_path_factory.mktemp("feature-store"), spec, sample_csv)
    runner = Runner(
        RunOptions(project_dir=project, model=tiny_tokenizer, max_rows=MAX_ROWS, use_cache=False, quiet=True)
    )
    run_dir = project / ".sagespec-runs" / "20240101-000000"
    runner.result = RunResult(run_dir.name, run_dir, project, runner.spec, runner.plan)
    for name in ("PrepareData", "PreprocessData"):
        step = runner.plan.step(name)
        record = StepResult(step.name, step.kind, folder=run_dir / step.name)
        steps.processing(runner, step, record)
    return project, runner, record


def test_the_runner_swaps_ingestion_for_a_local_offline_store(preprocessed):
    project, runner, record = preprocessed
    arguments = steps.processing_arguments(runner, runner.plan.step("PreprocessData"))
    assert arguments[-2:] == ["--offline-store-dir", LOCAL_OFFLINE_STORE_DIR]
    assert "--feature-group-name" in runner.plan.step("PreprocessData").arguments  # SageMaker ingests
    store = local_path(LOCAL_OFFLINE_STORE_DIR, record.folder)
    files = list(
        store.glob(
            "*/sagemaker/us-east-1/offline-store/local-reviews/data/year=*/month=*/day=*/hour=*/*.parquet"
        )
    )
    assert len(files) == 1
    split_rows = sum(
        len(pd.read_csv(path))
        for name in ("train", "validation", "test")
        for path in record.outputs[name].glob("*.csv")
    )
    assert len(pd.read_parquet(files[0])) == split_rows == pytest.approx(MAX_ROWS, abs=6)


def test_the_generated_query_helper_reads_a_split_back(preprocessed, monkeypatch):
    project, _, record = preprocessed
    monkeypatch.syspath_prepend(str(project))
    for name in [m for m in sys.modules if m.split(".")[0] in ("features", "explore")]:
        monkeypatch.delitem(sys.modules, name)
    from features import query

    train = query.query_local("train")  # the latest local run's store
    parts = sorted(record.outputs["train"].glob("train-*.csv"))
    expected = pd.concat([pd.read_csv(path, dtype=str, keep_default_na=False) for path in parts])
    assert len(train) == len(expected) and sorted(train["label"]) == sorted(expected["label"])
    assert train["review_id"].is_unique and (train["split"] == "train").all()
    tokens = query.token_arrays(train)
    assert tokens["input_ids"].shape == (len(train), 32)
    # The record identifier is <file>:<the row's position in it>: the sample's index column.
    sample = pd.read_csv(project / "data" / "reviews.csv")
    assert train["review_id"].str.startswith("reviews:").all()
    texts = sample.iloc[train["review_id"].str.split(":").str[-1].astype(int)]["Review Text"]
    assert sorted(texts.str.strip()) == sorted(expected["text"].str.strip())
