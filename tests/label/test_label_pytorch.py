"""`sagespec local label` with a PyTorch BERT model: a real local run (token arrays, train.py with a tiny
BERT for one epoch, evaluation, registration), then the labeling page's scoring of the test split through
the project's inference handler."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")


def _tiny_bert(folder: Path, texts: list[str]) -> Path:
    """A 2-layer BERT from a config and a WordPiece tokenizer trained on ``texts``: no hub, seconds."""
    wordpiece = tokenizers.Tokenizer(tokenizers.models.WordPiece(unk_token="[UNK]"))
    wordpiece.normalizer = tokenizers.normalizers.BertNormalizer(lowercase=True)
    wordpiece.pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    wordpiece.train_from_iterator(
        texts, tokenizers.trainers.WordPieceTrainer(vocab_size=800, special_tokens=specials)
    )
    wordpiece.post_processor = tokenizers.processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[(token, wordpiece.token_to_id(token)) for token in ("[CLS]", "[SEP]")],
    )
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=wordpiece, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]"
    )
    config = transformers.BertConfig(
        vocab_size=wordpiece.get_vocab_size(),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=128,
    )
    transformers.BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.slow
def test_a_pytorch_bert_run_is_scored_through_the_handler(
    tmp_path: Path, monkeypatch, labeling_spec, generate_project
) -> None:
    from sagespec.label.project import load_labeling_project
    from sagespec.label.scoring import latest_run, score_run
    from sagespec.local.runner import RunOptions, run_pipeline

    spec = labeling_spec
    spec["model"] = {
        "type": "bert",
        "framework": "pytorch",
        "pretrained_model": "sentence-transformers/all-MiniLM-L6-v2",
        "hyperparameters": {"epochs": 1, "batch_size": 32, "max_seq_length": 32},
    }
    root = generate_project(tmp_path / "work", spec)
    with (tmp_path / "work" / "reviews.csv").open(newline="", encoding="utf-8") as f:
        texts = [row["Review Text"] for row in csv.DictReader(f)]
    model = _tiny_bert(tmp_path / "tiny-bert", texts)
    monkeypatch.setenv("USE_TF", "0")  # a PyTorch project's steps never need TensorFlow
    result = run_pipeline(
        RunOptions(project_dir=root, model=model, max_rows=300, quiet=True, out=io.StringIO())
    )
    assert result.status == "succeeded" and result.package is not None

    project = load_labeling_project(root)
    scored, source, served = score_run(project, latest_run(root))
    assert served == f"pipelines/{project.spec.project.package}/inference.py"
    assert source.artifact == result.package.path / "model.tar.gz"  # the model the run registered
    evaluation = json.loads((result.package.path / "evaluation.json").read_text())
    classes = evaluation["confusion_matrix"]["labels"]
    # Every text of the test split that evaluate.py scored, with a prediction of the registered model.
    assert len(scored) == sum(c["support"] for c in evaluation["per_class"].values()) > 0
    for item in scored:
        prediction = item.prediction
        assert list(prediction["probabilities"]) == classes and prediction["label"] in classes
        assert prediction["confidence"] == prediction["probabilities"][prediction["label"]]
        assert sum(prediction["probabilities"].values()) == pytest.approx(1, abs=1e-4)
