"""The training format of a PyTorch BERT model: token ids in NumPy arrays, written by preprocess.py.

Only projects whose model is BERT trained with PyTorch have this module; preprocess.py imports it when it
is asked for --output-format token-arrays. Each split is one or more ``<split>-<part>.npz`` files (one per
part of the rows PreprocessData was given; a project generated before that wrote one ``<split>.npz``), each
holding

    input_ids  int32, shape (total tokens,)  the token ids of every text back to back, special tokens
                                             included, unpadded, truncated to max_seq_length
    offsets    int64, shape (texts + 1,)     text i is input_ids[offsets[i]:offsets[i + 1]]
    labels     int64, shape (texts,)         each text's class index (labels.json beside it)

which train.py reads whole into memory: no padding is stored, and a batch is padded to its own longest
text when it is formed. A split's files are read in name order as one (read_token_arrays).
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

TOKENIZE_BATCH_SIZE = 2048  # texts per call to the (Rust, multi-threaded) fast tokenizer


class TokenizerError(ValueError):
    """The tokenizer cannot be loaded: a problem with --tokenizer that the user has to fix."""


class TokenArraysError(ValueError):
    """A file is not this format's arrays, or its offsets do not fit them."""


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


def token_arrays(
    texts: Sequence[str], label_ids: Sequence[int], tokenizer: Any, max_seq_length: int
) -> dict[str, np.ndarray]:
    """The arrays of one split (texts already cleaned); truncation keeps the closing special token."""
    if len(texts) != len(label_ids):
        raise ValueError(f"{len(texts)} texts but {len(label_ids)} labels")
    pieces = [np.zeros(0, np.int32)]
    for start in range(0, len(texts), TOKENIZE_BATCH_SIZE):
        batch = list(texts[start : start + TOKENIZE_BATCH_SIZE])
        encoded = tokenizer(batch, truncation=True, max_length=max_seq_length)["input_ids"]
        pieces += [np.asarray(input_ids, np.int32) for input_ids in encoded]
    offsets = np.zeros(len(pieces), np.int64)
    np.cumsum([len(piece) for piece in pieces[1:]], out=offsets[1:])
    return {
        "input_ids": np.concatenate(pieces),
        "offsets": offsets,
        "labels": np.asarray(label_ids, np.int64),
    }


def write_token_arrays(
    path: Path, texts: Sequence[str], label_ids: Sequence[int], tokenizer: Any, max_seq_length: int
) -> None:
    # Compressed: token ids are small integers, and the file travels through S3 to every training job.
    np.savez_compressed(path, **token_arrays(texts, label_ids, tokenizer, max_seq_length))


def read_token_arrays(paths: Sequence[Path]) -> dict[str, np.ndarray]:
    """The arrays of a split's files, in the order given, as one: each file's offsets are moved past the
    tokens of the files before it, so text i of the result is text j of the file that holds it."""
    input_ids, offsets, labels = [np.zeros(0, np.int32)], [np.zeros(1, np.int64)], [np.zeros(0, np.int64)]
    tokens = 0
    for path in paths:
        try:
            with np.load(path) as arrays:
                ids, starts, classes = arrays["input_ids"], arrays["offsets"], arrays["labels"]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
            raise TokenArraysError(f"{path} is not token arrays: {err}") from None
        fits = len(starts) == len(classes) + 1 and starts[0] == 0 and starts[-1] == len(ids)
        if not fits or (np.diff(starts) < 0).any():
            raise TokenArraysError(f"{path} has offsets that do not fit its {len(classes)} texts")
        input_ids.append(ids.astype(np.int32, copy=False))
        offsets.append(starts[1:].astype(np.int64) + tokens)
        labels.append(classes.astype(np.int64, copy=False))
        tokens += len(ids)
    return {
        "input_ids": np.concatenate(input_ids),
        "offsets": np.concatenate(offsets),
        "labels": np.concatenate(labels),
    }
