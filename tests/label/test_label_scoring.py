"""The labeling page's predictions from a BlazingText model.bin: classes decoded from the training format."""

from __future__ import annotations

import pytest

from sagespec.label.scoring import fasttext_predictor


def test_classes_with_spaces_come_back_decoded(tmp_path):
    fasttext = pytest.importorskip("fasttext")
    # blazingtext_format.py writes "very bad" as __label__very%20bad (fastText splits at white space).
    lines = [f"__label__{'very%20bad' if i % 2 else '100%25%20good'} word{i % 2} text" for i in range(60)]
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n")
    model = fasttext.train_supervised(
        str(tmp_path / "train.txt"), epoch=20, lr=1.0, dim=8, bucket=1000, thread=1, verbose=0
    )
    model.save_model(str(tmp_path / "model.bin"))
    predict = fasttext_predictor(tmp_path, lambda text: text)
    [answer] = predict(["word1 text"])
    assert answer["label"] == "very bad"
    assert set(answer["probabilities"]) == {"very bad", "100% good"}
