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
import inspect
import json
import logging
import math
import os
import random
import re
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import torch
import torch.distributed as dist
from safetensors.torch import save_file
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from transformers import AutoConfig, AutoModel, AutoTokenizer
from transformers.models.auto.modeling_auto import MODEL_MAPPING

try:
    import tracking  # MLflow logging, beside this script when the spec tracks experiments
except ModuleNotFoundError:
    tracking = None
try:
    import debug_tensors  # the losses Debugger's rules read, beside this script when the spec has rules
except ModuleNotFoundError:
    debug_tensors = None

CHECKPOINT_NAME = "checkpoint.pt"
# Batches are formed inside windows of this many batches' worth of texts, sorted by length: the texts of
# a batch are alike in length, while each epoch still sees the data in a new order.
BUCKET_WINDOW_BATCHES = 50
PAD_MULTIPLE = 8  # tensor cores work on multiples of 8
EPOCH_METRICS = ("train:loss", "train:accuracy", "validation:loss", "validation:accuracy")


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


# ---------------------------------------------------------------------------------------------- devices


@dataclass(frozen=True)
class Precision:
    autocast_dtype: torch.dtype | None  # None: float32 throughout
    scale_loss: bool  # float16 needs a gradient scaler; bfloat16 has float32's range and does not

    @property
    def name(self) -> str:
        return str(self.autocast_dtype).removeprefix("torch.") if self.autocast_dtype else "float32"


def choose_precision(requested: str, device: torch.device) -> Precision:
    if requested == "off" or (requested == "auto" and device.type != "cuda"):
        # auto on CPU: float32, since half-precision kernels there rarely beat it.
        return Precision(None, scale_loss=False)
    if requested == "auto":
        # bfloat16 needs Ampere (compute capability 8.0) or newer.
        requested = "bfloat16" if torch.cuda.get_device_capability(device) >= (8, 0) else "float16"
    if device.type != "cuda":
        print(f"warning: mixed_precision={requested} on CPU is usually slower than float32", file=sys.stderr)
    dtype = torch.bfloat16 if requested == "bfloat16" else torch.float16
    return Precision(dtype, scale_loss=dtype == torch.float16 and device.type == "cuda")


def start_processes(env: Environment) -> torch.device:
    """Join the process group (when torchrun started several processes) and pick this process's device."""
    if torch.cuda.is_available():
        torch.cuda.set_device(env.local_rank)
        device = torch.device("cuda", env.local_rank)
        # TF32 matrix products on Ampere or newer for what autocast leaves in float32.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    else:
        device = torch.device("cpu")
    if env.world_size > 1:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return device


# ---------------------------------------------------------------------------------------------- data


def read_classes(directory: Path) -> list[str]:
    path = directory / "labels.json"
    if not path.is_file():
        raise TrainingError(f"{path} is missing; the channel must hold preprocess.py's token-arrays output")
    return [str(c) for c in json.loads(path.read_text(encoding="utf-8"))["classes"]]


@dataclass
class TokenizedTexts:
    """Texts as token ids, back to back: text i is input_ids[offsets[i]:offsets[i + 1]]."""

    input_ids: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray
    lengths: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.lengths = np.diff(self.offsets)

    def __len__(self) -> int:
        return len(self.labels)

    @classmethod
    def read(cls, directory: Path, num_classes: int, max_seq_length: int) -> TokenizedTexts:
        # preprocess.py writes one file per part of its input rows: read in name order, they are the split.
        # (token_arrays_format.read_token_arrays does the same; train.py reads the format on its own so that
        # the training job, and the local runner's cache key of it, depend on this one file.)
        files = sorted(directory.glob("*.npz"))
        if not files:
            raise TrainingError(f"no .npz files in {directory}")
        ids, offsets, labels = [], [np.zeros(1, np.int64)], []
        tokens = 0  # in the files before this one: where its texts start
        for path in files:
            with np.load(path) as part:
                ids.append(part["input_ids"].astype(np.int64))
                offsets.append(part["offsets"][1:].astype(np.int64) + tokens)
                labels.append(part["labels"].astype(np.int64))
            tokens += len(ids[-1])
        texts = cls(np.concatenate(ids), np.concatenate(offsets), np.concatenate(labels))
        if len(texts) == 0:
            raise TrainingError(f"the .npz files in {directory} hold no texts")
        if texts.labels.min() < 0 or texts.labels.max() >= num_classes:
            raise TrainingError(f"{directory} has label indexes outside 0..{num_classes - 1}")
        return texts.truncated(max_seq_length)

    def truncated(self, max_seq_length: int) -> TokenizedTexts:
        """Cut texts longer than max_seq_length, keeping the closing special token ([SEP]) pre-training saw.

        preprocess.py truncated to its own --max-seq-length; this run's may be shorter.
        """
        if self.lengths.max() <= max_seq_length:
            return self
        pieces, offsets = [], [0]
        for start, end in zip(self.offsets[:-1], self.offsets[1:], strict=True):
            text = self.input_ids[start:end]
            if len(text) > max_seq_length:
                text = np.concatenate([text[: max_seq_length - 1], text[-1:]])
            pieces.append(text)
            offsets.append(offsets[-1] + len(text))
        return TokenizedTexts(np.concatenate(pieces), np.asarray(offsets), self.labels)

    def batch(self, indexes: Sequence[int], pad_token_id: int) -> dict[str, torch.Tensor]:
        width = int(self.lengths[indexes].max())
        width = math.ceil(width / PAD_MULTIPLE) * PAD_MULTIPLE
        input_ids = np.full((len(indexes), width), pad_token_id, np.int64)
        attention_mask = np.zeros((len(indexes), width), np.int64)
        for row, i in enumerate(indexes):
            text = self.input_ids[self.offsets[i] : self.offsets[i + 1]]
            input_ids[row, : len(text)] = text
            attention_mask[row, : len(text)] = 1
        return {
            "input_ids": torch.from_numpy(input_ids),
            "attention_mask": torch.from_numpy(attention_mask),
            "labels": torch.from_numpy(self.labels[list(indexes)]),
        }


