"""The training format of a BERT model: TFRecord files of token ids, written by preprocess.py.

Only projects whose model is BERT trained with TensorFlow have this module; preprocess.py imports it
when it is asked for --output-format tfrecord, and train.py's input pipelines (tfrecord_batches.py) and
evaluate.py's predictions (predict_tensorflow.py) read the examples back with :func:`read_example`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

TOKENIZE_BATCH_SIZE = 2048  # texts per call to the (Rust, multi-threaded) fast tokenizer


class TokenizerError(ValueError):
    """The tokenizer cannot be loaded: a problem with --tokenizer that the user has to fix."""


def load_tokenizer(name_or_path: str) -> Any:
    from transformers import AutoTokenizer

    looks_local = name_or_path.startswith(("/", "./", "../", "~"))
    if looks_local and not Path(name_or_path).expanduser().is_dir():
        raise TokenizerError(f"tokenizer folder {name_or_path} does not exist")
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, use_fast=True)
    except (OSError, ValueError) as err:
        raise TokenizerError(f"cannot load tokenizer {name_or_path!r}: {str(err).splitlines()[0]}") from None
    if not tokenizer.is_fast:
        raise TokenizerError(f"tokenizer {name_or_path!r} has no fast (Rust) implementation")
    return tokenizer


def write_tfrecord(
    path: Path, texts: Sequence[str], label_ids: Sequence[int], tokenizer: Any, max_seq_length: int
) -> None:
    """One tf.train.Example per (cleaned) text: unpadded ``input_ids`` (special tokens included) and ``label``.

    Padding is left to the training input pipeline, which pads each batch only to its longest example.
    """
    import tensorflow as tf

    def int64_list(values: Sequence[int]) -> tf.train.Feature:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))

    with tf.io.TFRecordWriter(str(path)) as writer:
        for start in range(0, len(texts), TOKENIZE_BATCH_SIZE):
            batch = list(texts[start : start + TOKENIZE_BATCH_SIZE])
            encoded = tokenizer(batch, truncation=True, max_length=max_seq_length)["input_ids"]
            for input_ids, label_id in zip(
                encoded, label_ids[start : start + TOKENIZE_BATCH_SIZE], strict=True
            ):
                example = tf.train.Example(
                    features=tf.train.Features(
                        feature={"input_ids": int64_list(input_ids), "label": int64_list([label_id])}
                    )
                )
                writer.write(example.SerializeToString())


def read_example(serialized: Any) -> dict[str, Any]:
    """One example as :func:`write_tfrecord` wrote it: its ``input_ids`` (int64, as long as the text)
    and its ``label`` (the class index)."""
    import tensorflow as tf

    features = {"input_ids": tf.io.RaggedFeature(tf.int64), "label": tf.io.FixedLenFeature([], tf.int64)}
    return tf.io.parse_single_example(serialized, features)
