"""evaluate.py's predictions for a BERT model fine-tuned with TensorFlow: the test split's TFRecords scored
through the signature of train.py's exported SavedModel."""

from __future__ import annotations

import json
from pathlib import Path

from evaluation_inputs import (
    EvaluationError,
    check_model_classes,
    decoded_rows,
    required_file,
    split_parts,
)
from tfrecord_format import read_example

BATCH_SIZE = 64


def record_files(test_dir: Path) -> list[str]:
    return [str(path) for path in split_parts(test_dir, ".tfrecord", "preprocess.py's tfrecord output")]


def predict(model_dir: Path, test_dir: Path, classes: list[str]) -> tuple[list[str], list[str]]:
    """True and predicted class labels for the test split's TFRecords."""
    check_model_classes(model_dir, classes)
    records = record_files(test_dir)  # before TensorFlow and the model load: a split without any fails fast
    import tensorflow as tf

    config_path = required_file(model_dir, "config.json", "train.py's export")
    pad_token_id = json.loads(config_path.read_text(encoding="utf-8")).get("pad_token_id") or 0
    saved_model = model_dir / "saved_model" / "1"
    if not (saved_model / "saved_model.pb").is_file():
        raise EvaluationError(f"no SavedModel in {saved_model} (train.py's export)")
    serve = tf.saved_model.load(str(saved_model)).signatures["serving_default"]

    def parse(serialized: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        features = read_example(serialized)
        input_ids = tf.cast(features["input_ids"], tf.int32)
        return {"input_ids": input_ids, "attention_mask": tf.ones_like(input_ids)}, features["label"]

    padding = (
        {"input_ids": tf.constant(pad_token_id, tf.int32), "attention_mask": tf.constant(0, tf.int32)},
        tf.constant(0, tf.int64),
    )
    # Dynamic padding: each batch is padded to its own longest example, not to max_seq_length.
    batches = (
        tf.data.TFRecordDataset(records)  # the files one after the other, in the order given
        .map(parse, num_parallel_calls=tf.data.AUTOTUNE)
        .padded_batch(BATCH_SIZE, padding_values=padding)
        .prefetch(tf.data.AUTOTUNE)
    )
    truth, predicted = [], []
    for inputs, labels in batches:
        logits = serve(**inputs)["logits"]
        truth += [classes[i] for i in labels.numpy()]
        predicted += [classes[i] for i in tf.argmax(logits, axis=-1).numpy()]
    return truth, predicted


def baseline_rows(
    model_dir: Path, test_dir: Path, classes: list[str]
) -> list[tuple[str, str, str, float | None]]:
    """Each test text, its class, and the handler's answer."""
    import tensorflow as tf

    examples = [read_example(record) for record in tf.data.TFRecordDataset(record_files(test_dir))]
    token_ids = [example["input_ids"].numpy().tolist() for example in examples]
    return decoded_rows(model_dir, token_ids, [classes[int(example["label"])] for example in examples])