def length_bucketed_batches(
    lengths: np.ndarray, batch_size: int, seed: int, rank: int = 0, world_size: int = 1
) -> list[list[int]]:
    """This process's training batches for one epoch: shuffled, each of texts alike in length.

    Every process gets the same number of full batches (DDP needs each step on every process); the
    few texts that do not fill one are left for another epoch's shuffle.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    window = batch_size * BUCKET_WINDOW_BATCHES
    batches = []
    for start in range(0, len(order), window):
        chunk = order[start : start + window]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [
            chunk[i : i + batch_size].tolist() for i in range(0, len(chunk) - batch_size + 1, batch_size)
        ]
    rng.shuffle(batches)
    per_process = len(batches) // world_size
    if per_process == 0:
        raise TrainingError(
            f"{len(lengths)} training texts do not fill one batch of {batch_size} per process "
            f"({world_size} processes); lower batch_size"
        )
    return batches[rank * per_process : (rank + 1) * per_process]


def evaluation_batches(lengths: np.ndarray, batch_size: int, rank: int, world_size: int) -> list[list[int]]:
    """This process's share of every text exactly once, sorted by length so batches pad little."""
    order = np.argsort(lengths, kind="stable")[rank::world_size]
    return [order[i : i + batch_size].tolist() for i in range(0, len(order), batch_size)]


# ---------------------------------------------------------------------------------------------- model


def checkpoint_pooling(source: str) -> str:
    """The pooling a sentence-transformers checkpoint was trained with; [CLS] for any other checkpoint."""
    path = Path(source) / "1_Pooling" / "config.json"
    if not path.is_file():
        try:
            from huggingface_hub import hf_hub_download

            path = Path(hf_hub_download(source, "1_Pooling/config.json"))
        except Exception:  # noqa: BLE001 - not on the hub, not a sentence-transformers model, or offline
            return "cls"
    config = json.loads(path.read_text(encoding="utf-8"))
    return "mean" if config.get("pooling_mode_mean_tokens") else "cls"


class TextClassifier(nn.Module):
    """Encoder -> pooled text vector -> dropout -> linear layer; float32 logits under autocast too."""

    def __init__(self, encoder: nn.Module, num_classes: int, pooling: str, dropout: float) -> None:
        super().__init__()
        self.encoder = encoder
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(encoder.config.hidden_size, num_classes)
        nn.init.normal_(self.classifier.weight, std=encoder.config.initializer_range)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if self.pooling == "mean":
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        else:
            pooled = hidden[:, 0]
        return self.classifier(self.dropout(pooled)).float()


class UnusedPoolerFilter(logging.Filter):
    """Drops transformers' warning that the checkpoint's pooler weights went unused ("This IS NOT expected
    if ..."): they are left out on purpose. A warning about any other unused weight still shows."""

    def filter(self, record: logging.LogRecord) -> bool:
        unused = re.search(r"were not used when initializing \w+: \[([^\]]*)\]", record.getMessage())
        return unused is None or not all("pooler" in key for key in unused.group(1).split(","))


