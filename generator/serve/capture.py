"""Data capture of the local endpoint, in SageMaker's data-capture format and layout.

With ``deployment.data_capture.enabled``, SageMaker writes a share (``sampling_percentage``) of each
variant's requests and answers to ``<DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/`` as JSON
Lines files, one record per invocation; Model Monitor reads them from there. Locally the destination is
``<project>/.sagespec-runs/data-capture`` (:func:`sagespec.local.runs.capture_root`), and each record
is the one SageMaker writes::

    {"captureData": {"endpointInput": {"observedContentType": "application/json", "mode": "INPUT",
                                       "data": "{\\"instances\\": [...]}", "encoding": "JSON"},
                     "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT",
                                        "data": "{\\"predictions\\": [...]}", "encoding": "JSON"}},
     "eventMetadata": {"eventId": "<uuid4>", "inferenceId": "<the client's, if it sent one>",
                       "inferenceTime": "2026-12-01T07:05:09Z"},
     "eventVersion": "0"}

A body is kept as text when its content type is one the endpoint stack lists in
``CaptureContentTypeHeader`` (``application/json``: "JSON", ``text/csv``: "CSV"), and base64-encoded
("BASE64") otherwise, as SageMaker does. Files are named as SageMaker names them,
``<minute>-<second>-<millisecond>-<uuid4>.jsonl`` (the time the file was started) inside the hour's
folder; a file takes one variant's records of one hour.

Only answered invocations (200) are captured: a refused request is not an inference a monitor could
judge. Writing stays off the request path: :meth:`CaptureWriter.capture` draws the sample and appends the
exchange to a list; a writer thread turns the list into records every :data:`FLUSH_INTERVAL_S` and
appends each file's lines in one write, so a reader never meets half a batch. :meth:`CaptureWriter.close`
writes what is still pending (the endpoint calls it on SIGTERM and Ctrl-C too).
"""

from __future__ import annotations

import base64
import random
import sys
import threading
import time
import uuid
from collections import Counter
from json.encoder import encode_basestring_ascii as _quoted  # a JSON string literal, ASCII only
from pathlib import Path
from typing import IO, Any, NamedTuple

from ..local.monitoring.captures import EVENT_VERSION
from .handler import media_type

# The content types captured as text, as the endpoint stack's CaptureContentTypeHeader lists them
# (sagespec.render.context_deploy.CAPTURE_CONTENT_TYPES); SageMaker base64-encodes any other body.
TEXT_ENCODINGS = {"application/json": "JSON", "text/csv": "CSV"}
FLUSH_INTERVAL_S = 0.1  # how often the writer thread appends what was captured
# What may wait for the writer: beyond it an exchange is dropped and counted (a stalled disk must not
# fill the memory; SageMaker too stops capturing when the disk fills).
MAX_PENDING_RECORDS = 20_000
MAX_PENDING_BYTES = 256 * 1024 * 1024
# Records made between two chances for the server's thread to take the GIL: a whole batch in one go
# would hold it for milliseconds, and answers would wait that long.
YIELD_EVERY = 16


class Exchange(NamedTuple):
    """One invocation as the writer needs it (the record is made off the request path)."""

    variant: str
    time: float  # seconds since the epoch, when it was answered
    request: bytes
    request_type: str
    response: bytes
    response_type: str
    inference_id: str | None


class Sampler:
    """Draws whether a request is in the sampled share (``percentage`` of them; a seeded RNG)."""

    def __init__(self, percentage: float, seed: int | str | None) -> None:
        self.percentage = percentage
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def take(self) -> bool:
        if self.percentage >= 100:
            return True
        if self.percentage <= 0:
            return False
        with self._lock:  # requests arrive on the event loop and on worker threads
            return self._rng.random() * 100 < self.percentage


def encoded(body: bytes, content_type: str) -> tuple[str, str]:
    """A body as a capture record holds it: (data, encoding)."""
    encoding = TEXT_ENCODINGS.get(media_type(content_type))
    if encoding is not None:
        try:
            return body.decode("utf-8"), encoding
        except UnicodeDecodeError:  # not text after all: only base64 keeps it whole
            pass
    return base64.b64encode(body).decode("ascii"), "BASE64"


def inference_time(seconds: float) -> str:
    """SageMaker's inferenceTime: UTC, to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def capture_line(exchange: Exchange, event_id: str | None = None) -> str:
    """The data-capture record of one invocation, as its line of JSON (ASCII: any text, even one holding
    what UTF-8 cannot encode, makes a valid line).

    The record's frame is fixed, so the line is assembled around the JSON-quoted values (the json
    module's own C quoting), which costs a third of building the dict and dumping it.
    """
    request, request_encoding = encoded(exchange.request, exchange.request_type)
    response, response_encoding = encoded(exchange.response, exchange.response_type)
    inference_id = "" if exchange.inference_id is None else f',"inferenceId":{_quoted(exchange.inference_id)}'
    return (
        '{"captureData":{'
        f'"endpointInput":{{"observedContentType":{_quoted(exchange.request_type)},"mode":"INPUT",'
        f'"data":{_quoted(request)},"encoding":"{request_encoding}"}},'
        f'"endpointOutput":{{"observedContentType":{_quoted(exchange.response_type)},"mode":"OUTPUT",'
        f'"data":{_quoted(response)},"encoding":"{response_encoding}"}}}},'
        f'"eventMetadata":{{"eventId":"{event_id or uuid.uuid4()}"{inference_id},'
        f'"inferenceTime":"{inference_time(exchange.time)}"}},'
        f'"eventVersion":"{EVENT_VERSION}"}}'
    )


def hour_folder(seconds: float) -> str:
    """'yyyy/mm/dd/hh' (UTC) of a moment: the folder its records go to."""
    return time.strftime("%Y/%m/%d/%H", time.gmtime(seconds))


def file_name(seconds: float) -> str:
    """SageMaker's capture file name: '<minute>-<second>-<millisecond>-<uuid4>.jsonl' (UTC)."""
    moment = time.gmtime(seconds)
    return f"{moment.tm_min:02d}-{moment.tm_sec:02d}-{int(seconds * 1000) % 1000:03d}-{uuid.uuid4()}.jsonl"


