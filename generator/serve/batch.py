"""`sagespec local batch`: score a file through the endpoint's handler, laid out as a transform job's output.

A SageMaker batch transform job with ``SplitType: Line``, ``BatchStrategy: SingleRecord`` and
``AssembleWith: Line`` sends each record of an input object ``<name>`` to the model server as one request
and writes each answer, followed by a line break, to ``<output prefix>/<name>.out``, in input order. This
does the same on this machine: every record goes through the project's ``pipelines/<pkg>/inference.py``
(``input_fn`` -> ``predict_fn`` -> ``output_fn``, the model loaded once with ``model_fn``), as the local
endpoint serves it, and ``<output>/<name>.out`` holds one JSON answer per record::

    {"predictions": [{"label": "<class>", "probabilities": {"<class>": p, ...}}]}

The input is what a user has at hand: a CSV file with a header, like the dataset. The texts are the
column the spec's ``dataset.text_column`` names (``--text-column`` picks another); the other columns,
the label included, are ignored, and a text may hold commas, quotes and line breaks inside a quoted
field. ``--no-header`` reads a file that is one text per CSV record, no header: what the handler's
``text/csv`` requests hold. Every record gets a prediction, an empty text too, so line N of the output
answers record N of the input.

The model is the one the spec's first endpoint variant serves (its selection rule over the local
registry, as ``sagespec local serve`` applies it), or ``--version N``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from ..deployment import ModelSelection, build_deployment
from ..errors import shown_name
from ..local.registry import MODEL_FILE
from ..local.runs import registry_root, runs_root
from ..spec.dataset_check import not_utf8_at
from ..spec.models import Spec
from ..spec.project_file import load_project_spec
from .endpoint import ServeError, _call_model_fn, _note, _unpack, load_handler, select_version
from .handler import body_and_type

OUTPUT_SUFFIX = ".out"  # what a transform job appends to an input object's name
BATCH_DIR = "batch"  # the default output folder, under .sagespec-runs/
JSON = "application/json"
CHUNK = 256  # records per predict_fn call: the handler's models score a list of texts at once
SNIFF_BYTES = 8192  # how much of the file is checked for binary content before it is parsed


class BatchError(ServeError):
    """The input file cannot be scored: missing, empty, binary, not CSV, no text column."""


@dataclass(frozen=True)
class BatchResult:
    output: Path
    records: int
    version: int
    seconds: float


# ---------------------------------------------------------------------------------------------- input


def read_texts(path: Path, text_column: str | None, *, header: bool = True) -> list[str]:
    """The text of every record of ``path``, in order. A BatchError names the file and what is wrong."""
    try:
        if not path.exists():
            raise BatchError(f"{path}: no such file")
        if not path.is_file():
            raise BatchError(f"{path}: not a file")
        raw = path.read_bytes()
    except OSError as err:  # a name too long, no permission, an I/O error
        raise BatchError(f"{shown_name(path)}: cannot read it: {err.strerror or err}") from None
    if not raw.strip():
        raise BatchError(f"{path}: the file is empty")
    if b"\0" in raw[:SNIFF_BYTES]:
        raise BatchError(f"{path}: a binary file, not CSV text")
    try:
        text = raw.decode("utf-8-sig")  # a spreadsheet's export may start with a byte-order mark
    except UnicodeDecodeError as err:
        # err.object: the bytes after a byte-order mark, which is no line's column.
        where = not_utf8_at(err.object.split(b"\n")) or "not UTF-8 text"
        raise BatchError(f"{path}: {where}: save it as UTF-8 CSV") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        rows = list(reader)
    except csv.Error as err:
        raise BatchError(f"{path}: line {reader.line_num}: not readable CSV: {err}") from None
    if not header:
        # As the handler reads a text/csv body: a record's unquoted commas are part of its text.
        texts = [",".join(row) for row in rows if row]
    else:
        columns, records = rows[0], rows[1:]
        if text_column is None or text_column not in columns:
            raise BatchError(
                f"{path}: no {text_column!r} column in its header (columns: {', '.join(columns)}); "
                "name the text column with --text-column, or give --no-header for a file of one text "
                "per record"
            )
        index = columns.index(text_column)
        texts = []
        for number, row in enumerate(records, start=2):
            if not row:  # a blank line between records is no record
                continue
            if len(row) != len(columns):
                raise BatchError(
                    f"{path}: record {number}: {len(row)} fields, the header has {len(columns)} "
                    "(is a text with commas or line breaks unquoted?)"
                )
            texts.append(row[index])
    if not texts:
        raise BatchError(f"{path}: no records to score (only a header)")
    return texts


# ---------------------------------------------------------------------------------------------- scoring


def answers(handler: ModuleType, model: Any, texts: list[str], accept: str = JSON) -> Iterator[str]:
    """One response body per text, as the handler answers a request that holds that text alone.

    Each record is read by ``input_fn`` as its own request; ``predict_fn`` scores the records in chunks
    (a prediction depends only on its text), and ``output_fn`` answers each record alone.
    """
    for start in range(0, len(texts), CHUNK):
        chunk: list[str] = []
        for text in texts[start : start + CHUNK]:
            read = handler.input_fn(json.dumps({"instances": [text]}), JSON)
            if len(read) != 1:
                raise ServeError(f"input_fn read {len(read)} texts from a request holding one")
            chunk += read
        predictions = handler.predict_fn(chunk, model)
        if len(predictions) != len(chunk):
            raise ServeError(f"predict_fn answered {len(predictions)} predictions for {len(chunk)} texts")
        for prediction in predictions:
            body, _ = body_and_type(handler.output_fn([prediction], accept))
            body = body.decode("utf-8") if isinstance(body, bytes) else body
            if "\n" in body:  # AssembleWith: Line: a line break may only end a record's answer
                body = json.dumps(json.loads(body))
            yield body


def output_path(data: Path, output_dir: Path) -> Path:
    return output_dir / f"{data.name}{OUTPUT_SUFFIX}"


def write_lines(target: Path, lines: Iterator[str]) -> int:
    """Write ``lines`` (each followed by a line break) to ``target`` whole, or leave it as it was."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    # Mode 0o666 through the umask, as for any file this user writes (mkstemp's would be 0600).
    handle = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    count = 0
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as f:
            for line in lines:
                f.write(line + "\n")
                count += 1
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return count


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def model_selection(spec: Spec, version: int | None) -> tuple[str, ModelSelection]:
    """Whose model: ``--version N``, else the spec's first endpoint variant's rule."""
    if version is not None:
        return "--version", ModelSelection("version", version)
    deployment = build_deployment(spec)
    if not deployment.variants:
        raise ServeError("the spec's deployment has no variant to take the model selection from")
    first = deployment.variants[0]
    return first.name, first.model