def without_pooler(config: Any) -> dict[str, Any]:
    """AutoModel's option that leaves the pooler out, where the architecture has one (BERT, RoBERTa,
    MPNet, ...); DistilBERT and others have none and take no such option."""
    model_class = MODEL_MAPPING.get(type(config), None)
    parameters = inspect.signature(model_class.__init__).parameters if model_class is not None else {}
    return {"add_pooling_layer": False} if "add_pooling_layer" in parameters else {}


def load_pretrained(args: argparse.Namespace, num_classes: int) -> TextClassifier:
    loading_logger = logging.getLogger("transformers.modeling_utils")
    quiet = UnusedPoolerFilter()
    loading_logger.addFilter(quiet)
    try:
        config = AutoConfig.from_pretrained(args.pretrained_model)
        # No pooler layer: the classifier pools itself, and a checkpoint's pooler may be untrained.
        encoder = AutoModel.from_pretrained(args.pretrained_model, config=config, **without_pooler(config))
        # float32 master weights whatever dtype the checkpoint was saved in; autocast does the half precision.
        encoder = encoder.float()
    except (OSError, ValueError) as err:
        message = str(err).splitlines()[0]
        raise TrainingError(f"cannot load pretrained_model {args.pretrained_model!r}: {message}") from None
    finally:
        loading_logger.removeFilter(quiet)
    return TextClassifier(encoder, num_classes, checkpoint_pooling(args.pretrained_model), args.dropout)


def make_optimizer(model: nn.Module, args: argparse.Namespace, device: torch.device) -> torch.optim.AdamW:
    decay, no_decay = [], []
    for parameter in model.parameters():
        if parameter.requires_grad:
            # As in BERT's recipe, no weight decay on biases and LayerNorm weights (the 1-D parameters).
            (no_decay if parameter.ndim < 2 else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # fused: one kernel for the whole update on the GPU instead of several per parameter.
    return torch.optim.AdamW(groups, lr=args.learning_rate, eps=1e-8, fused=device.type == "cuda")


def warmup_linear_decay(warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """The learning-rate factor: linear warm-up to 1 over warmup_steps, then linear decay to 0."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return factor


# ---------------------------------------------------------------------------------------------- training


@dataclass
class EpochResult:
    train_loss: float
    train_accuracy: float
    validation_loss: float
    validation_accuracy: float
    train_seconds: float
    train_texts: int
    train_tokens: int  # tokens that are not padding

    def metric_line(self, epoch: int) -> str:
        values = (self.train_loss, self.train_accuracy, self.validation_loss, self.validation_accuracy)
        return f"epoch={epoch} " + " ".join(
            f"{n}={v:.4f}" for n, v in zip(EPOCH_METRICS, values, strict=True)
        )


@dataclass
class Trainer:
    """One process's model, optimizer and data; the same on every process but for its share of batches."""

    args: argparse.Namespace
    env: Environment
    device: torch.device
    precision: Precision
    model: nn.Module  # DDP-wrapped and/or compiled when asked
    classifier: TextClassifier  # the bare module: what is saved and exported
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    pad_token_id: int

    def autocast(self) -> Any:
        if self.precision.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.precision.autocast_dtype)

    def _sums(self, *values: float) -> list[float]:
        """Sum values over all processes (loss and accuracy are averaged over the whole job)."""
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        if self.env.world_size > 1:
            dist.all_reduce(tensor)
        return tensor.tolist()

    def train_epoch(self, data: TokenizedTexts, epoch: int) -> tuple[float, float, float, int, int]:
        self.model.train()
        accumulate = self.args.gradient_accumulation_steps
        batches = length_bucketed_batches(
            data.lengths, self.args.batch_size, self.args.seed + epoch, self.env.rank, self.env.world_size
        )
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        started = time.perf_counter()
        for step, indexes in enumerate(batches):
            batch = {
                k: v.to(self.device, non_blocking=True)
                for k, v in data.batch(indexes, self.pad_token_id).items()
            }
            last_of_group = (step + 1) % accumulate == 0 or step + 1 == len(batches)
            # DDP all-reduces gradients on every backward unless told not to: only the group's last one.
            sync = (
                self.model.no_sync()
                if isinstance(self.model, DistributedDataParallel) and not last_of_group
                else nullcontext()
            )
            with sync:
                with self.autocast():
                    logits = self.model(batch["input_ids"], batch["attention_mask"])
                    loss = nn.functional.cross_entropy(logits, batch["labels"])
                self.scaler.scale(loss / accumulate).backward()
            if last_of_group:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.classifier.parameters(), 1.0)
                self.scaler.step(self.optimizer)
                self.scaler.update()
                self.optimizer.zero_grad(set_to_none=True)
                self.schedule.step()
            # Accumulated on the device: reading a value back every step would stall the GPU.
            loss_sum += loss.detach() * len(indexes)
            correct += (logits.argmax(-1) == batch["labels"]).sum()
        texts = sum(len(b) for b in batches)
        tokens = int(sum(data.lengths[b].sum() for b in batches))
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - started
        total_loss, total_correct, total_texts, total_tokens = self._sums(
            loss_sum.item(), correct.item(), texts, tokens
        )
        return (
            total_loss / total_texts,
            total_correct / total_texts,
            seconds,
            int(total_texts),
            int(total_tokens),
        )

    @torch.no_grad()
    def evaluate(self, data: TokenizedTexts) -> tuple[float, float]:
        self.model.eval()
        loss_sum = correct = 0.0
        for indexes in evaluation_batches(
            data.lengths, self.args.batch_size, self.env.rank, self.env.world_size
        ):
            batch = {k: v.to(self.device) for k, v in data.batch(indexes, self.pad_token_id).items()}
            with self.autocast():
                logits = self.classifier(batch["input_ids"], batch["attention_mask"])
            loss_sum += nn.functional.cross_entropy(logits, batch["labels"], reduction="sum").item()
            correct += (logits.argmax(-1) == batch["labels"]).sum().item()
        total_loss, total_correct = self._sums(loss_sum, correct)
        return total_loss / len(data), total_correct / len(data)

    # -------------------------------------------------------------------------------------- checkpoints

    def save_checkpoint(self, directory: Path, finished_epochs: int, best: dict[str, Any]) -> None:
        if not self.env.is_chief:
            return
        directory.mkdir(parents=True, exist_ok=True)
        state = {
            "model": self.classifier.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict(),
            "finished_epochs": finished_epochs,
            "early_stopping": best,
        }
        # Written aside and renamed: a spot interruption mid-save leaves the previous checkpoint intact.
        partial = directory / f"{CHECKPOINT_NAME}.partial"
        torch.save(state, partial)
        partial.replace(directory / CHECKPOINT_NAME)

    def restore_checkpoint(self, directory: Path) -> tuple[int, dict[str, Any]]:
        path = directory / CHECKPOINT_NAME
        if not path.is_file():
            return 0, {}
        state = torch.load(path, map_location=self.device, weights_only=False)
        try:
            self.classifier.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as err:
            raise TrainingError(
                f"checkpoint {path} does not fit this model (another pretrained_model or freeze_encoder?); "
                f"empty {directory} to start over: {str(err).splitlines()[0]}"
            ) from None
        self.schedule.load_state_dict(state["schedule"])
        self.scaler.load_state_dict(state["scaler"])
        print(f"resuming from {path}: {state['finished_epochs']} epoch(s) already done")
        return int(state["finished_epochs"]), state.get("early_stopping", {})


