"""train.py's batches: the token arrays preprocess.py wrote (token_arrays_format.py), read whole into
memory and cut into batches of texts alike in length, each padded only to its own longest text.

Only projects whose model is BERT trained with PyTorch have this module. It needs NumPy alone; train.py
turns a batch into tensors.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from token_arrays_format import TokenArraysError, read_token_arrays

# Batches are formed inside windows of this many batches' worth of texts, sorted by length: the texts of
# a batch are alike in length, while each epoch still sees the data in a new order.
BUCKET_WINDOW_BATCHES = 50
PAD_MULTIPLE = 8  # tensor cores work on multiples of 8


def read_classes(directory: Path) -> list[str]:
    path = directory / "labels.json"
    if not path.is_file():
        raise TokenArraysError(
            f"{path} is missing; the channel must hold preprocess.py's token-arrays output"
        )
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
        files = sorted(directory.glob("*.npz"))
        if not files:
            raise TokenArraysError(f"no .npz files in {directory}")
        arrays = read_token_arrays(files)
        texts = cls(arrays["input_ids"].astype(np.int64), arrays["offsets"], arrays["labels"])
        if len(texts) == 0:
            raise TokenArraysError(f"the .npz files in {directory} hold no texts")
        if texts.labels.min() < 0 or texts.labels.max() >= num_classes:
            raise TokenArraysError(f"{directory} has label indexes outside 0..{num_classes - 1}")
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

    def batch(self, indexes: Sequence[int], pad_token_id: int) -> dict[str, np.ndarray]:
        """input_ids, attention_mask and labels of these texts, padded to a multiple of PAD_MULTIPLE."""
        width = int(self.lengths[indexes].max())
        width = math.ceil(width / PAD_MULTIPLE) * PAD_MULTIPLE
        input_ids = np.full((len(indexes), width), pad_token_id, np.int64)
        attention_mask = np.zeros((len(indexes), width), np.int64)
        for row, i in enumerate(indexes):
            text = self.input_ids[self.offsets[i] : self.offsets[i + 1]]
            input_ids[row, : len(text)] = text
            attention_mask[row, : len(text)] = 1
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "labels": self.labels[list(indexes)],
        }


def full_batches_per_process(texts: int, batch_size: int, world_size: int) -> int:
    """How many training batches each process gets per epoch (see length_bucketed_batches)."""
    return texts // batch_size // world_size


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
    return batches[rank * per_process : (rank + 1) * per_process]


def evaluation_batches(lengths: np.ndarray, batch_size: int, rank: int, world_size: int) -> list[list[int]]:
    """This process's share of every text exactly once, sorted by length so batches pad little."""
    order = np.argsort(lengths, kind="stable")[rank::world_size]
    return [order[i : i + batch_size].tolist() for i in range(0, len(order), batch_size)]
