"""A `framework: pytorch` BERT project end to end with a tiny model: preprocess writes token arrays, the
PyTorch train.py trains under SageMaker's training contract, evaluate.py scores the export, the registry
records a PyTorch model, and `sagespec local serve`'s handler answers from it."""

from __future__ import annotations

import json
import tarfile

import pytest

pytest.importorskip("torch")
pytestmark = pytest.mark.slow  # a whole local run (about 40 s)


@pytest.fixture(scope="module")
def tiny_pytorch_bert(tmp_path_factory, helpers, sample_csv):
    """A 2-layer BERT (hidden size 32), saved as PyTorch safetensors, with a WordPiece tokenizer."""
    import pandas as pd
    import torch
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-bert-pt")
    texts = pd.read_csv(sample_csv)["Review Text"].dropna().tolist()
    tokenizer = helpers.save_wordpiece_tokenizer(folder, texts, vocab_size=2000, model_max_length=128)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def pytorch_run(tmp_path_factory, helpers, sample_csv, tiny_pytorch_bert):
    spec = helpers.deep_merge(
        helpers.load_example("womens-clothing-bert.yaml"),
        {
            "dataset": {"source": "reviews.csv"},
            "bias": {"metrics!": helpers.PASSING_BIAS_METRICS},
            "model": {
                "framework": "pytorch",
                "hyperparameters!": {
                    "epochs": 1,
                    "batch_size": 16,
                    "max_seq_length": 32,
                    "learning_rate": 1e-3,
                },
            },
            "evaluation": {"threshold": 0.1},
        },
    )
    project = helpers.make_project(tmp_path_factory.mktemp("bert-pt"), spec, sample_csv)
    result = helpers.run_cli(
        ["local", "run", str(project), "--model", str(tiny_pytorch_bert), "--max-rows", "240", "-q"]
    )
    assert result.code == 0, result.text
    return project, helpers.latest_run(project), result


def test_the_pytorch_pipeline_runs_and_registers_a_pytorch_model(pytorch_run):
    project, run, result = pytorch_run
    parts = list((run / "PreprocessData/processing/output/train").glob("train-*.npz"))
    assert parts and all(p.stat().st_size > 0 for p in parts)
    with tarfile.open(run / "TrainModel" / "output" / "model.tar.gz") as tar:
        names = set(tar.getnames())
    assert {
        "config.json",
        "model.safetensors",
        "classifier.safetensors",
        "labels.json",
        "tokenizer.json",
    } <= names
    assert "code/inference.py" in names  # what SageMaker's PyTorch inference image runs
    record = json.loads((run / "TrainModel" / "step.json").read_text())
    assert "validation:accuracy" in record["details"]["metrics"]  # parsed like the metric definitions
    assert record["hyperparameters"]["compile"] == "false" and "xla" not in record["hyperparameters"]
    evaluation = json.loads((run / "EvaluateModel/processing/evaluation/evaluation.json").read_text())
    assert 0.0 <= evaluation["metrics"]["accuracy"]["value"] <= 1.0
    package = json.loads(
        (project / ".sagespec-runs/registry/reviews-bert-models/1/model-package.json").read_text()
    )
    assert package["InferenceSpecification"]["Containers"][0]["Framework"] == "PYTORCH"
    assert "registered: reviews-bert-models version 1" in result.out