def build_trainer(
    args: argparse.Namespace,
    env: Environment,
    device: torch.device,
    num_classes: int,
    steps_per_epoch: int,
    pad_token_id: int,
) -> Trainer:
    precision = choose_precision(args.mixed_precision, device)
    classifier = load_pretrained(args, num_classes).to(device)
    if args.freeze_encoder:
        classifier.encoder.requires_grad_(False)
    optimizer = make_optimizer(classifier, args, device)
    total_steps = steps_per_epoch * args.epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_linear_decay(int(total_steps * args.warmup_ratio), total_steps)
    )
    model: nn.Module = classifier
    if env.world_size > 1:
        model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if args.compile:
        model = torch.compile(model)
    return Trainer(
        args=args,
        env=env,
        device=device,
        precision=precision,
        model=model,
        classifier=classifier,
        optimizer=optimizer,
        schedule=schedule,
        scaler=torch.amp.GradScaler(device.type, enabled=precision.scale_loss),
        pad_token_id=pad_token_id,
    )


@dataclass
class TrainingSummary:
    epochs: list[EpochResult]
    precision: str
    processes: int
    parameters: int


def train(args: argparse.Namespace, env: Environment) -> TrainingSummary:
    device = start_processes(env)
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
    batches_per_epoch = len(train_data) // args.batch_size // env.world_size
    steps_per_epoch = max(1, math.ceil(batches_per_epoch / args.gradient_accumulation_steps))
    trainer = build_trainer(args, env, device, len(classes), steps_per_epoch, tokenizer.pad_token_id or 0)
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
    if best.get("state"):
        trainer.classifier.load_state_dict(
            best["state"]
        )  # the best epoch's weights, as Keras's restore_best_weights
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
    except TrainingError as err:
        print(f"train.py: error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
