"""evaluate.py's predictions for a BERT model fine-tuned with PyTorch: the test split's token arrays scored
by train.py's export (the encoder, its pooling and classifier.safetensors, the linear head): the forward
pass of train.py's TextClassifier, and of inference.py, which serves the same export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evaluation_inputs import (
    PYTORCH_HEAD_FILE,
    EvaluationError,
    check_model_classes,
    decoded_rows,
    required_file,
    split_parts,
)

BATCH_SIZE = 64


def read_test_texts(test_dir: Path, num_classes: int) -> tuple[list[Any], list[int]]:
    """The test split's texts as token id arrays, and their class indexes."""
    parts = split_parts(test_dir, ".npz", "preprocess.py's token-arrays output")
    from token_arrays_format import TokenArraysError, read_token_arrays  # beside this script

    try:
        arrays = read_token_arrays(parts)
    except TokenArraysError as err:
        raise EvaluationError(f"{err} (preprocess.py's token-arrays output)") from None
    input_ids, offsets, labels = arrays["input_ids"], arrays["offsets"], arrays["labels"].tolist()
    if any(not 0 <= label < num_classes for label in labels):
        raise EvaluationError(f"{test_dir} has class indexes outside 0..{num_classes - 1}")
    return [input_ids[start:end] for start, end in zip(offsets[:-1], offsets[1:], strict=True)], labels


def cut_texts(texts: list[Any], max_length: int) -> list[Any]:
    """Texts longer than max_length cut as train.py cuts them: the closing [SEP] kept."""
    import numpy as np

    return [np.concatenate([t[: max_length - 1], t[-1:]]) if len(t) > max_length else t for t in texts]


def predict(model_dir: Path, test_dir: Path, classes: list[str]) -> tuple[list[str], list[str]]:
    """True and predicted class labels for the test split's token arrays."""
    check_model_classes(model_dir, classes)
    texts, labels = read_test_texts(test_dir, len(classes))  # before the model: a bad split fails fast
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModel

    settings = json.loads((model_dir / "labels.json").read_text(encoding="utf-8"))
    try:
        encoder = AutoModel.from_pretrained(str(model_dir), add_pooling_layer=False, local_files_only=True)
    except (OSError, ValueError) as err:
        raise EvaluationError(
            f"cannot load the encoder of train.py's export: {str(err).splitlines()[0]}"
        ) from None
    encoder.eval()
    weights = load_file(str(required_file(model_dir, PYTORCH_HEAD_FILE, "train.py's export")))
    head = torch.nn.Linear(weights["weight"].shape[1], weights["weight"].shape[0])
    head.load_state_dict(weights)
    mean_pooling = settings.get("pooling") == "mean"
    pad_token_id = int(settings.get("pad_token_id") or 0)
    max_length = int(settings.get("max_seq_length") or encoder.config.max_position_embeddings)
    texts = cut_texts(texts, max_length)

    predicted: list[str] = []
    with torch.inference_mode():
        for start in range(0, len(texts), BATCH_SIZE):
            batch = texts[start : start + BATCH_SIZE]
            # Padded to the batch's longest text; the attention mask keeps the padding out.
            ids = torch.full((len(batch), max(map(len, batch))), pad_token_id, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for row, text in enumerate(batch):
                ids[row, : len(text)] = torch.as_tensor(text, dtype=torch.long)
                mask[row, : len(text)] = 1
            hidden = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
            if mean_pooling:
                weight = mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * weight).sum(1) / weight.sum(1).clamp(min=1)
            else:  # the [CLS] token
                pooled = hidden[:, 0]
            predicted += [classes[i] for i in head(pooled).argmax(-1).tolist()]
    return [classes[i] for i in labels], predicted


def baseline_rows(
    model_dir: Path, test_dir: Path, classes: list[str]
) -> list[tuple[str, str, str, float | None]]:
    """Each test text, its class, and the handler's answer."""
    arrays, labels = read_test_texts(test_dir, len(classes))
    token_ids = [[int(i) for i in array] for array in arrays]
    return decoded_rows(model_dir, token_ids, [classes[i] for i in labels])
