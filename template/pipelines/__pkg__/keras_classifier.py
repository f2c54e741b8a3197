"""The model train.py fine-tunes, in Keras: a pretrained Hugging Face TF model, pooled as its checkpoint
was trained to, with a classification head; and its optimizer (AdamW, warm-up then linear decay).

A sentence-transformers checkpoint says how it pools in 1_Pooling/config.json (all-MiniLM-L6-v2: the mean
of its tokens' vectors; see checkpoint_pooling.py); then the encoder's token vectors are averaged (padding
left out) and a dense layer of this model's own classifies them. Any other checkpoint gets Hugging Face's
sequence classifier ([CLS] and its pooler). The PyTorch script pools the same.

Only projects whose model is BERT trained with TensorFlow have this module.
"""

from __future__ import annotations

import argparse
from typing import Any

import tensorflow as tf
import tf_keras
from checkpoint_pooling import checkpoint_pooling
from safetensors import safe_open
from safetensors.numpy import load_file
from transformers import AutoConfig, TFAutoModel, TFAutoModelForSequenceClassification, TFPreTrainedModel
from transformers.modeling_tf_pytorch_utils import load_pytorch_state_dict_in_tf2_model
from transformers.utils import cached_file


class PretrainedModelError(ValueError):
    """pretrained_model cannot be loaded: the user has to name another one."""


def hf_model_class(pooling: str) -> type[TFPreTrainedModel]:
    """The Hugging Face class a pooling takes: the encoder alone for mean pooling (SequenceClassifier adds
    the head), the sequence classifier with its own [CLS] head otherwise."""
    return TFAutoModel if pooling == "mean" else TFAutoModelForSequenceClassification


def load_pretrained(source: str, classes: list[str], pooling: str) -> TFPreTrainedModel:
    """``source``'s encoder weights in a TF model: a sequence classifier with a new head for ``classes``
    ([CLS] pooling), or the encoder alone (mean pooling: SequenceClassifier adds the head).

    Many hub models (all-MiniLM-L6-v2 among them) ship only PyTorch-format safetensors. TensorFlow cannot
    load those without torch in transformers 4.57, so they are read as numpy arrays and converted here.
    """
    try:
        config = AutoConfig.from_pretrained(
            source,
            num_labels=len(classes),
            id2label=dict(enumerate(classes)),
            label2id={label: i for i, label in enumerate(classes)},
        )
    except (OSError, ValueError) as err:
        raise PretrainedModelError(
            f"cannot load pretrained_model {source!r}: {str(err).splitlines()[0]}"
        ) from None
    model_class = hf_model_class(pooling)
    # A checkpoint that already has a classification head for another label set gets a new one.
    load_options = {"config": config, "ignore_mismatched_sizes": True}
    if cached_file(source, "tf_model.h5", _raise_exceptions_for_missing_entries=False):
        return model_class.from_pretrained(source, use_safetensors=False, **load_options)
    weights = cached_file(source, "model.safetensors", _raise_exceptions_for_missing_entries=False)
    if weights is None:
        raise PretrainedModelError(
            f"{source!r} has neither tf_model.h5 nor model.safetensors (sharded weights?)"
        )
    with safe_open(weights, framework="np") as archive:
        weight_format = (archive.metadata() or {}).get("format", "pt")
    if weight_format == "tf":
        return model_class.from_pretrained(source, **load_options)
    model = model_class.from_config(config)
    model.build_in_name_scope()
    # Older PyTorch checkpoints (all-MiniLM-L6-v2's among them) saved the position ids, a constant the TF
    # model makes itself: left out, else transformers warns that they went unused.
    state = {name: array for name, array in load_file(weights).items() if not name.endswith("position_ids")}
    # Missing keys are allowed: the classification head is new (transformers logs what it initialised).
    load_pytorch_state_dict_in_tf2_model(
        model, state, tf_inputs=False, allow_missing_keys=True, ignore_mismatched_sizes=True
    )
    return model


