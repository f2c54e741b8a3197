"""Fine-tune a BERT-family encoder for text classification with PyTorch (SageMaker script mode).

Inputs (written by preprocess.py with --output-format token-arrays):
    SM_CHANNEL_TRAIN/*.npz, SM_CHANNEL_VALIDATION/*.npz  -- token ids of every text back to back
                                                         (input_ids), where each text starts (offsets)
                                                         and its label index (labels)
    SM_CHANNEL_TRAIN/labels.json                         -- {"classes": [...]} in index order

Hyperparameters arrive as ``--name value`` arguments (SageMaker also puts them in SM_HPS).

Scaling: one process per GPU. SageMaker starts them with torchrun when the training job's distributed
config asks for it (on one instance or several); torchrun sets RANK, WORLD_SIZE and LOCAL_RANK, and
the model is wrapped in DistributedDataParallel. Without torchrun it is one process on one GPU or on the
CPU, which is what `make local` runs. The global batch is batch_size x processes x
gradient_accumulation_steps. Mixed precision ``auto`` is bfloat16 autocast on Ampere or newer GPUs,
float16 with a gradient scaler on older ones, and float32 on CPU. Batches hold texts of similar length
and are padded only to their longest text, so short reviews do not pay for max_seq_length.

The classifier is the encoder, the pooling its checkpoint was trained with (a sentence-transformers
checkpoint says so in 1_Pooling/config.json: mean pooling for all-MiniLM-L6-v2; otherwise the [CLS]
token), dropout and one linear layer.

This script reads its inputs, runs the epochs and exports; the modules beside it (SageMaker uploads the
whole folder) hold the rest: token_batches.py (reading the token arrays, forming batches),
text_classifier.py (the model) and training_loop.py (device, precision, optimizer, an epoch, checkpoints).

Managed spot training: model, optimizer, schedule and epoch counter are saved after every epoch to
--checkpoint_dir/<training job name>/; a restarted job resumes after the newest checkpoint (see
train.py's TensorFlow twin for why each job has its own folder).

Every epoch prints one line that the training job's metric definitions parse:
    epoch=1 train:loss=0.5123 train:accuracy=0.7012 validation:loss=0.6012 validation:accuracy=0.6801
When the spec has Debugger rules, the chief also writes each epoch's training and validation loss
where the rule jobs read them (debug_tensors.py, SAGESPEC_DEBUG_TENSORS_DIR).

Export (rank 0 only) to SM_MODEL_DIR, which SageMaker packs into model.tar.gz:
    config.json, model.safetensors   the fine-tuned encoder (save_pretrained)
    classifier.safetensors           the classification head
    tokenizer files                  the tokenizer (save_pretrained), tokenizer.json among them
    labels.json                      {"classes": [...], "max_seq_length": n, "pad_token_id": i,
                                     "pooling": "mean" | "cls"}
    code/inference.py                the handler the Hugging Face PyTorch inference image runs (model_fn,
                                     input_fn, predict_fn, output_fn); it needs no network
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import torch
import torch.distributed as dist
from safetensors.torch import save_file
from text_classifier import TextClassifier, load_pretrained
from token_arrays_format import TokenArraysError
from token_batches import TokenizedTexts, full_batches_per_process, read_classes
from training_loop import CheckpointError, EpochResult, Trainer, make_trainer, start_processes
from transformers import AutoTokenizer

try:
    import tracking  # MLflow logging, beside this script when the spec tracks experiments
except ModuleNotFoundError:
    tracking = None
try:
    import debug_tensors  # the losses Debugger's rules read, beside this script when the spec has rules
except ModuleNotFoundError:
    debug_tensors = None


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
    parser.add_argument("--batch_size", type=_at_least(1), default=32, help="per process (GPU)")
    parser.add_argument("--gradient_accumulation_steps", type=_at_least(1), default=1)
    parser.add_argument("--max_seq_length", type=_at_least(8), default=128)
    parser.add_argument("--warmup_ratio", type=float, default=0.1)
    parser.add_argument("--weight_decay", type=float, default=0.01)
    parser.add_argument("--dropout", type=float, default=0.1, help="before the classification layer")
    parser.add_argument("--early_stopping_patience", type=_at_least(0), default=0, help="0 turns it off")
    parser.add_argument("--freeze_encoder", type=_bool, default=False)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--pretrained_model", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--mixed_precision", choices=("auto", "off", "float16", "bfloat16"), default="auto")
    parser.add_argument("--compile", type=_bool, default=False, help="torch.compile the model")
    parser.add_argument("--checkpoint_dir", type=Path, default=Path("/opt/ml/checkpoints"))
    args, unknown = parser.parse_known_args(argv)
    if args.learning_rate <= 0:
        parser.error(f"--learning_rate must be > 0, got {args.learning_rate}")
    if not 0 <= args.warmup_ratio < 1:
        parser.error(f"--warmup_ratio must be in [0, 1), got {args.warmup_ratio}")
    if args.weight_decay < 0:
        parser.error(f"--weight_decay must be >= 0, got {args.weight_decay}")
    if not 0 <= args.dropout < 1:
        parser.error(f"--dropout must be in [0, 1), got {args.dropout}")
    if unknown:
        # Tolerated rather than fatal: a platform may add its own arguments; a typo still shows up here.
        print(f"ignoring unknown arguments: {' '.join(unknown)}", file=sys.stderr)
    return args


@dataclass(frozen=True)
class Environment:
    """SageMaker's training container contract and torchrun's variables, with defaults outside both."""

    model_dir: Path
    train_dir: Path
    validation_dir: Path
    output_data_dir: Path
    job_name: str | None  # TRAINING_JOB_NAME: set by SageMaker, not outside it
    rank: int  # this process among all processes of the job (torchrun's RANK)
    local_rank: int  # this process among those of its instance: the GPU it uses
    world_size: int

    @classmethod
    def from_env(cls) -> Environment:
        env = os.environ
        return cls(
            model_dir=Path(env.get("SM_MODEL_DIR", "/opt/ml/model")),
            train_dir=Path(env.get("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train")),
            validation_dir=Path(env.get("SM_CHANNEL_VALIDATION", "/opt/ml/input/data/validation")),
            output_data_dir=Path(env.get("SM_OUTPUT_DATA_DIR", "/opt/ml/output/data")),
            job_name=env.get("TRAINING_JOB_NAME") or None,
            rank=int(env.get("RANK", "0")),
            local_rank=int(env.get("LOCAL_RANK", "0")),
            world_size=int(env.get("WORLD_SIZE", "1")),
        )

    def checkpoint_dir(self, root: Path) -> Path:
        """This job's checkpoint folder under ``root``: one per training job, kept across spot restarts."""
        return root / self.job_name if self.job_name else root

    @property
    def is_chief(self) -> bool:
        return self.rank == 0


