"""The endpoint's captured traffic and the ground truth given for it, read as Model Monitor reads them.

    data-capture/<endpoint>/<variant>/YYYY/MM/DD/HH/*.jsonl    SageMaker's data-capture records, one a line:
        {"captureData": {"endpointInput": {"data", "encoding", ...}, "endpointOutput": {...}},
         "eventMetadata": {"eventId", "inferenceId" (when the client sent one), "inferenceTime"},
         "eventVersion": "0"}
    ground-truth/YYYY/MM/DD/HH/*.jsonl                          Model Monitor's ground truth, one a line:
        {"groundTruthData": {"data": "<class>", "encoding": "CSV"}, "eventMetadata": {"eventId": "<id>"},
         "eventVersion": "0"}

A ground-truth label joins the captured record whose inferenceId (else eventId) is its eventId. A line
that is not such a record is an error naming its file and line: a monitor that skipped it would report
on traffic it never read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import DataError

SUFFIX = ".jsonl"
EVENT_VERSION = "0"  # the eventVersion of data-capture and ground-truth records


@dataclass(frozen=True)
class CapturedRecord:
    path: Path
    line: int
    event_id: str
    inference_id: str | None
    inference_time: str
    input_data: str
    input_encoding: str
    output_data: str
    output_encoding: str

    @property
    def join_id(self) -> str:
        """The id ground truth names this record by (Model Monitor: inferenceId, else eventId)."""
        return join_id(self.inference_id, self.event_id)

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def join_id(inference_id: str | None, event_id: str) -> str:
    """The id ground truth names a captured record by: Model Monitor joins on inferenceId, else eventId."""
    return inference_id or event_id


def jsonl_files(root: Path) -> list[Path]:
    """Every ``*.jsonl`` under ``root``, in path order (the hour folders sort by time)."""
    return sorted(path for path in root.rglob(f"*{SUFFIX}") if path.is_file()) if root.is_dir() else []


def _lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read: {exc}") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            document = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{number}: not a JSON object: {exc.msg}") from None
        if not isinstance(document, dict):
            raise DataError(f"{path}:{number}: not a JSON object")
        yield number, document


def _field(document: dict[str, Any], dotted: str, where: str) -> Any:
    value: Any = document
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            raise DataError(f"{where}: the record has no {dotted}")
        value = value[key]
    return value


def _text(document: dict[str, Any], dotted: str, where: str) -> str:
    value = _field(document, dotted, where)
    if not isinstance(value, str):
        raise DataError(f"{where}: {dotted} must be a string, got {type(value).__name__}")
    return value


def read_captures(files: list[Path]) -> list[CapturedRecord]:
    """Every captured record of ``files`` (one variant's :func:`jsonl_files`), in their order."""
    records = []
    for path in files:
        for number, document in _lines(path):
            where = f"{path}:{number}"
            metadata = _field(document, "eventMetadata", where)
            inference_id = metadata.get("inferenceId") if isinstance(metadata, dict) else None
            records.append(
                CapturedRecord(
                    path=path,
                    line=number,
                    event_id=_text(document, "eventMetadata.eventId", where),
                    inference_id=str(inference_id) if inference_id else None,
                    inference_time=str(metadata.get("inferenceTime", "")),
                    input_data=_text(document, "captureData.endpointInput.data", where),
                    input_encoding=_text(document, "captureData.endpointInput.encoding", where),
                    output_data=_text(document, "captureData.endpointOutput.data", where),
                    output_encoding=_text(document, "captureData.endpointOutput.encoding", where),
                )
            )
    return records


def read_ground_truth(root: Path) -> dict[str, str]:
    """The class given for each event id (a later label for the same id replaces an earlier one)."""
    labels: dict[str, str] = {}
    for path in jsonl_files(root):
        for number, document in _lines(path):
            where = f"{path}:{number}"
            data = _field(document, "groundTruthData.data", where)
            if not isinstance(data, str | int | float) or isinstance(data, bool):
                raise DataError(f"{where}: groundTruthData.data must be the class label")
            labels[_text(document, "eventMetadata.eventId", where)] = str(data).strip()
    return labels
