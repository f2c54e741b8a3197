"""train.py's input pipelines: the TFRecord files preprocess.py wrote (tfrecord_format.py), read with
tf.data into batches of texts alike in length, each padded only as far as its longest text (or, under
XLA, to its length bucket's boundary, so that few shapes are compiled).

Only projects whose model is BERT trained with TensorFlow have this module.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import tensorflow as tf
from tfrecord_format import read_example

SHUFFLE_BUFFER = 10_000
NUM_LENGTH_BUCKETS = 8


class ChannelError(ValueError):
    """A channel that does not hold preprocess.py's TFRecord output: the user has to fix the input."""


def read_classes(directory: Path) -> list[str]:
    path = directory / "labels.json"
    if not path.is_file():
        raise ChannelError(f"{path} is missing; the channel must hold preprocess.py's tfrecord output")
    return [str(c) for c in json.loads(path.read_text(encoding="utf-8"))["classes"]]


def tfrecord_files(directory: Path) -> list[str]:
    files = sorted(str(p) for p in directory.glob("*.tfrecord"))
    if not files:
        raise ChannelError(f"no .tfrecord files in {directory}")
    return files


def count_records(files: list[str]) -> int:
    return int(tf.data.TFRecordDataset(files).reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))


def parse_example(serialized: tf.Tensor, max_seq_length: int) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
    features = read_example(serialized)
    input_ids = tf.cast(features["input_ids"], tf.int32)
    # preprocess.py truncated to its own --max-seq-length; if this run's is shorter, cut again but keep
    # the closing special token ([SEP]) the model saw in pre-training.
    input_ids = tf.cond(
        tf.size(input_ids) > max_seq_length,
        lambda: tf.concat([input_ids[: max_seq_length - 1], input_ids[-1:]], axis=0),
        lambda: input_ids,
    )
    inputs = {"input_ids": input_ids, "attention_mask": tf.ones_like(input_ids)}
    return inputs, tf.cast(features["label"], tf.int32)


def length_buckets(max_seq_length: int) -> list[int]:
    """Bucket boundaries: NUM_LENGTH_BUCKETS equal-width buckets, widths a multiple of 8 (tensor cores).

    ``bucket_by_sequence_length`` puts lengths < boundary in a bucket and, when padding to the boundary,
    pads to boundary - 1, hence the +1.
    """
    width = max(8, math.ceil(max_seq_length / NUM_LENGTH_BUCKETS / 8) * 8)
    return [*range(width + 1, max_seq_length + 1, width), max_seq_length + 1]


@dataclass(frozen=True)
class InputSpec:
    files: list[str]
    batch_size: int  # per replica
    max_seq_length: int
    pad_token_id: int
    seed: int
    static_shapes: bool  # XLA: pad to bucket boundaries so there are few distinct shapes to compile

    def parse(self, serialized: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        return parse_example(serialized, self.max_seq_length)


def _padding_values(spec: InputSpec) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
    return (
        {"input_ids": tf.constant(spec.pad_token_id, tf.int32), "attention_mask": tf.constant(0, tf.int32)},
        tf.constant(0, tf.int32),
    )


def training_dataset(spec: InputSpec, context: tf.distribute.InputContext) -> tf.data.Dataset:
    """Endless, shuffled, length-bucketed batches of spec.batch_size for one input pipeline.

    Endless because every worker must run the same number of steps per epoch (fit's steps_per_epoch);
    per-replica batches because the strategy hands each replica its own element.
    """
    records = tf.data.TFRecordDataset(spec.files, num_parallel_reads=tf.data.AUTOTUNE)
    if context.num_input_pipelines > 1:
        records = records.shard(context.num_input_pipelines, context.input_pipeline_id)
    boundaries = length_buckets(spec.max_seq_length)
    return (
        records.shuffle(SHUFFLE_BUFFER, seed=spec.seed, reshuffle_each_iteration=True)
        .repeat()
        .map(spec.parse, num_parallel_calls=tf.data.AUTOTUNE)
        .bucket_by_sequence_length(
            element_length_func=lambda inputs, label: tf.shape(inputs["input_ids"])[0],
            bucket_boundaries=boundaries,
            # One more than boundaries: the bucket past the last boundary, which no example reaches.
            bucket_batch_sizes=[spec.batch_size] * (len(boundaries) + 1),
            padding_values=_padding_values(spec),
            pad_to_bucket_boundary=spec.static_shapes,
        )
        .prefetch(tf.data.AUTOTUNE)
    )


def evaluation_dataset(spec: InputSpec, global_batch_size: int) -> tf.data.Dataset:
    """Every example exactly once, in file order, padded per batch; Keras splits batches over replicas."""
    records = tf.data.TFRecordDataset(spec.files, num_parallel_reads=tf.data.AUTOTUNE)
    padded_shapes = ({"input_ids": [spec.max_seq_length], "attention_mask": [spec.max_seq_length]}, [])
    dataset = records.map(spec.parse, num_parallel_calls=tf.data.AUTOTUNE).padded_batch(
        global_batch_size,
        padded_shapes=padded_shapes if spec.static_shapes else None,
        padding_values=_padding_values(spec),
    )
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)
