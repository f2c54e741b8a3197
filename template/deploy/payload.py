"""The endpoint's wire format: the request that classifies some texts, and how its answer is read.

Who reads the request depends on who serves the model:

    handler      pipelines/<pkg>/inference.py: a BERT endpoint on SageMaker, and every model under
                 `make serve`. application/json {"instances": ["text", ...]} (or text/csv, one text per
                 line) -> {"predictions": [{"label": ..., "probabilities": {class: p, ...}}, ...]}
    blazingtext  SageMaker's BlazingText image: {"instances": ["tokens", ...], "configuration": {"k": n}}
                 -> [{"label": ["__label__<class>", ...], "prob": [p, ...]}, ...], best first
    autopilot    Autopilot's inference container: text/csv, one text per line -> one CSV line per text
                 holding what model_autopilot.py's INFERENCE_OUTPUT asks for: the predicted label, its
                 probability, every class's probability ("[0.1, 0.9]") and the classes ("['a', 'b']")

A batch transform job (deploy/batch.py) reads an S3 object split into records at line breaks
(SplitType Line) and sends the server one record per request, or as many as fit (BatchStrategy): the
handler gets one {"instances": [text]} per line, one per request; BlazingText JSON lines
{"source": "tokens"} (application/jsonlines), several per request; Autopilot one CSV line per text.

deploy/cli.py, deploy/smoke_test.py, deploy/batch.py and labeling/review_predictions.py send and read
through here.
"""

from __future__ import annotations

import ast
import contextlib
import csv
import importlib
import io
import json
from dataclasses import dataclass, field
from typing import Any

from deploy.settings import CLASSES, HANDLER_MODULE, MODEL_TYPE

JSON = "application/json"
JSON_LINES = "application/jsonlines"
CSV = "text/csv"
HANDLER = "handler"
# Who answers the deployed endpoint: a built-in image or Autopilot's container, else the handler.
DEPLOYED = MODEL_TYPE if MODEL_TYPE in ("blazingtext", "autopilot") else HANDLER
# The columns of Autopilot's answer, in order (model_autopilot.py's INFERENCE_OUTPUT).
AUTOPILOT_RESPONSE_KEYS = ("predicted_label", "probability", "probabilities", "labels")


class FormatError(ValueError):
    """A request the server cannot read (JSON to a CSV-only container, or the reverse)."""


@dataclass(frozen=True)
class Request:
    """An InvokeEndpoint request's body and headers."""

    content_type: str
    accept: str
    body: bytes


@dataclass(frozen=True)
class Prediction:
    """One text's predicted class and, when the server gives them, every class's probability."""

    label: str
    probabilities: dict[str, float] = field(default_factory=dict)

    @property
    def confidence(self) -> float:
        """The probability of the predicted class."""
        if self.label not in self.probabilities:
            raise ValueError(f"the answer for {self.label!r} holds no class probabilities")
        return self.probabilities[self.label]


def _handler() -> Any:
    return importlib.import_module(HANDLER_MODULE)


def csv_lines(texts: list[str]) -> bytes:
    """One text per line, quoted where it holds a comma, a quote or a line break."""
    lines = io.StringIO()
    csv.writer(lines, lineterminator="\n").writerows([text] for text in texts)
    return lines.getvalue().encode("utf-8")


def encode(texts: list[str], server: str | None = None, content_type: str | None = None) -> Request:
    """The request classifying ``texts``, as ``server`` (None: DEPLOYED) reads it; ``content_type``: JSON
    or CSV, None: the server's own."""
    server = server or DEPLOYED
    if server == "autopilot":
        if content_type not in (None, CSV):
            raise FormatError("Autopilot's container reads CSV only: leave out --content-type json")
        # Autopilot was trained on preprocess.py's cleaned text, each review on one line.
        clean_text = _handler().clean_text
        return Request(CSV, CSV, csv_lines([clean_text(text) for text in texts]))
    if server == "blazingtext":
        if content_type not in (None, JSON):
            raise FormatError("the BlazingText image reads JSON only: leave out --content-type csv")
        # It splits on whitespace only: send the tokens the model was trained on, and ask for every class
        # (it answers only the most probable one by default).
        tokens = _handler().blazingtext_tokens
        payload = {"instances": [tokens(text) for text in texts], "configuration": {"k": len(CLASSES)}}
        return Request(JSON, JSON, json.dumps(payload).encode("utf-8"))
    if content_type == CSV:
        return Request(CSV, JSON, csv_lines(texts))
    return Request(JSON, JSON, json.dumps({"instances": texts}).encode("utf-8"))


