"""Each epoch's losses in SageMaker Debugger's tensor format, for the spec's Debugger rules.

Debugger's built-in rules (LossNotDecreasing, Overfit, Overtraining) run in rule jobs beside the
training job and read the "losses" collection that the smdebug hook writes. The training images this
project uses have no hook (smdebug's last release, 1.0.34, needs protobuf<=3.20.3; TensorFlow 2.21
needs protobuf>=6.31), so train.py writes the same files itself through this module: the folder named
by SAGESPEC_DEBUG_TENSORS_DIR is the DebugHookConfig's LocalPath, which SageMaker uploads to its
S3OutputPath while the job runs, where the rule jobs read it with smdebug's trial reader.

The layout is smdebug 1.0.34's (smdebug/core/writer.py, locations.py, collection_manager.py):

    collections/000000000/worker_0_collections.json  the "losses" collection, holding the tensor "loss"
    events/<step>/<step>_worker_0.tfevents           one record: an Event whose Summary holds the loss
                                                     as a float32 tensor, tagged with its mode and step
    index/000000000/<step>_worker_0.json             where that record lies in the event file
    training_job_end.ts                              outside SageMaker only (there the service writes it)

with <step> the global step in 12 digits. Epoch n (from 1, as the metric lines number them) is global
step 2n - 2 in mode TRAIN, holding the training loss, and 2n - 1 in mode EVAL, holding the validation
loss, both at mode step n. As with the hook, one global count runs across the modes and each mode has
its own count; a rule reads a mode's steps, so its step parameters (num_steps, patience, start_step)
count epochs, numbered as `sagespec local run` numbers them. Only the chief process writes, as
worker_0 of a one-worker trial.

The records are written here rather than with TensorFlow's or TensorBoard's writers because those are
not in both training images, and because smdebug's reader checks a record's footer against the
masked CRC of its own marker (b"0x12345678"), not of the payload, as its writer puts it there.
"""

from __future__ import annotations

import json
import math
import os
import struct
import time
from pathlib import Path

DIR_VARIABLE = "SAGESPEC_DEBUG_TENSORS_DIR"
WORKER = "worker_0"
TENSOR = "loss"
COLLECTION = "losses"
TRAIN, EVAL = 1, 2  # smdebug's ModeKeys values
MODE_NAMES = {TRAIN: "TRAIN", EVAL: "EVAL"}
END_OF_JOB = "training_job_end.ts"
DT_FLOAT = 1  # TensorFlow's DataType enum
CHECKSUM_MARKER = b"0x12345678"  # smdebug's record writer puts this one's CRC after every payload


# ---------------------------------------------------------------------------------------------- TFRecord


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1  # Castagnoli, reflected
        table.append(crc)
    return table


_CRC32C_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC: rotated right by 15 bits plus a constant."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# The footer of every record: the masked CRC of CHECKSUM_MARKER.
_FOOTER = struct.pack("<I", masked_crc32c(CHECKSUM_MARKER))


def tfrecord(payload: bytes) -> bytes:
    """length (uint64), its masked CRC, the payload, and the footer smdebug's reader expects."""
    length = struct.pack("<Q", len(payload))
    return length + struct.pack("<I", masked_crc32c(length)) + payload + _FOOTER


# ---------------------------------------------------------------------------------------------- protobuf


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2): a string, bytes or a nested message."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def loss_event(value: float, step: int, mode: int, mode_step: int, wall_time: float) -> bytes:
    """An Event (smdebug's tfevent/proto/event.proto) with one Summary.Value: the tensor and its mode.

    Field numbers: Event wall_time 1 (double), step 2 (int64), summary 5; Summary value 1; Value tag 1,
    tensor 8, metadata 9; SummaryMetadata plugin_data 1; PluginData plugin_name 1, content 2;
    TensorProto dtype 1, tensor_shape 2, tensor_content 4; TensorShapeProto dim 2; Dim size 1, name 2.
    """
    # The shape (1,), as the hook stores a Python float (smdebug's make_numpy_array).
    shape = _field(2, _varint(1 << 3) + _varint(1) + _field(2, f"{TENSOR}_1".encode()))
    tensor = _varint(1 << 3) + _varint(DT_FLOAT) + _field(2, shape) + _field(4, struct.pack("<f", value))
    metadata = _field(1, _field(1, b"mode_step") + _field(2, str(mode_step).encode())) + _field(
        1, _field(1, b"mode") + _field(2, str(mode).encode())
    )
    summary_value = _field(1, TENSOR.encode()) + _field(8, tensor) + _field(9, metadata)
    # proto3 leaves out a scalar field that holds its default (0), as smdebug's protobuf does.
    event = _varint(1 << 3 | 1) + struct.pack("<d", wall_time) if wall_time else b""
    event += _varint(2 << 3) + _varint(step) if step else b""
    return event + _field(5, _field(1, summary_value))


# ---------------------------------------------------------------------------------------------- files


def _write_atomically(path: Path, data: bytes) -> None:
    """A reader (or SageMaker's upload) sees the whole file or none: smdebug reads an index file once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial")
    temporary.write_bytes(data)
    os.replace(temporary, path)


class LossWriter:
    """Writes each epoch's training and validation loss under ``directory`` (see the module docstring)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        collections = {
            "collections": {
                COLLECTION: {
                    "name": COLLECTION,
                    "include_regex": [],
                    "tensor_names": [TENSOR],
                    "reduction_config": None,
                    "save_config": None,
                    "save_histogram": False,
                }
            },
            "_meta": {"num_workers": 1},
        }
        path = directory / "collections" / "000000000" / f"{WORKER}_collections.json"
        _write_atomically(path, json.dumps(collections).encode())

    @classmethod
    def from_env(cls) -> LossWriter | None:
        """The writer when the training job has a Debugger hook folder (the spec has rules), else None."""
        directory = os.environ.get(DIR_VARIABLE)
        return cls(Path(directory)) if directory else None

    def write_epoch(self, epoch: int, train_loss: float, validation_loss: float) -> None:
        """Epoch ``epoch`` (from 1): its training loss in mode TRAIN, its validation loss in mode EVAL."""
        if epoch < 1:
            raise ValueError(f"epochs are numbered from 1, got {epoch}")
        self._write(2 * epoch - 2, TRAIN, epoch, train_loss)
        self._write(2 * epoch - 1, EVAL, epoch, validation_loss)

    def _write(self, step: int, mode: int, mode_step: int, value: float) -> None:
        if not math.isfinite(value):
            return  # a missing loss (NaN) is left out rather than shown to the rules as a value
        name = f"{step:012d}_{WORKER}"
        event_file = Path("events") / f"{step:012d}" / f"{name}.tfevents"
        record = tfrecord(loss_event(value, step, mode, mode_step, time.time()))
        _write_atomically(self.directory / event_file, record)
        index = {
            "meta": {"mode": MODE_NAMES[mode], "mode_step": mode_step, "event_file_name": str(event_file)},
            "tensor_payload": [{"tensorname": TENSOR, "start_idx": 0, "length": len(record)}],
            "shape_payload": [],
        }
        # After the event file: a reader that finds the index goes on to read the record it points at.
        index_file = self.directory / "index" / f"{step // 1000:09d}" / f"{name}.json"
        _write_atomically(index_file, json.dumps(index).encode())

    def close(self) -> None:
        """Mark the end of training, which ends a rule's wait for further steps; on SageMaker the service
        does it after the upload (smdebug's hook leaves it to the service there too)."""
        if "TRAINING_JOB_NAME" not in os.environ:
            (self.directory / END_OF_JOB).touch()
