"""Fine-tune a BERT-family encoder for text classification with TensorFlow (SageMaker script mode).

Inputs (written by preprocess.py with --output-format tfrecord):
    SM_CHANNEL_TRAIN/*.tfrecord, SM_CHANNEL_VALIDATION/*.tfrecord  -- unpadded input_ids + label index
    SM_CHANNEL_TRAIN/labels.json                                   -- {"classes": [...]} in index order

Hyperparameters arrive as ``--name value`` arguments (SageMaker also puts them in SM_HPS).

The classifier pools the text as its checkpoint was trained to: a sentence-transformers checkpoint says
how in 1_Pooling/config.json (all-MiniLM-L6-v2: the mean of its tokens' vectors), and then the encoder's
token vectors are averaged (padding left out) and a dense layer of its own classifies them; any other
checkpoint gets Hugging Face's sequence classifier ([CLS] and its pooler). The PyTorch script pools the same.

This script reads its inputs, runs the epochs and exports; the modules beside it (SageMaker uploads the
whole folder) hold the rest: tfrecord_batches.py (the input pipelines) and keras_classifier.py (the model
and its optimizer).

Scaling: MirroredStrategy over the GPUs of one instance, MultiWorkerMirroredStrategy over several
instances (TF_CONFIG is built from SM_HOSTS / SM_CURRENT_HOST); the global batch is the per-device
batch_size times the number of replicas. Mixed precision ``auto`` picks bfloat16 on Ampere or newer GPUs,
float16 on older ones and nothing on CPU. Batches are bucketed by length and padded only as far as their
longest example, so short reviews do not pay for max_seq_length.

Managed spot training: the model, optimizer and epoch counter are checkpointed after every epoch to
--checkpoint_dir/<training job name>/; a restarted job resumes after the newest checkpoint. The job's own
folder matters because jobs share the checkpoint S3 prefix, which SageMaker copies in whole at start: the
training jobs of one tuning job run side by side, and a spot restart is the same job (same name) while
another trial is not.

Every epoch prints one line that the training job's metric definitions parse:
    epoch=1 train:loss=0.5123 train:accuracy=0.7012 validation:loss=0.6012 validation:accuracy=0.6801
When the spec has Debugger rules, the chief also writes each epoch's training and validation loss
where the rule jobs read them (debug_tensors.py, SAGESPEC_DEBUG_TENSORS_DIR).

Export (chief worker only) to SM_MODEL_DIR, which SageMaker packs into model.tar.gz:
    config.json, tf_model.h5        the fine-tuned Hugging Face model (save_pretrained), labels in config;
                                    with mean pooling the encoder alone (the head is in saved_model/1)
    tokenizer files                 the tokenizer (save_pretrained), tokenizer.json among them
    labels.json                     {"classes": [...], "max_seq_length": n, "pad_token_id": i,
                                    "pooling": "mean" | "cls"}: the outputs' index order, the length inputs
                                    were truncated to in training, the id they were padded with, the pooling
    saved_model/1/                  TF SavedModel, float32. Signature serving_default:
                                    input_ids, attention_mask (int32 [batch, length])
                                    -> logits, probabilities (float32 [batch, classes])
    code/inference.py, code/lib/    the inference handler and the `tokenizers` package: SageMaker's
                                    TensorFlow Serving image runs them around saved_model/1 so that the
                                    endpoint takes text (see inference.py)
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import tensorflow as tf
import tf_keras
from keras_classifier import PretrainedModelError, SequenceClassifier, build, build_model, hf_model_class
from tfrecord_batches import (
    ChannelError,
    InputSpec,
    count_records,
    evaluation_dataset,
    read_classes,
    tfrecord_files,
    training_dataset,
)
from transformers import AutoTokenizer

try:
    import tracking  # MLflow logging, beside this script when the spec tracks experiments
except ModuleNotFoundError:
    tracking = None
try:
    import debug_tensors  # the losses Debugger's rules read, beside this script when the spec has rules
except ModuleNotFoundError:
    debug_tensors = None

# TF_CONFIG port for MultiWorkerMirroredStrategy (the hosts of one training job can reach each other).
WORKER_PORT = 2222
CHECKPOINTS_TO_KEEP = 2
EPOCH_METRICS = {  # printed name -> Keras log key
    "train:loss": "loss",
    "train:accuracy": "accuracy",
    "validation:loss": "val_loss",
    "validation:accuracy": "val_accuracy",
}


class TrainingError(Exception):
    """A problem with the inputs or hyperparameters that the user has to fix (exit status 2)."""


class OneLineErrorParser(argparse.ArgumentParser):
    """Argument errors as one line on stderr (what the job's failure reason shows), without the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


# ---------------------------------------------------------------------------------------------- configuration


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def _at_least(minimum: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        number = int(value)
        if number < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return number

    return parse


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = OneLineErrorParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--epochs", type=_at_least(1), default=3)
    parser.add_argument("--learning_rate", type=float, default=3e-5)
    parser.add_argument("--batch_size", type=_at_least(1), default=32, help="per device (replica)")
    parser.add_argument("--max_seq_length", type=_at_least(8), default=128)
    parser.add_argument("--warmup_ratio", type=float, default=0.1)
    parser.add_argument("--weight_decay", type=float, default=0.01)
    parser.add_argument("--early_stopping_patience", type=_at_least(0), default=0, help="0 turns it off")
    parser.add_argument("--freeze_encoder", type=_bool, default=False)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--pretrained_model", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--mixed_precision", choices=("auto", "off", "float16", "bfloat16"), default="auto")
    parser.add_argument("--xla", type=_bool, default=False)
    parser.add_argument("--checkpoint_dir", type=Path, default=Path("/opt/ml/checkpoints"))
    args, unknown = parser.parse_known_args(argv)
    if args.learning_rate <= 0:
        parser.error(f"--learning_rate must be > 0, got {args.learning_rate}")
    if not 0 <= args.warmup_ratio < 1:
        parser.error(f"--warmup_ratio must be in [0, 1), got {args.warmup_ratio}")
    if args.weight_decay < 0:
        parser.error(f"--weight_decay must be >= 0, got {args.weight_decay}")
    if unknown:
        # Tolerated rather than fatal: a platform may add its own arguments; a typo still shows up here.
        print(f"ignoring unknown arguments: {' '.join(unknown)}", file=sys.stderr)
    return args


@dataclass(frozen=True)
class Environment:
    """SageMaker's training container contract, with defaults for a run outside SageMaker."""

    model_dir: Path
    train_dir: Path
    validation_dir: Path
    output_data_dir: Path
    hosts: list[str]
    current_host: str
    num_gpus: int
    job_name: str | None  # TRAINING_JOB_NAME: set by SageMaker, not outside it

    @classmethod
    def from_env(cls) -> Environment:
        env = os.environ
        hosts = json.loads(env.get("SM_HOSTS") or "[]")
        visible_gpus = len(tf.config.list_physical_devices("GPU"))
        return cls(
            model_dir=Path(env.get("SM_MODEL_DIR", "/opt/ml/model")),
            train_dir=Path(env.get("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train")),
            validation_dir=Path(env.get("SM_CHANNEL_VALIDATION", "/opt/ml/input/data/validation")),
            output_data_dir=Path(env.get("SM_OUTPUT_DATA_DIR", "/opt/ml/output/data")),
            hosts=hosts,
            current_host=env.get("SM_CURRENT_HOST") or (hosts[0] if hosts else "localhost"),
            # SM_NUM_GPUS can only narrow what TensorFlow sees, never add to it.
            num_gpus=min(int(env.get("SM_NUM_GPUS", visible_gpus)), visible_gpus),
            job_name=env.get("TRAINING_JOB_NAME") or None,
        )

    def checkpoint_dir(self, root: Path) -> Path:
        """This job's checkpoint folder under ``root``: one per training job, kept across spot restarts."""
        return root / self.job_name if self.job_name else root

    @property
    def is_multi_worker(self) -> bool:
        return len(self.hosts) > 1

    @property
    def is_chief(self) -> bool:
        return not self.hosts or self.current_host == self.hosts[0]


# ---------------------------------------------------------------------------------------------- devices


def make_strategy(env: Environment) -> tf.distribute.Strategy:
    """Create the distribution strategy. Must run before any other TensorFlow op (a MWMS requirement)."""
    if env.is_multi_worker:
        if "TF_CONFIG" not in os.environ:
            cluster = {"worker": [f"{host}:{WORKER_PORT}" for host in env.hosts]}
            task = {"type": "worker", "index": env.hosts.index(env.current_host)}
            os.environ["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": task})
        return tf.distribute.MultiWorkerMirroredStrategy()
    if env.num_gpus > 1:
        return tf.distribute.MirroredStrategy([f"/gpu:{i}" for i in range(env.num_gpus)])
    # One GPU or CPU only: the default strategy places everything on the GPU when there is one.
    return tf.distribute.get_strategy()


