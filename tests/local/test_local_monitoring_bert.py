"""The monitoring baselines of a BERT project (TensorFlow and PyTorch) with a tiny model: BERT's test
split holds token ids, so evaluate.py decodes them with the model's tokenizer and asks the handler, and
the quality-check steps suggest the baselines from that."""

from __future__ import annotations

import csv
import json

import pytest

pytestmark = pytest.mark.slow  # two whole local runs (about a minute)

MONITORING = {"data_quality": {"schedule": "daily"}}
CAPTURE = {"data_capture": {"enabled": True, "sampling_percentage": 100}}


def _tiny_bert(folder, helpers, sample_csv, framework: str):
    import pandas as pd
    from transformers import BertConfig

    texts = pd.read_csv(sample_csv)["Review Text"].dropna().tolist()
    tokenizer = helpers.save_wordpiece_tokenizer(folder, texts, vocab_size=2000, model_max_length=128)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128, num_labels=3, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    if framework == "pytorch":
        import torch
        from transformers import BertModel

        torch.manual_seed(0)
        BertModel(config).save_pretrained(folder)
    else:
        from transformers import TFBertForSequenceClassification

        model = TFBertForSequenceClassification(config)
        model(model.dummy_inputs)
        model.save_pretrained(folder)


@pytest.mark.parametrize("framework", ["tensorflow", "pytorch"])
def test_a_bert_run_writes_and_registers_the_baselines(framework, tmp_path, helpers, sample_csv):
    pytest.importorskip("tensorflow" if framework == "tensorflow" else "torch")
    model = tmp_path / "tiny"
    model.mkdir()
    _tiny_bert(model, helpers, sample_csv, framework)
    spec = helpers.deep_merge(
        helpers.load_example("womens-clothing-bert.yaml"),
        {
            "dataset": {"source": "reviews.csv"},
            "bias": {"metrics!": helpers.PASSING_BIAS_METRICS},
            "model": {
                "framework": framework,
                "hyperparameters!": {"epochs": 1, "batch_size": 16, "max_seq_length": 32},
            },
            "evaluation": {"threshold": 0.0},
            "deployment": CAPTURE,
            "monitoring": MONITORING,
        },
    )
    project = helpers.make_project(tmp_path / "work", spec, sample_csv)
    result = helpers.run_cli(["local", "run", str(project), "--model", str(model), "--max-rows", "240", "-q"])
    assert result.code == 0, result.text
    run = helpers.latest_run(project)
    with (run / "EvaluateModel/processing/monitoring/data-quality-baseline.csv").open() as lines:
        rows = list(csv.DictReader(lines))
    with (run / "EvaluateModel/processing/monitoring/model-quality-baseline.csv").open() as lines:
        quality = list(csv.DictReader(lines))
    evaluation = json.loads((run / "EvaluateModel/processing/evaluation/evaluation.json").read_text())
    support = sum(c["support"] for c in evaluation["per_class"].values())
    assert len(rows) == len(quality) == support > 0
    assert all(int(row["words"]) > 0 for row in rows)  # decoded texts, not empty strings
    assert {row["label"] for row in quality} <= {"-1", "0", "1"}
    assert all(0.0 < float(row["probability"]) <= 1.0 for row in quality)
    package = json.loads(
        next((project / ".sagespec-runs/registry").glob("*/1/model-package.json")).read_text()
    )
    assert set(package["DriftCheckBaselines"]) == {"ModelDataQuality"}
