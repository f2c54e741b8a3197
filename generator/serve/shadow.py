"""Shadow variants of the local endpoint: a copy of a share of the production variant's requests, answered
off the request path, compared with the production answer, never sent to a client.

As on SageMaker (``ShadowProductionVariants``), the production variant answers every request; the shadow
gets a copy of ``sampling_percent`` of them. Locally the copy is queued once the client's answer is
computed, and a thread of the shadow's own runs it through the project's handler, so a slow or failing
shadow changes nothing for clients. Per shadow, :meth:`Shadow.describe` reports what the comparison needs:
requests mirrored (the copies the sample drew; ``dropped`` of them never ran, because the shadow's
backlog was full or the endpoint was stopping), the shadow's invocations, errors and latency (as a
variant's: its handler's time), and the agreement rate: the share of texts for which the shadow
predicted the production variant's label, over the requests both answered.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .capture import CaptureWriter, Sampler
from .handler import Handler, predicted_labels
from .stats import VariantStats

# Copies that may wait for a busy shadow; beyond it a copy is dropped and counted (a shadow slower than
# the traffic must not grow the memory without bound).
MAX_BACKLOG = 1000
DRAIN_SECONDS = 5.0  # at shutdown, how long queued copies may still run; the rest are dropped, counted
GATHER_SECONDS = 0.005  # how long the thread, woken by a copy, waits for the copies that follow it


class Copy(NamedTuple):
    """A production request, and what the production variant predicted (None when it did not answer)."""

    body: bytes
    content_type: str
    accept: str
    inference_id: str | None
    production: Any


@dataclass
class Agreement:
    """How often the shadow predicted what the production variant did, text by text."""

    requests_compared: int = 0
    texts_compared: int = 0
    texts_agreed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, production: list[Any], shadow: list[Any]) -> None:
        agreed = sum(a == b for a, b in zip(production, shadow, strict=False))
        with self.lock:
            self.requests_compared += 1
            # A shadow answering fewer or more texts than production disagrees on the difference.
            self.texts_compared += max(len(production), len(shadow))
            self.texts_agreed += agreed

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            compared, agreed, requests = self.texts_compared, self.texts_agreed, self.requests_compared
        return {
            "requests_compared": requests,
            "texts_compared": compared,
            "texts_agreed": agreed,
            "rate": round(agreed / compared, 4) if compared else None,
        }


class Shadow:
    """One shadow variant: its model, its share of the production traffic, its thread and its counters."""

    def __init__(
        self,
        name: str,
        source: str,
        sampling_percent: int,
        version: int,
        status: str,
        model: Any,
        handler: Handler,
        capture: CaptureWriter | None = None,
        seed: int | str | None = None,
    ) -> None:
        self.name = name
        self.source = source  # the production variant whose requests it copies
        self.sampling_percent = sampling_percent
        self.version = version
        self.status = status
        self.model = model
        self.stats = VariantStats()
        self.agreement = Agreement()
        self._handler = handler
        self._capture = capture
        self._sampler = Sampler(sampling_percent, seed)
        self._lock = threading.Lock()
        self._pending: deque[Copy] = deque()  # copies waiting for the thread (the one it runs excluded)
        self._arrived = threading.Event()
        self._mirrored = 0
        self._dropped = 0
        self._deadline: float | None = None  # set by close: copies still waiting after it are dropped
        self._thread = threading.Thread(target=self._run, name=f"sagespec-shadow-{name}", daemon=True)
        self._thread.start()

    def offer(self, copy: Copy) -> None:
        """Called once the production answer is computed: keep a copy if the sample draws this request."""
        if not self._sampler.take():
            return
        with self._lock:
            self._mirrored += 1
            if self._deadline is not None or len(self._pending) >= MAX_BACKLOG:
                self._dropped += 1
                return
            self._pending.append(copy)
        if not self._arrived.is_set():  # one wake-up per gathering, not one per request
            self._arrived.set()

    def _run(self) -> None:
        while True:
            self._arrived.wait()
            # Waking this thread for every copy costs the server more than the copy (a thread switch
            # and a GIL hand-over per request): gather the copies of the next few requests first.
            time.sleep(GATHER_SECONDS)
            self._arrived.clear()
            # No yield between copies: Python hands the GIL to a waiting thread within its switch interval
            # (5 ms) anyway, and handing it to the server's thread after every copy cost more (measured:
            # +224 vs +132 us of the server's CPU per request with a shadow on every request).
            while (copy := self._next()) is not None:
                self._run_copy(copy)
            if self._deadline is not None:
                return

    def _next(self) -> Copy | None:
        with self._lock:
            return self._pending.popleft() if self._pending else None

    def _run_copy(self, copy: Copy) -> None:
        if self._deadline is not None and time.monotonic() > self._deadline:
            with self._lock:
                self._dropped += 1
            return
        try:
            self._answer(copy)
        except Exception as exc:  # a fault here must not end the thread: count it as the shadow's
            self.stats.record(0.0, 500)
            print(f"shadow variant {self.name}: {type(exc).__name__}: {exc}", file=sys.stderr)

    def _answer(self, copy: Copy) -> None:
        started = time.perf_counter()
        answer = self._handler.answer(self.model, copy.body, copy.content_type, copy.accept, self.name)
        self.stats.record(time.perf_counter() - started, answer.response.status)
        if answer.response.status != 200:
            return
        production, shadow = predicted_labels(copy.production), predicted_labels(answer.predictions)
        if production is not None and shadow is not None:
            self.agreement.record(production, shadow)
        if self._capture is not None:
            response = answer.response
            self._capture.capture(
                self.name,
                copy.body,
                copy.content_type,
                response.body,
                response.content_type,
                copy.inference_id,
            )

    def close(self, drain_seconds: float = DRAIN_SECONDS) -> None:
        """Answer the copies still waiting for up to ``drain_seconds``, drop the rest, stop the thread."""
        with self._lock:
            if self._deadline is None:
                self._deadline = time.monotonic() + drain_seconds
        self._arrived.set()
        # A copy that started before the deadline finishes; a shadow stuck in its handler is left behind
        # (a daemon thread) rather than holding the endpoint open.
        self._thread.join(drain_seconds + 1.0)

    def describe(self) -> dict[str, Any]:
        with self._lock:
            mirrored, dropped = self._mirrored, self._dropped
        return {
            "name": self.name,
            "source_variant": self.source,
            "sampling_percent": self.sampling_percent,
            "version": self.version,
            "approval_status": self.status,
            "mirrored": mirrored,
            "dropped": dropped,
            **self.stats.snapshot(),
            "agreement": self.agreement.snapshot(),
        }