def precision_policy(requested: str, num_gpus: int) -> str:
    """The Keras dtype policy for --mixed_precision."""
    if requested == "off":
        return "float32"
    if requested in ("float16", "bfloat16"):
        if num_gpus == 0:
            print(
                f"warning: mixed_precision={requested} on CPU is usually slower than float32", file=sys.stderr
            )
        return f"mixed_{requested}"
    if num_gpus == 0:
        return "float32"  # auto on CPU: float16 kernels are slow there, bfloat16 only pays off with AMX
    capabilities = [
        tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0))
        for gpu in tf.config.list_physical_devices("GPU")[:num_gpus]
    ]
    # bfloat16 needs Ampere (8.0) or newer; it has float32's range, so no loss scaling is needed.
    return "mixed_bfloat16" if min(capabilities) >= (8, 0) else "mixed_float16"


# ---------------------------------------------------------------------------------------------- checkpoints


class EpochCheckpoint(tf_keras.callbacks.Callback):
    """Save model, optimizer and the number of finished epochs after every epoch."""

    def __init__(self, manager: tf.train.CheckpointManager, finished_epochs: tf.Variable) -> None:
        super().__init__()
        self.manager = manager
        self.finished_epochs = finished_epochs

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self.finished_epochs.assign(epoch + 1)
        self.manager.save(checkpoint_number=epoch + 1)