# ---------------------------------------------------------------------------------------------- training


@dataclass
class TrainingSummary:
    epochs: list[EpochResult]
    precision: str
    processes: int
    parameters: int


def train(args: argparse.Namespace, env: Environment) -> TrainingSummary:
    device = start_processes(env.local_rank, env.world_size)
    random.seed(args.seed)
    torch.manual_seed(args.seed)
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
    train_data = TokenizedTexts.read(env.train_dir, len(classes), args.max_seq_length)
    validation_data = TokenizedTexts.read(env.validation_dir, len(classes), args.max_seq_length)
    batches_per_epoch = full_batches_per_process(len(train_data), args.batch_size, env.world_size)
    if batches_per_epoch == 0:
        raise TrainingError(
            f"{len(train_data)} training texts do not fill one batch of {args.batch_size} per process "
            f"({env.world_size} processes); lower batch_size"
        )
    steps_per_epoch = max(1, math.ceil(batches_per_epoch / args.gradient_accumulation_steps))
    try:
        classifier = load_pretrained(args.pretrained_model, len(classes), args.dropout)
    except (OSError, ValueError) as err:
        message = str(err).splitlines()[0]
        raise TrainingError(f"cannot load pretrained_model {args.pretrained_model!r}: {message}") from None
    trainer = make_trainer(
        args, classifier, device, env.rank, env.world_size, steps_per_epoch, tokenizer.pad_token_id or 0
    )
    print(
        f"device={device} processes={env.world_size} precision={trainer.precision.name} "
        f"global_batch_size={args.batch_size * env.world_size * args.gradient_accumulation_steps} "
        f"compile={args.compile} chief={env.is_chief}"
    )
    print(
        f"examples: train={len(train_data)} validation={len(validation_data)}; "
        f"steps_per_epoch={steps_per_epoch}"
    )

    checkpoints = env.checkpoint_dir(args.checkpoint_dir)
    finished, best = trainer.restore_checkpoint(checkpoints)
    # Set when the spec has Debugger rules (model.debugger.rules); rank 0 writes for the whole job.
    losses = debug_tensors.LossWriter.from_env() if debug_tensors and env.is_chief else None
    results = []
    for epoch in range(finished, args.epochs):
        loss, accuracy, seconds, texts, tokens = trainer.train_epoch(train_data, epoch)
        validation_loss, validation_accuracy = trainer.evaluate(validation_data)
        result = EpochResult(loss, accuracy, validation_loss, validation_accuracy, seconds, texts, tokens)
        results.append(result)
        if env.is_chief:
            print(result.metric_line(epoch + 1), flush=True)
        if losses:
            losses.write_epoch(epoch + 1, loss, validation_loss)
        stop = early_stopping(trainer, best, validation_loss, epoch)
        trainer.save_checkpoint(checkpoints, epoch + 1, best)
        if stop:
            print(f"early stopping: no better validation loss in {args.early_stopping_patience} epoch(s)")
            break
    if losses:
        losses.close()
    if best.get("state"):  # the best epoch's weights, as Keras's restore_best_weights
        trainer.classifier.load_state_dict(best["state"])
    if env.is_chief:
        history = write_history(env.output_data_dir, results)
        if tracking:
            logged = [env.output_data_dir / "history.json"]
            tracking.log_step("TrainModel", params=vars(args), history=history, artifacts=logged)
        export(env.model_dir, trainer.classifier, tokenizer, classes, args.max_seq_length)
    if env.world_size > 1:
        dist.barrier()  # a process that leaves while rank 0 exports would tear down the process group
        dist.destroy_process_group()
    parameters = sum(p.numel() for p in trainer.classifier.parameters())
    return TrainingSummary(results, trainer.precision.name, env.world_size, parameters)


