"""Captured traffic in, ground truth out: the labeling side of Model Monitor's model-quality loop.

The local endpoint captures each request and its answer as SageMaker's data capture does::

    .sagespec-runs/data-capture/<endpoint>/<variant>/YYYY/MM/DD/HH/<timestamp>-<uuid>.jsonl

one record per line (``captureData.endpointInput`` / ``endpointOutput``, ``eventMetadata``). The
predictions of records that hold one text are what people review; each label they give is written as
Model Monitor's ground truth, which a model-quality job joins to the captured record by its event id::

    .sagespec-runs/ground-truth/YYYY/MM/DD/HH/<human loop name>.jsonl
    {"groundTruthData": {"data": "<class>", "encoding": "CSV"}, "eventMetadata": {"eventId": "<id>"},
     "eventVersion": "0"}

The id is the record's ``inferenceId`` when the client sent one (X-Amzn-SageMaker-Inference-Id), else
its ``eventId``, as Model Monitor joins them. The hour folder is when the label was given, as on S3 (a
label may come days after the request). A text captured several times is one review task, and its label
is written for every record that holds it.

Requests are read with the project's own inference handler (``input_fn``) and answers with
``deploy/payload.py`` (``decode``), the code that reads a real endpoint's answers. Only the spec's
production variants are read: a shadow variant's answers never reach a client.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import LabelingError
from ..local.monitoring import captures
from ..local.monitoring.captures import EVENT_VERSION
from ..local.runs import capture_root, ground_truth_root
from ..project_modules import import_file
from .project import LabelingProject, project_on_path

GROUND_TRUTH_ENCODING = "CSV"  # the label as Model Monitor reads a CSV ground truth: the value itself


@dataclass(frozen=True)
class CapturedPrediction:
    """One captured record holding one text, with the prediction the endpoint answered."""

    event_id: str  # inferenceId when the client sent one, else eventId: what Model Monitor joins on
    text: str
    prediction: dict[str, Any]  # {"label", "confidence", "probabilities"}
    variant: str


@dataclass
class CaptureScan:
    """What the captured traffic held: the predictions to consider, and what was left out and why."""

    files: int = 0
    records: int = 0
    predictions: list[CapturedPrediction] = field(default_factory=list)
    left_out: dict[str, int] = field(default_factory=dict)

    def leave_out(self, reason: str) -> None:
        self.left_out[reason] = self.left_out.get(reason, 0) + 1


def capture_files(project_dir: Path, variants: Iterable[str]) -> list[Path]:
    """The capture files of the named variants of every endpoint, oldest hour first."""
    root = capture_root(project_dir)
    wanted = set(variants)
    files = []
    for endpoint in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        for variant in sorted(p for p in endpoint.iterdir() if p.is_dir() and p.name in wanted):
            files += captures.jsonl_files(variant)
    return files


def production_variants(project: LabelingProject) -> list[str]:
    """The variants whose answers reach clients (a shadow variant's never do)."""
    return [v.name for v in project.spec.deployment.variants]


def _body(payload: dict[str, Any]) -> bytes:
    data, encoding = payload.get("data"), payload.get("encoding", "")
    if not isinstance(data, str):
        raise ValueError("no data")
    if str(encoding).upper() == "BASE64":
        return base64.b64decode(data, validate=True)
    return data.encode("utf-8")


def _handler(project: LabelingProject) -> ModuleType:
    path = project.root / "pipelines" / project.spec.project.package / "inference.py"
    if not path.is_file():
        raise LabelingError(
            f"{path} is missing: captured requests are read with the project's inference handler "
            "(generated when deployment.enabled is true)"
        )
    return import_file(path, "_sagespec_label_capture_inference")


def _payload_module(project: LabelingProject) -> ModuleType:
    """The project's deploy/payload.py, as labeling/review_predictions.py imported it."""
    module = getattr(project.review_predictions, "payload", None)
    if module is None or not callable(getattr(module, "decode", None)):
        raise LabelingError("the project's labeling/review_predictions.py does not use deploy/payload.py")
    return module


def read_record(
    record: dict[str, Any], handler: ModuleType, payload: ModuleType
) -> tuple[str, list[str], Any]:
    """(event id, the request's texts, the answer's predictions) of one capture record; ValueError when
    it is not a data-capture record or its bodies cannot be read."""
    capture = record["captureData"]
    request, answer = capture["endpointInput"], capture["endpointOutput"]
    metadata = record.get("eventMetadata") or {}
    event_id = captures.join_id(metadata.get("inferenceId"), metadata.get("eventId"))
    if not isinstance(event_id, str) or not event_id:
        raise ValueError("no eventId")
    texts = handler.input_fn(_body(request), request.get("observedContentType") or "application/json")
    predictions = payload.decode(_body(answer), payload.HANDLER)
    return event_id, texts, predictions


def scan_capture(project: LabelingProject, files: list[Path]) -> CaptureScan:
    """Every captured prediction of one text in ``files`` (:func:`capture_files` of the production
    variants)."""
    scan = CaptureScan()
    root = capture_root(project.root)
    with project_on_path(project.root):
        handler, payload = _handler(project), _payload_module(project)
        for path in files:
            scan.files += 1
            variant = path.relative_to(root).parts[1]
            for line in _lines(path):
                scan.records += 1
                try:
                    event_id, texts, predictions = read_record(json.loads(line), handler, payload)
                except (ValueError, KeyError, TypeError, AttributeError, SyntaxError):
                    scan.leave_out("not a readable data-capture record")
                    continue
                if len(texts) != 1 or len(predictions) != 1:
                    # Model Monitor joins one ground-truth label to one record.
                    scan.leave_out("holds several texts")
                    continue
                prediction = predictions[0]
                if prediction.label not in prediction.probabilities:
                    scan.leave_out("its answer holds no probabilities")
                    continue
                scan.predictions.append(
                    CapturedPrediction(
                        event_id,
                        texts[0],
                        {
                            "label": prediction.label,
                            "confidence": prediction.confidence,
                            "probabilities": dict(prediction.probabilities),
                        },
                        variant,
                    )
                )
    return scan


def _lines(path: Path) -> Iterator[str]:
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            yield from (line for line in f if line.strip())
    except OSError as err:
        raise LabelingError(f"cannot read {path}: {err.strerror or err}") from None


# ---------------------------------------------------------------------------------------------- ground truth


def ground_truth_line(event_id: str, label: str) -> str:
    """One Model Monitor ground-truth record."""
    record = {
        "groundTruthData": {"data": label, "encoding": GROUND_TRUTH_ENCODING},
        "eventMetadata": {"eventId": event_id},
        "eventVersion": EVENT_VERSION,
    }
    return json.dumps(record, ensure_ascii=False)


def ground_truth_path(project_dir: Path, name: str, labeled: datetime) -> Path:
    return ground_truth_root(project_dir) / f"{labeled.astimezone(UTC):%Y/%m/%d/%H}" / f"{name}.jsonl"


def write_ground_truth(
    project_dir: Path, name: str, label: str, event_ids: Iterable[str], labeled: datetime
) -> Path:
    """The label of review task ``name`` for each of its records, in the hour it was given; an earlier
    label of the same task (another hour) is removed, so each record has one ground truth."""
    target = ground_truth_path(project_dir, name, labeled)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    partial.write_text("".join(ground_truth_line(e, label) + "\n" for e in event_ids), encoding="utf-8")
    partial.replace(target)
    for earlier in ground_truth_root(project_dir).glob(f"*/*/*/*/{name}.jsonl"):
        if earlier != target:
            with contextlib.suppress(OSError):
                earlier.unlink()
    return target