class CaptureWriter:
    """Captures a sampled share of every variant's invocations under ``root`` (``<root>/<variant>/...``).

    ``capture`` (or ``offer``) is called on the request path; one writer thread does the rest.
    """

    def __init__(
        self,
        root: Path,
        sampling_percentage: int,
        seed: int | str | None = None,
        flush_interval: float = FLUSH_INTERVAL_S,
    ) -> None:
        self.root = root
        self.sampling_percentage = sampling_percentage
        self._sampler = Sampler(sampling_percentage, seed)
        self._flush_interval = flush_interval
        self._lock = threading.Lock()
        self._pending: list[Exchange] = []
        self._pending_bytes = 0
        self._dropped = 0
        self._written: Counter[str] = Counter()
        self._files: dict[str, tuple[str, IO[bytes]]] = {}  # variant -> (its hour folder, open file)
        self._failed = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sagespec-capture", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------------------------- request path

    def capture(
        self,
        variant: str,
        request: bytes,
        request_type: str,
        response: bytes,
        response_type: str,
        inference_id: str | None,
    ) -> bool:
        """Capture one invocation answered now if the sample draws it (only then is its Exchange made);
        whether it will be written."""
        if not self._sampler.take():
            return False
        return self._queue(
            Exchange(variant, time.time(), request, request_type, response, response_type, inference_id)
        )

    def offer(self, exchange: Exchange) -> bool:
        """Capture ``exchange`` if the sample draws it; whether it will be written."""
        if not self._sampler.take():
            return False
        return self._queue(exchange)

    def _queue(self, exchange: Exchange) -> bool:
        """Append a drawn exchange for the writer, or drop and count it when too much is pending."""
        size = len(exchange.request) + len(exchange.response)
        with self._lock:
            if len(self._pending) >= MAX_PENDING_RECORDS or self._pending_bytes + size > MAX_PENDING_BYTES:
                self._dropped += 1
                return False
            self._pending.append(exchange)
            self._pending_bytes += size
        return True

    # ------------------------------------------------------------------------------------- writer thread

    def _run(self) -> None:
        while not self._stop.wait(self._flush_interval):
            self._write_pending()
        self._write_pending()  # what came before close

    def _write_pending(self) -> None:
        with self._lock:
            batch, self._pending, self._pending_bytes = self._pending, [], 0
        if not batch:
            return
        lines: dict[tuple[str, str], list[bytes]] = {}
        first: dict[tuple[str, str], float] = {}  # when each file's first record was answered
        for index, exchange in enumerate(batch, 1):
            key = (exchange.variant, hour_folder(exchange.time))
            lines.setdefault(key, []).append(capture_line(exchange).encode("ascii") + b"\n")
            first.setdefault(key, exchange.time)
            if index % YIELD_EVERY == 0:
                time.sleep(0)  # let the event loop take the GIL: it may be waiting to answer a request
        for (variant, hour), variant_lines in lines.items():
            try:
                self._file(variant, hour, first[variant, hour]).write(b"".join(variant_lines))
            except OSError as exc:
                self._fail(exc, len(variant_lines))
                continue
            with self._lock:
                self._written[variant] += len(variant_lines)

    def _file(self, variant: str, hour: str, started: float) -> IO[bytes]:
        """The variant's file of that hour: a new one when the hour changes (SageMaker's layout)."""
        current = self._files.get(variant)
        if current is not None and current[0] == hour:
            return current[1]
        if current is not None:
            current[1].close()
            del self._files[variant]
        folder = self.root / variant / hour
        folder.mkdir(parents=True, exist_ok=True)
        # Unbuffered: each batch is one write() of whole lines.
        handle = (folder / file_name(started)).open("ab", buffering=0)
        self._files[variant] = (hour, handle)
        return handle

    def _fail(self, exc: OSError, count: int) -> None:
        with self._lock:
            self._dropped += count
        if not self._failed:  # say it once, not once per batch
            self._failed = True
            message = f"data capture: cannot write under {self.root}: {exc}; records are dropped"
            print(message, file=sys.stderr)

    # ------------------------------------------------------------------------------------- lifecycle

    def close(self) -> None:
        """Write what is pending, close the files. Safe to call twice."""
        self._stop.set()
        self._thread.join()
        for _, handle in self._files.values():
            handle.close()
        self._files.clear()

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "enabled": True,
                "sampling_percentage": self.sampling_percentage,
                "destination": str(self.root),
                "captured": dict(self._written),
                "dropped": self._dropped,
            }
