"""One process's share of train.py's fine-tuning: its device and precision, the model (wrapped in
DistributedDataParallel and compiled when asked), the optimizer and learning-rate schedule, an epoch of
training, an evaluation, and the checkpoint a managed spot restart resumes from.

Only projects whose model is BERT trained with PyTorch have this module. Every process of a job runs the
same Trainer on its own share of the batches (rank of world_size); sums over the job are all-reduced.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from text_classifier import TextClassifier
from token_batches import TokenizedTexts, evaluation_batches, length_bucketed_batches
from torch import nn
from torch.nn.parallel import DistributedDataParallel

CHECKPOINT_NAME = "checkpoint.pt"
EPOCH_METRICS = ("train:loss", "train:accuracy", "validation:loss", "validation:accuracy")


class CheckpointError(Exception):
    """A checkpoint that does not fit the model being trained: the user has to empty its folder."""


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


def start_processes(local_rank: int, world_size: int) -> torch.device:
    """Join the process group (when torchrun started several processes) and pick this process's device:
    the GPU local_rank of its instance, or the CPU."""
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
        # TF32 matrix products on Ampere or newer for what autocast leaves in float32.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    else:
        device = torch.device("cpu")
    if world_size > 1:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return device


# ---------------------------------------------------------------------------------------------- optimizer


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
    rank: int  # this process among the job's world_size processes
    world_size: int
    device: torch.device
    precision: Precision
    model: nn.Module  # DDP-wrapped and/or compiled when asked
    classifier: TextClassifier  # the bare module: what is saved and exported
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    pad_token_id: int

    @property
    def is_chief(self) -> bool:
        return self.rank == 0

    def autocast(self) -> Any:
        if self.precision.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.precision.autocast_dtype)

    def _sums(self, *values: float) -> list[float]:
        """Sum values over all processes (loss and accuracy are averaged over the whole job)."""
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        if self.world_size > 1:
            dist.all_reduce(tensor)
        return tensor.tolist()

    def _on_device(self, data: TokenizedTexts, indexes: list[int]) -> dict[str, torch.Tensor]:
        arrays = data.batch(indexes, self.pad_token_id)
        return {k: torch.from_numpy(v).to(self.device, non_blocking=True) for k, v in arrays.items()}

    def train_epoch(self, data: TokenizedTexts, epoch: int) -> tuple[float, float, float, int, int]:
        self.model.train()
        accumulate = self.args.gradient_accumulation_steps
        batches = length_bucketed_batches(
            data.lengths, self.args.batch_size, self.args.seed + epoch, self.rank, self.world_size
        )
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        started = time.perf_counter()
        for step, indexes in enumerate(batches):
            batch = self._on_device(data, indexes)
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
        for indexes in evaluation_batches(data.lengths, self.args.batch_size, self.rank, self.world_size):
            batch = self._on_device(data, indexes)
            with self.autocast():
                logits = self.classifier(batch["input_ids"], batch["attention_mask"])
            loss_sum += nn.functional.cross_entropy(logits, batch["labels"], reduction="sum").item()
            correct += (logits.argmax(-1) == batch["labels"]).sum().item()
        total_loss, total_correct = self._sums(loss_sum, correct)
        return total_loss / len(data), total_correct / len(data)

    # -------------------------------------------------------------------------------------- checkpoints

    def save_checkpoint(self, directory: Path, finished_epochs: int, best: dict[str, Any]) -> None:
        if not self.is_chief:
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
            raise CheckpointError(
                f"checkpoint {path} does not fit this model (another pretrained_model or freeze_encoder?); "
                f"empty {directory} to start over: {str(err).splitlines()[0]}"
            ) from None
        self.schedule.load_state_dict(state["schedule"])
        self.scaler.load_state_dict(state["scaler"])
        print(f"resuming from {path}: {state['finished_epochs']} epoch(s) already done")
        return int(state["finished_epochs"]), state.get("early_stopping", {})


def make_trainer(
    args: argparse.Namespace,
    classifier: TextClassifier,
    device: torch.device,
    rank: int,
    world_size: int,
    steps_per_epoch: int,
    pad_token_id: int,
) -> Trainer:
    """The trainer of ``classifier`` on ``device``, for args.epochs epochs of steps_per_epoch steps."""
    precision = choose_precision(args.mixed_precision, device)
    classifier = classifier.to(device)
    if args.freeze_encoder:
        classifier.encoder.requires_grad_(False)
    optimizer = make_optimizer(classifier, args, device)
    total_steps = steps_per_epoch * args.epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_linear_decay(int(total_steps * args.warmup_ratio), total_steps)
    )
    model: nn.Module = classifier
    if world_size > 1:
        model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if args.compile:
        model = torch.compile(model)
    return Trainer(
        args=args,
        rank=rank,
        world_size=world_size,
        device=device,
        precision=precision,
        model=model,
        classifier=classifier,
        optimizer=optimizer,
        schedule=schedule,
        scaler=torch.amp.GradScaler(device.type, enabled=precision.scale_loss),
        pad_token_id=pad_token_id,
    )
