"""What a variant's invocations are counted as: calls, 4xx and 5xx answers, latency (what CloudWatch
reports per variant), for the production variants and the shadow variants alike."""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

LATENCY_WINDOW = 4096  # the latest requests per variant that the percentiles are computed from
# A variant whose handler typically answers within this time is called on the server's event loop (a
# thread hop costs more); a slower one runs on a worker thread, so the loop keeps answering meanwhile.
INLINE_LIMIT_S = 0.002
TYPICAL_WEIGHT = 0.05  # how much each request moves a variant's typical latency (a moving average)


@dataclass
class VariantStats:
    """Invocations, errors and latency of one variant (what CloudWatch reports per variant)."""

    invocations: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    total_seconds: float = 0.0
    typical_seconds: float = 0.0  # a moving average of the handler's latency (see record)
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, seconds: float, status: int) -> None:
        with self.lock:
            self.invocations += 1
            self.total_seconds += seconds
            # Each sample counts at most twice the inline limit: one stall (this process descheduled
            # on a busy machine) does not move a quick model off the loop, while a model that is slow
            # most of the time crosses the limit within about 15 requests.
            sample = min(seconds, 2 * INLINE_LIMIT_S)
            self.typical_seconds += TYPICAL_WEIGHT * (sample - self.typical_seconds)
            self.recent.append(seconds)
            if 400 <= status < 500:
                self.errors_4xx += 1
            elif status >= 500:
                self.errors_5xx += 1

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            recent = sorted(self.recent)
            count, total = self.invocations, self.total_seconds
            errors = {"4xx": self.errors_4xx, "5xx": self.errors_5xx}

        def percentile(q: float) -> float | None:
            if not recent:
                return None
            return round(1000 * recent[min(len(recent) - 1, math.ceil(q * len(recent)) - 1)], 3)

        return {
            "invocations": count,
            "errors": errors,
            "latency_ms": {
                "mean": round(1000 * total / count, 3) if count else None,
                "p50": percentile(0.50),
                "p99": percentile(0.99),
            },
        }