def run_batch(
    project_dir: Path,
    spec: Spec,
    data: Path,
    *,
    output_dir: Path | None = None,
    text_column: str | None = None,
    header: bool = True,
    version: int | None = None,
    out: TextIO | None = None,
) -> BatchResult:
    """Score every record of ``data``; write ``<output_dir>/<data name>.out``."""
    out = out or sys.stdout
    texts = read_texts(data, text_column or spec.dataset.text_column, header=header)
    handler = load_handler(project_dir, spec.project.package)
    whose, rule = model_selection(spec, version)
    group = spec.model_package_group
    chosen = select_version(registry_root(project_dir), group, whose, rule)
    print(
        f"scoring {plural(len(texts), 'record')} of {data} with {group} version {chosen.version} "
        f"({chosen.status}, {whose}: {rule.describe()}){_note(chosen)}",
        file=out,
    )
    target = output_path(data, output_dir or runs_root(project_dir) / BATCH_DIR)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sagespec-batch-") as work:
        model_dir = _unpack(chosen.path / MODEL_FILE, Path(work) / "model")
        model = _call_model_fn(handler, model_dir, f"{group} version {chosen.version}")
        try:
            count = write_lines(target, answers(handler, model, texts))
        except ValueError as err:  # what the endpoint answers 400: a record the handler refuses
            raise BatchError(f"{data}: the handler refused a record: {err}") from None
        except OSError as err:  # --output is a file, read-only, too long a name: nothing was written
            raise BatchError(f"cannot write {shown_name(target)}: {err.strerror or err}") from None
    if count != len(texts):
        raise ServeError(f"wrote {count} answers for {len(texts)} records")
    return BatchResult(target, count, chosen.version, time.perf_counter() - started)


def cmd_batch(args: argparse.Namespace) -> int:
    project = Path(args.project_dir)
    spec = load_project_spec(project).spec
    result = run_batch(
        project,
        spec,
        Path(args.data),
        output_dir=Path(args.output) if args.output else None,
        text_column=args.text_column,
        header=not args.no_header,
        version=args.version,
    )
    print(f"wrote {plural(result.records, 'prediction')} to {result.output} in {result.seconds:.1f} s")
    return 0