def early_stopping(trainer: Trainer, best: dict[str, Any], validation_loss: float, epoch: int) -> bool:
    """Keep the best epoch's weights; True once validation loss has not improved for `patience` epochs.

    Every process computes the same answer: the validation loss is already summed over all of them.
    """
    patience = trainer.args.early_stopping_patience
    if not patience:
        return False
    if validation_loss < best.get("loss", math.inf):
        state = {k: v.detach().to("cpu", copy=True) for k, v in trainer.classifier.state_dict().items()}
        best.update(loss=validation_loss, epoch=epoch, state=state)
        return False
    return epoch - best["epoch"] >= patience


def write_history(output_data_dir: Path, results: list[EpochResult]) -> dict[str, list[float]]:
    output_data_dir.mkdir(parents=True, exist_ok=True)
    history = {
        "loss": [r.train_loss for r in results],
        "accuracy": [r.train_accuracy for r in results],
        "val_loss": [r.validation_loss for r in results],
        "val_accuracy": [r.validation_accuracy for r in results],
        "train_seconds": [r.train_seconds for r in results],
    }
    (output_data_dir / "history.json").write_text(json.dumps(history, indent=2) + "\n")
    return history


# ---------------------------------------------------------------------------------------------- export


def export(
    model_dir: Path, model: TextClassifier, tokenizer: Any, classes: list[str], max_seq_length: int
) -> None:
    """Encoder, head, tokenizer, labels.json and the serving code: everything the endpoint loads."""
    model_dir.mkdir(parents=True, exist_ok=True)
    model.encoder.save_pretrained(str(model_dir))
    save_file(
        {k: v.detach().float().contiguous().cpu() for k, v in model.classifier.state_dict().items()},
        str(model_dir / "classifier.safetensors"),
    )
    tokenizer.save_pretrained(str(model_dir))
    labels = {
        "classes": classes,
        "max_seq_length": max_seq_length,
        "pad_token_id": tokenizer.pad_token_id or 0,
        "pooling": model.pooling,
    }
    (model_dir / "labels.json").write_text(json.dumps(labels, indent=2) + "\n", encoding="utf-8")
    exported = "encoder, classifier head, tokenizer, labels.json"
    handler = Path(__file__).with_name("inference.py")
    if handler.is_file():  # a project without an endpoint has no handler to ship
        code = model_dir / "code"
        shutil.rmtree(code, ignore_errors=True)
        code.mkdir()
        shutil.copy2(handler, code / "inference.py")
        exported += " and code/"
    print(f"exported {exported} to {model_dir}")


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        train(args, Environment.from_env())
    except (TrainingError, TokenArraysError, CheckpointError) as err:
        print(f"train.py: error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