def restore_latest(checkpoint: tf.train.Checkpoint, directory: Path) -> int:
    """Restore the newest checkpoint in ``directory``; return the number of epochs it had finished."""
    latest = tf.train.latest_checkpoint(str(directory))
    if latest is None:
        return 0
    try:
        checkpoint.restore(latest).assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as err:
        raise TrainingError(
            f"checkpoint {latest} does not fit this model (another pretrained_model or freeze_encoder?); "
            f"empty {directory} to start over: {str(err).splitlines()[0]}"
        ) from None
    finished = int(checkpoint.finished_epochs.numpy())
    print(f"resuming from {latest}: {finished} epoch(s) already done")
    return finished


class EpochMetricsLogger(tf_keras.callbacks.Callback):
    """One line per epoch in the format the training job's metric definitions parse."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        logs = logs or {}
        values = " ".join(
            f"{name}={float(logs.get(key, math.nan)):.4f}" for name, key in EPOCH_METRICS.items()
        )
        print(f"epoch={epoch + 1} {values}", flush=True)


class DebuggerLosses(tf_keras.callbacks.Callback):
    """Each epoch's losses where SageMaker Debugger's rule jobs read them (see debug_tensors.py)."""

    def __init__(self, writer: debug_tensors.LossWriter) -> None:
        super().__init__()
        self.writer = writer

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        logs = logs or {}
        train_loss, validation_loss = logs.get("loss", math.nan), logs.get("val_loss", math.nan)
        self.writer.write_epoch(epoch + 1, float(train_loss), float(validation_loss))

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        self.writer.close()


def make_callbacks(
    manager: tf.train.CheckpointManager,
    finished_epochs: tf.Variable,
    early_stopping_patience: int,
    is_chief: bool,
) -> list[tf_keras.callbacks.Callback]:
    callbacks = [EpochCheckpoint(manager, finished_epochs), EpochMetricsLogger()]
    # Set when the spec has Debugger rules (model.debugger.rules); the chief writes for the whole job.
    losses = debug_tensors.LossWriter.from_env() if debug_tensors and is_chief else None
    if losses:
        callbacks.append(DebuggerLosses(losses))
    # Set when the spec asks for TensorBoard (model.debugger.tensorboard): SageMaker uploads the folder.
    tensorboard_dir = os.environ.get("SAGESPEC_TENSORBOARD_DIR")
    if tensorboard_dir:
        callbacks.append(tf_keras.callbacks.TensorBoard(log_dir=tensorboard_dir, update_freq="epoch"))
    if early_stopping_patience:
        # Its patience counter starts afresh when a job resumes from a checkpoint.
        callbacks.append(
            tf_keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=early_stopping_patience, restore_best_weights=True
            )
        )
    return callbacks


# ---------------------------------------------------------------------------------------------- export


def save_serving_signature(model: SequenceClassifier, path: Path) -> None:
    """A SavedModel holding the weights and one signature, serving_default.

    Only the variables and the signature's graph are saved, not the Keras object (saving that traces
    every layer's call, which takes longer than the whole rest of the export).
    """
    module = tf.Module()
    module.weights = list(model.variables)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None], tf.int32, name="input_ids"),
            tf.TensorSpec([None, None], tf.int32, name="attention_mask"),
        ]
    )
    def serve(input_ids: tf.Tensor, attention_mask: tf.Tensor) -> dict[str, tf.Tensor]:
        logits = model({"input_ids": input_ids, "attention_mask": attention_mask}, training=False)
        return {"logits": logits, "probabilities": tf.nn.softmax(logits, axis=-1)}

    module.serve = serve
    tf.saved_model.save(module, str(path), signatures={"serving_default": serve})


def package_serving_code(model_dir: Path) -> None:
    """code/inference.py and code/lib/tokenizers: what SageMaker's TensorFlow Serving image runs.

    With a code/lib/ folder that image installs nothing (it ignores code/requirements.txt), which is what
    an endpoint with network isolation needs. The `tokenizers` files are copied from this job's own
    environment, the version that tokenized the training data; its wheels are built for the stable ABI
    (abi3), so the copy loads under the serving image's Python too.
    """
    code = model_dir / "code"
    shutil.rmtree(code, ignore_errors=True)
    (code / "lib").mkdir(parents=True)
    shutil.copy2(Path(__file__).with_name("inference.py"), code / "inference.py")
    for file in importlib.metadata.distribution("tokenizers").files or []:
        if ".." in file.parts or "__pycache__" in file.parts:
            continue  # console scripts outside site-packages; byte code the serving Python rebuilds
        target = code / "lib" / file
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file.locate(), target)


def export(
    model_dir: Path, model: SequenceClassifier, tokenizer: Any, classes: list[str], max_seq_length: int
) -> None:
    """Write the Hugging Face model, tokenizer, labels.json, a float32 SavedModel and the serving code."""
    model_dir.mkdir(parents=True, exist_ok=True)
    model.hf_model.save_pretrained(str(model_dir))
    tokenizer.save_pretrained(str(model_dir))
    labels = {
        "classes": classes,
        "max_seq_length": max_seq_length,
        "pad_token_id": tokenizer.pad_token_id or 0,
        "pooling": model.pooling,
    }
    (model_dir / "labels.json").write_text(json.dumps(labels, indent=2) + "\n", encoding="utf-8")

    # Reload in float32: a SavedModel traced under a mixed-precision policy would run in half precision
    # on every host, including CPU-only inference endpoints.
    tf_keras.mixed_precision.set_global_policy("float32")
    hf_model = hf_model_class(model.pooling).from_pretrained(str(model_dir))
    serving_model = SequenceClassifier(hf_model, model.pooling, len(classes))
    build(serving_model)
    if model.pooling == "mean":  # the head is this model's own, not in the Hugging Face export
        serving_model.head.set_weights([weight.astype("float32") for weight in model.head.get_weights()])
    save_serving_signature(serving_model, model_dir / "saved_model" / "1")
    exported = "model, tokenizer, labels.json, saved_model/1"
    if Path(__file__).with_name("inference.py").is_file():  # a project without an endpoint has no handler
        package_serving_code(model_dir)
        exported += " and code/"
    print(f"exported {exported} to {model_dir}")


# ---------------------------------------------------------------------------------------------- main


def train(args: argparse.Namespace, env: Environment) -> None:
    strategy = make_strategy(env)
    policy = precision_policy(args.mixed_precision, env.num_gpus)
    replicas = strategy.num_replicas_in_sync
    global_batch_size = args.batch_size * replicas
    print(
        f"strategy={type(strategy).__name__} replicas={replicas} global_batch_size={global_batch_size} "
        f"precision={policy} xla={args.xla} chief={env.is_chief}"
    )
    tf_keras.utils.set_random_seed(args.seed)

    classes = read_classes(env.train_dir)
    if read_classes(env.validation_dir) != classes:
        raise TrainingError("train and validation labels.json list different classes")
    try:
        tokenizer = AutoTokenizer.from_pretrained(args.pretrained_model)
    except (OSError, ValueError) as err:
        message = str(err).splitlines()[0]
        raise TrainingError(f"cannot load the tokenizer of {args.pretrained_model!r}: {message}") from None
    if not tokenizer.is_fast:
        # Serving tokenizes with `tokenizers` from the exported tokenizer.json, which only fast ones have.
        raise TrainingError(f"{args.pretrained_model!r} has no fast tokenizer (tokenizer.json)")
    train_files, validation_files = tfrecord_files(env.train_dir), tfrecord_files(env.validation_dir)
    train_count = count_records(train_files)
    steps_per_epoch = max(1, math.ceil(train_count / global_batch_size))
    validation_count = count_records(validation_files)
    print(f"examples: train={train_count} validation={validation_count}; steps_per_epoch={steps_per_epoch}")

    def input_spec(files: list[str]) -> InputSpec:
        return InputSpec(
            files=files,
            batch_size=args.batch_size,
            max_seq_length=args.max_seq_length,
            pad_token_id=tokenizer.pad_token_id or 0,
            seed=args.seed,
            static_shapes=args.xla,
        )

    with strategy.scope():
        model = build_model(args, classes, steps_per_epoch, policy)
    finished_epochs = tf.Variable(0, dtype=tf.int64, trainable=False, name="finished_epochs")
    checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer, finished_epochs=finished_epochs)
    job_checkpoints = env.checkpoint_dir(args.checkpoint_dir)
    initial_epoch = restore_latest(checkpoint, job_checkpoints)

    # Every worker saves (saving may involve collectives); only the chief saves where SageMaker syncs to S3.
    checkpoint_dir = str(job_checkpoints) if env.is_chief else tempfile.mkdtemp(prefix="checkpoints-")
    manager = tf.train.CheckpointManager(checkpoint, checkpoint_dir, max_to_keep=CHECKPOINTS_TO_KEEP)
    if initial_epoch < args.epochs:
        train_spec = input_spec(train_files)
        started = time.monotonic()
        history = model.fit(
            tf_keras.utils.experimental.DatasetCreator(lambda context: training_dataset(train_spec, context)),
            steps_per_epoch=steps_per_epoch,
            validation_data=evaluation_dataset(input_spec(validation_files), global_batch_size),
            epochs=args.epochs,
            initial_epoch=initial_epoch,
            callbacks=make_callbacks(manager, finished_epochs, args.early_stopping_patience, env.is_chief),
            verbose=0,
        )
        print(f"trained {len(history.epoch)} epoch(s) in {time.monotonic() - started:.1f}s")
        if env.is_chief:
            env.output_data_dir.mkdir(parents=True, exist_ok=True)
            (env.output_data_dir / "history.json").write_text(json.dumps(history.history, indent=2) + "\n")
            if tracking:
                logged = [env.output_data_dir / "history.json"]
                tracking.log_step("TrainModel", params=vars(args), history=history.history, artifacts=logged)
    else:
        print(f"all {args.epochs} epochs were already done; exporting")

    if env.is_chief:
        export(env.model_dir, model, tokenizer, classes, args.max_seq_length)
    else:
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
    if env.is_multi_worker:
        wait_for_all_workers(strategy)


def wait_for_all_workers(strategy: tf.distribute.Strategy) -> None:
    """A token all-reduce as a barrier at the end of training.

    A worker that exits while the chief is still exporting makes the chief's collective runtime abort
    ("tasks are unhealthy").
    """
    strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.constant(1.0)), axis=None)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        train(args, Environment.from_env())
    except (TrainingError, ChannelError, PretrainedModelError) as err:
        print(f"train.py: error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
