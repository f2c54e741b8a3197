"""One request through the project's handler (``input_fn`` -> ``predict_fn`` -> ``output_fn``), and the
status code each outcome gets: what every variant of the local endpoint, a shadow variant included, runs.

Also the checks a request passes before any handler sees it: a JSON body the handler could not take
(:func:`check_json_body`), an inference id InvokeEndpoint would refuse (:func:`check_inference_id`).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any

MAX_JSON_DEPTH = 32  # {"instances": [...]} is 2 deep; deeper bodies are refused before the handler
# InvokeEndpoint's InferenceId (the X-Amzn-SageMaker-Inference-Id header): 1-64 characters matching
# \A\S[\p{Print}]*\z (botocore's service model), a Java pattern: \S is anything but [ \t\n\x0B\f\r],
# \p{Print} printable ASCII.
MAX_INFERENCE_ID = 64
_INFERENCE_ID = re.compile(r"[^ \t\n\x0b\f\r][\x20-\x7e]*")
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str
    variant: str | None = None


@dataclass(frozen=True)
class Answer:
    """A handler's response, and what ``predict_fn`` returned when it got that far (None otherwise):
    the predictions a shadow variant's are compared with."""

    response: Response
    predictions: Any = None


class Handler:
    """The project's ``inference.py`` module, called the way a model server calls it."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module
        self._unsupported = getattr(module, "UnsupportedContentType", None)

    def answer(self, model: Any, body: bytes, content_type: str, accept: str, who: str) -> Answer:
        """The handler's answer to one request; its errors become the status codes a model server returns
        (415 an unsupported content type, 400 a ValueError: the request's fault, 500 anything else,
        printed to stderr with ``who`` answered)."""
        handler = self.module
        try:
            if media_type(content_type) == "application/json":
                check_json_body(body)
            texts = handler.input_fn(body, content_type)
            predictions = handler.predict_fn(texts, model)
            answer, answer_type = body_and_type(handler.output_fn(predictions, accept))
        except Exception as exc:
            if self._unsupported is not None and isinstance(exc, self._unsupported):
                return Answer(error(415, str(exc)))
            if isinstance(exc, ValueError):
                return Answer(error(400, str(exc)))
            print(f"variant {who}: {type(exc).__name__}: {exc}", file=sys.stderr)
            return Answer(error(500, f"{type(exc).__name__}: {exc}"))
        encoded = answer.encode("utf-8") if isinstance(answer, str) else answer
        return Answer(Response(200, encoded, answer_type), predictions)


def predicted_labels(predictions: Any) -> list[Any] | None:
    """The label of each text in ``predict_fn``'s answer (a list of {"label": ...} or of labels), or None
    when it has no such shape."""
    if not isinstance(predictions, list):
        return None
    return [p.get("label") if isinstance(p, dict) else p for p in predictions]


def body_and_type(answer: Any) -> tuple[str | bytes, str]:
    """output_fn's answer: the JSON body, or (body, content type) from a project generated earlier."""
    if isinstance(answer, tuple):
        body, content_type = answer
        return body, content_type
    return answer, "application/json"


def media_type(content_type: str) -> str:
    """'application/json; charset=utf-8' -> 'application/json'."""
    return content_type.split(";", 1)[0].strip().lower()


def error(status: int, message: str) -> Response:
    return Response(status, json.dumps({"error": message}).encode("utf-8"), "application/json")


def check_inference_id(value: str) -> None:
    """Refuse (ValueError) an inference id that SageMaker's InvokeEndpoint would refuse."""
    if not 0 < len(value) <= MAX_INFERENCE_ID or not _INFERENCE_ID.fullmatch(value):
        raise ValueError(
            f"X-Amzn-SageMaker-Inference-Id must be 1-{MAX_INFERENCE_ID} printable ASCII characters "
            f"that do not start with white space; got {value[:80]!r}"
        )


def check_json_body(body: bytes) -> None:
    """Refuse (ValueError: the caller's fault, 400) a JSON body that is not UTF-8, not JSON, nested
    deeper than :data:`MAX_JSON_DEPTH`, or that holds a lone UTF-16 surrogate (``"\\ud800"``): Python
    parses that escape into a string no UTF-8 encoder (a tokenizer, fastText, a log line) accepts."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"the body is not UTF-8: {err.reason} at byte {err.start}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"the body is not valid JSON: {err}") from None
    except RecursionError:
        raise ValueError(f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels") from None
    # A lone surrogate can only come from a backslash-u escape (raw ones are not UTF-8), and nesting deeper
    # than the limit needs more brackets than it: most bodies need no walk through the document.
    deep = body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH
    if not deep and b"\\u" not in body:
        return
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                raise ValueError("the JSON body holds a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff)")
            continue
        if not isinstance(value, dict | list):
            continue
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels")
        items = [*value, *value.values()] if isinstance(value, dict) else value
        pending.extend((item, depth + 1) for item in items)