class SequenceClassifier(tf_keras.Model):
    """A Hugging Face TF model as a classifier that Keras sees giving float32 logits.

    [CLS] pooling: the Hugging Face sequence classifier as it is. Mean pooling: the encoder's token vectors
    averaged over each text (padding left out), dropout, and a dense layer of this model's own.
    Under a mixed-precision policy the classifier computes in float16/bfloat16; the softmax and loss must
    not, so the logits are cast back to float32 here (the "keep the output layer float32" rule).
    """

    def __init__(self, hf_model: TFPreTrainedModel, pooling: str, num_classes: int) -> None:
        super().__init__()
        self.hf_model = hf_model
        self.pooling = pooling
        if pooling == "mean":
            config = hf_model.config
            # The encoder's own dropout rate (DistilBERT's config names it `dropout`).
            rate = getattr(config, "hidden_dropout_prob", getattr(config, "dropout", 0.1))
            self.dropout = tf_keras.layers.Dropout(rate)
            stddev = getattr(config, "initializer_range", 0.02)
            initializer = tf_keras.initializers.TruncatedNormal(stddev=stddev)
            self.head = tf_keras.layers.Dense(num_classes, kernel_initializer=initializer, name="classifier")
            # The encoder's pooler ([CLS] through a dense layer) takes no part: keep it out of training.
            pooler = getattr(getattr(hf_model, hf_model.base_model_prefix, None), "pooler", None)
            if pooler is not None:
                pooler.trainable = False

    def call(self, inputs: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        outputs = self.hf_model(
            input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], training=training
        )
        if self.pooling != "mean":
            return tf.cast(outputs.logits, tf.float32)
        hidden = outputs.last_hidden_state
        mask = tf.cast(inputs["attention_mask"], hidden.dtype)[:, :, None]
        pooled = tf.reduce_sum(hidden * mask, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)
        return tf.cast(self.head(self.dropout(pooled, training=training)), tf.float32)


class WarmupLinearDecay(tf_keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to ``peak`` over ``warmup_steps``, then linear decay to 0 at ``total_steps``."""

    def __init__(self, peak: float, warmup_steps: int, total_steps: int) -> None:
        self.peak = peak
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps

    def __call__(self, step: tf.Tensor) -> tf.Tensor:
        step = tf.cast(step, tf.float32) + 1.0
        warmup = self.peak * step / max(1, self.warmup_steps)
        remaining = (self.total_steps - step) / max(1, self.total_steps - self.warmup_steps)
        decay = self.peak * tf.maximum(0.0, remaining)
        return tf.where(step <= self.warmup_steps, warmup, decay)

    def get_config(self) -> dict[str, Any]:
        return {"peak": self.peak, "warmup_steps": self.warmup_steps, "total_steps": self.total_steps}


def make_optimizer(args: argparse.Namespace, steps_per_epoch: int) -> tf_keras.optimizers.Optimizer:
    total_steps = steps_per_epoch * args.epochs
    schedule = WarmupLinearDecay(args.learning_rate, int(total_steps * args.warmup_ratio), total_steps)
    # tf_keras (Keras 2) optimizer: Hugging Face TF models reject Keras 3 objects.
    optimizer = tf_keras.optimizers.AdamW(
        learning_rate=schedule, weight_decay=args.weight_decay, epsilon=1e-8, global_clipnorm=1.0
    )
    # As in BERT's recipe, no weight decay on biases and LayerNorm parameters.
    optimizer.exclude_from_weight_decay(var_names=["bias", "LayerNorm", "layer_norm"])
    return optimizer


def build_model(
    args: argparse.Namespace, classes: list[str], steps_per_epoch: int, policy: str
) -> SequenceClassifier:
    """Create and compile the model; call inside the strategy's scope."""
    tf_keras.mixed_precision.set_global_policy(policy)
    pooling = checkpoint_pooling(args.pretrained_model)
    hf_model = load_pretrained(args.pretrained_model, classes, pooling)
    if args.freeze_encoder:
        getattr(hf_model, hf_model.base_model_prefix).trainable = False
    model = SequenceClassifier(hf_model, pooling, len(classes))
    build(model)  # create the variables before compile / restore
    model.compile(
        # compile wraps the optimizer in a LossScaleOptimizer under mixed_float16.
        optimizer=make_optimizer(args, steps_per_epoch),
        loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[tf_keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile=args.xla,
    )
    # Create the optimizer's slots now so a checkpoint restores into them immediately.
    inner = getattr(model.optimizer, "inner_optimizer", model.optimizer)
    inner.build(model.trainable_variables)
    return model


def build(model: SequenceClassifier) -> None:
    """Create the model's variables (one call on a dummy batch)."""
    dummy = tf.ones((1, 8), tf.int32)
    model({"input_ids": dummy, "attention_mask": dummy})