@dataclass(frozen=True)
class TransformInput:
    """A batch transform job's input object, one record per line, and how the job sends it."""

    content_type: str
    accept: str
    batch_strategy: str  # SingleRecord: one line per request; MultiRecord: as many as MaxPayloadInMB allows
    body: bytes


def transform_input(texts: list[str], server: str | None = None) -> TransformInput:
    """The object a transform job with SplitType Line reads, one text per line, as ``server`` (None:
    DEPLOYED) reads it. A text's line breaks never split it: JSON escapes them, clean_text removes them."""
    server = server or DEPLOYED
    if server == "autopilot":
        clean_text = _handler().clean_text
        return TransformInput(CSV, CSV, "MultiRecord", csv_lines([clean_text(text) for text in texts]))
    if server == "blazingtext":
        tokens = _handler().blazingtext_tokens
        lines = "".join(json.dumps({"source": tokens(text)}) + "\n" for text in texts)
        return TransformInput(JSON_LINES, JSON_LINES, "MultiRecord", lines.encode("utf-8"))
    # The handler reads one JSON document per request, so each line is a request of its own.
    lines = "".join(json.dumps({"instances": [text]}) + "\n" for text in texts)
    return TransformInput(JSON, JSON, "SingleRecord", lines.encode("utf-8"))


def decode(body: bytes | str, server: str | None = None) -> list[Prediction]:
    """Each text's prediction, in order, from ``server``'s answer (None: DEPLOYED). Raises ValueError
    (SyntaxError for a malformed list of Autopilot's) on an answer in no known format."""
    server = server or DEPLOYED
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    if server == "autopilot":
        return [_autopilot_prediction(row) for row in csv.reader(io.StringIO(text)) if row]
    document = json.loads(text)
    if isinstance(document, dict) and isinstance(document.get("predictions"), list):
        return [
            Prediction(str(item["label"]), {str(c): float(p) for c, p in item["probabilities"].items()})
            for item in document["predictions"]
        ]
    if isinstance(document, list):
        return [_blazingtext_prediction(item) for item in document]
    raise ValueError("neither {'predictions': [...]} nor a list of predictions")


def _blazingtext_prediction(item: dict[str, Any]) -> Prediction:
    class_of = _handler().class_of  # "__label__<class>" -> the class
    probabilities = {class_of(label): float(p) for label, p in zip(item["label"], item["prob"], strict=True)}
    return Prediction(max(probabilities, key=probabilities.__getitem__), probabilities)


def _class_name(value: Any) -> str:
    """A class as CLASSES spells it: Autopilot may read a numeric label column as numbers ("1.0")."""
    if isinstance(value, str) and value not in CLASSES:
        with contextlib.suppress(ValueError):
            value = float(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _autopilot_prediction(row: list[str]) -> Prediction:
    """One CSV line of Autopilot's answer; a container left at its default sends the label alone."""
    if len(row) == 1:
        return Prediction(row[0])
    if len(row) != len(AUTOPILOT_RESPONSE_KEYS):
        raise ValueError(f"expected {', '.join(AUTOPILOT_RESPONSE_KEYS)}; got {len(row)} fields")
    fields = dict(zip(AUTOPILOT_RESPONSE_KEYS, row, strict=True))
    # The lists are Python literals ("['a', 'b']"): literal_eval reads literals only, never code.
    probabilities = ast.literal_eval(fields["probabilities"])
    labels = ast.literal_eval(fields["labels"])
    if not isinstance(probabilities, list) or not isinstance(labels, list):
        raise ValueError(f"probabilities and labels must be lists: {row!r}")
    return Prediction(
        _class_name(fields["predicted_label"]),
        {_class_name(c): float(p) for c, p in zip(labels, probabilities, strict=True)},
    )
