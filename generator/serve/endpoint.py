"""The local endpoint's state: its variants, the models they serve, the traffic weights and counters.

Each variant of the spec's ``deployment`` section serves a model package of the local registry
(``<project>/.sagespec-runs/registry/<group>/<version>/``), picked by the variant's rule as the deploy
build picks one from SageMaker's registry. Every model goes through the project's own
``pipelines/<pkg>/inference.py``: ``model_fn`` loads it, ``input_fn`` / ``predict_fn`` / ``output_fn``
answer each request.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import random
import re
import sys
import tarfile
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from ..deployment import ModelSelection, build_deployment
from ..errors import SagespecError
from ..local.deps import missing_dependency
from ..local.registry import MODEL_FILE, PACKAGE_FILE, versions
from ..local.runs import SPEC_FILE, registry_root
from ..project_modules import import_file
from ..spec.models import Spec

HANDLER_FUNCTIONS = ("model_fn", "input_fn", "predict_fn", "output_fn")
LATENCY_WINDOW = 4096  # the latest requests per variant that the percentiles are computed from
# A variant whose handler typically answers within this time is called on the server's event loop (a
# thread hop costs more); a slower one runs on a worker thread, so the loop keeps answering meanwhile.
INLINE_LIMIT_S = 0.002
TYPICAL_WEIGHT = 0.05  # how much each request moves a variant's typical latency (a moving average)
MAX_JSON_DEPTH = 32  # {"instances": [...]} is 2 deep; deeper bodies are refused before the handler
_SURROGATE = re.compile("[\ud800-\udfff]")


class ServeError(SagespecError):
    """The local endpoint cannot start: no model registered, no handler, a bad weight."""


# ---------------------------------------------------------------------------------------------- handler


def load_handler(project_dir: Path, package: str) -> ModuleType:
    """The project's ``pipelines/<package>/inference.py``, imported from its file."""
    path = project_dir / "pipelines" / package / "inference.py"
    if not path.is_file():
        raise ServeError(
            f"{path} does not exist: the endpoint serves models through the project's inference handler "
            "(generated when deployment.enabled is true; `sagespec update` adds it)"
        )
    try:
        module = import_file(path, f"_sagespec_serve_{package}_inference", keep=True)
    except Exception as exc:
        if dependency := missing_dependency(exc, needed_by=str(path)):
            raise dependency from None
        raise ServeError(f"cannot import {path}: {type(exc).__name__}: {exc}") from exc
    missing = [f for f in HANDLER_FUNCTIONS if not callable(getattr(module, f, None))]
    if missing:
        raise ServeError(f"{path} does not define {', '.join(missing)}")
    return module


# ---------------------------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Selection:
    version: int
    path: Path
    status: str
    note: str = ""  # why this version, when it is not what the rule asked for


def _package(registry: Path, group: str, version: int) -> dict[str, Any]:
    return json.loads((registry / group / str(version) / PACKAGE_FILE).read_text())


def select_version(registry: Path, group: str, variant: str, rule: ModelSelection) -> Selection:
    """The registered version a variant serves: its rule applied to the local registry.

    ``latest-approved`` falls back to the newest version when none is approved, with a note: locally
    registered models carry the spec's approval status (usually PendingManualApproval), and approving
    them is a step of the SageMaker registry, not of a laptop.
    """
    found = versions(registry, group)
    if not found:
        raise ServeError(
            f"no model registered in {registry / group}: run the pipeline first (`sagespec local run`)"
        )

    def pick(version: int, note: str = "") -> Selection:
        status = _package(registry, group, version).get("ModelApprovalStatus", "Unknown")
        return Selection(version, registry / group / str(version), status, note)

    if rule.select == "version":
        if rule.version not in found:
            raise ServeError(f"variant {variant}: {group} has no version {rule.version}; it has {found}")
        return pick(rule.version)
    if rule.select == "latest-approved":
        approved = [v for v in found if _package(registry, group, v).get("ModelApprovalStatus") == "Approved"]
        if approved:
            return pick(approved[-1])
        return pick(found[-1], "none is approved, so the newest; a SageMaker deploy would refuse")
    return pick(found[-1])


# ---------------------------------------------------------------------------------------------- counters


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


# ---------------------------------------------------------------------------------------------- routing


class Router:
    """Picks a variant per request with probability weight / sum of weights (a seeded RNG).

    The weights are kept as given (what DescribeEndpoint reports) and drawn from as shares that sum to
    1, so any weights :func:`traffic_shares` accepts can be drawn from: huge, tiny or subnormal ones.
    """

    def __init__(self, weights: dict[str, float], seed: int | None = 0) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._names: list[str] = []
        self._cumulative: list[float] = []
        self._fallback = 0  # the last variant with a share: where a draw past the last bound lands
        self._weights: dict[str, float] = {}
        self._shares: dict[str, float] = {}
        self.set_weights(weights, replace=True)

    @property
    def weights(self) -> dict[str, float]:
        with self._lock:
            return dict(self._weights)

    @property
    def shares(self) -> dict[str, float]:
        """Each variant's fraction of the traffic (they sum to 1)."""
        with self._lock:
            return dict(self._shares)

    def set_weights(self, weights: dict[str, Any], replace: bool = False) -> dict[str, float]:
        """Change the given variants' weights (the others keep theirs), as UpdateEndpointWeightsAndCapacities
        does; returns the new weights. A ValueError says what is wrong, and nothing changes."""
        with self._lock:
            unknown = sorted(map(str, set(weights) - set(self._weights))) if not replace else []
            if unknown:
                raise ValueError(
                    f"no variant named {', '.join(unknown)}; variants: {', '.join(self._weights)}"
                )
            new = dict(weights) if replace else {**self._weights, **weights}
            shares = traffic_shares(new)
            self._weights = {name: float(w) for name, w in new.items()}
            self._shares = shares
            self._names = list(shares)
            self._cumulative = list(itertools.accumulate(shares.values()))
            self._fallback = max(i for i, share in enumerate(shares.values()) if share > 0)
            return dict(self._weights)

    def choose(self) -> str:
        with self._lock:
            # The first variant whose cumulative share exceeds the point: weight-0 variants never match.
            # Rounding can leave the last bound a hair under 1; a point past it goes to the last variant
            # with traffic.
            index = bisect.bisect_right(self._cumulative, self._rng.random())
            return self._names[min(index, self._fallback)]


def traffic_shares(weights: dict[str, Any]) -> dict[str, float]:
    """Each variant's share of the traffic, from weights that must be finite real numbers >= 0 (JSON
    ``true`` is not 1), at least one above 0, and none so small beside the others that it would never
    be drawn. Raises ValueError saying which weights are wrong."""
    bad = [f"{name}={weight!r}" for name, weight in weights.items() if not _is_weight(weight)]
    if bad:
        raise ValueError(f"weights must be finite numbers >= 0: {', '.join(bad)}")
    values = {name: float(weight) for name, weight in weights.items()}
    largest = max(values.values(), default=0.0)
    if not largest > 0:
        raise ValueError("at least one variant needs a weight above 0")
    # Scale by the largest weight first: the sum of huge weights stays finite, and subnormal ones
    # become ordinary fractions.
    scaled = {name: value / largest for name, value in values.items()}
    total = math.fsum(scaled.values())
    shares = {name: value / total for name, value in scaled.items()}
    starved = [name for name, value in values.items() if value > 0 and shares[name] == 0]
    if starved:
        raise ValueError(
            f"weight of {', '.join(starved)} is too small beside the others to ever get a request; use 0"
        )
    return shares


def _is_weight(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value)) and value >= 0
    except OverflowError:  # an int beyond float's range
        return False


# ---------------------------------------------------------------------------------------------- endpoint


@dataclass
class Variant:
    name: str
    version: int
    status: str
    model: Any
    stats: VariantStats = field(default_factory=VariantStats)


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str
    variant: str | None = None


class Endpoint:
    """The loaded variants, the router, and one request's path through the handler."""

    def __init__(
        self, handler: ModuleType, variants: list[Variant], weights: dict[str, float], seed: int | None
    ):
        self.handler = handler
        self.variants = {v.name: v for v in variants}
        self.router = Router(weights, seed)
        self._unsupported = getattr(handler, "UnsupportedContentType", None)
        self._workdir: tempfile.TemporaryDirectory[str] | None = None

    def close(self) -> None:
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def invoke(
        self, body: bytes, content_type: str, accept: str, target_variant: str | None = None
    ) -> Response:
        """One POST /invocations. An unknown target variant is the caller's error (400), as on SageMaker."""
        if target_variant is not None and target_variant not in self.variants:
            message = (
                f"target variant {target_variant!r} does not exist; variants: {', '.join(self.variants)}"
            )
            return _error(400, message)
        try:
            variant = self.variants[target_variant or self.router.choose()]
        except Exception as exc:  # a router fault is the server's: answer it, never drop the request
            print(f"routing failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            return _error(500, f"routing failed: {type(exc).__name__}")
        started = time.perf_counter()
        try:
            if _media_type(content_type) == "application/json":
                check_json_body(body)
            texts = self.handler.input_fn(body, content_type)
            predictions = self.handler.predict_fn(texts, variant.model)
            answer, answer_type = _body_and_type(self.handler.output_fn(predictions, accept))
            response = Response(
                200, answer.encode("utf-8") if isinstance(answer, str) else answer, answer_type
            )
        except Exception as exc:  # the handler's errors become the status codes a model server returns
            if self._unsupported is not None and isinstance(exc, self._unsupported):
                response = _error(415, str(exc))
            elif isinstance(exc, ValueError):
                response = _error(400, str(exc))
            else:
                print(f"variant {variant.name}: {type(exc).__name__}: {exc}", file=sys.stderr)
                response = _error(500, f"{type(exc).__name__}: {exc}")
        variant.stats.record(time.perf_counter() - started, response.status)
        response.variant = variant.name
        return response

    def quick(self) -> bool:
        """Whether every variant typically answers within :data:`INLINE_LIMIT_S` (or has not answered
        yet): then a request is cheaper to handle where it arrives than on a worker thread."""
        return all(v.stats.typical_seconds <= INLINE_LIMIT_S for v in self.variants.values())

    def describe(self) -> dict[str, Any]:
        """Weights, versions and counters of every variant (the local DescribeEndpoint + metrics)."""
        weights, shares = self.router.weights, self.router.shares
        return {
            "variants": [
                {
                    "name": v.name,
                    "weight": weights[v.name],
                    "traffic_percent": round(100 * shares[v.name], 2),
                    "version": v.version,
                    "approval_status": v.status,
                    **v.stats.snapshot(),
                }
                for v in self.variants.values()
            ]
        }


def _body_and_type(answer: Any) -> tuple[str | bytes, str]:
    """output_fn's answer: the JSON body, or (body, content type) from a project generated earlier."""
    if isinstance(answer, tuple):
        body, content_type = answer
        return body, content_type
    return answer, "application/json"


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


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


def _error(status: int, message: str) -> Response:
    return Response(status, json.dumps({"error": message}).encode("utf-8"), "application/json")


def _unpack(archive: Path, destination: Path) -> Path:
    destination.mkdir(parents=True)
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(destination, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise ServeError(f"cannot unpack {archive}: {exc}") from None
    return destination


def load_endpoint(project_dir: Path, spec: Spec, seed: int | None = 0, out: TextIO | None = None) -> Endpoint:
    """Load every variant's model through the project's handler; print what serves what."""
    out = out or sys.stdout
    deployment = build_deployment(spec)
    if not deployment.enabled:
        raise ServeError(f"deployment is switched off in {project_dir / SPEC_FILE} (deployment.enabled)")
    handler = load_handler(project_dir, spec.project.package)
    registry = registry_root(project_dir)
    group = spec.model_package_group
    workdir = tempfile.TemporaryDirectory(prefix="sagespec-serve-")
    models: dict[int, Any] = {}  # variants on the same version share one loaded model
    variants = []
    try:
        for v in deployment.variants:
            chosen = select_version(registry, group, v.name, v.model)
            if chosen.version not in models:
                started = time.perf_counter()
                model_dir = _unpack(chosen.path / MODEL_FILE, Path(workdir.name) / str(chosen.version))
                models[chosen.version] = _call_model_fn(
                    handler, model_dir, f"{group} version {chosen.version}"
                )
                seconds = time.perf_counter() - started
                print(f"loaded {group} version {chosen.version} in {seconds:.1f} s", file=out)
            variants.append(Variant(v.name, chosen.version, chosen.status, models[chosen.version]))
            note = f"  [{chosen.note}]" if chosen.note else ""
            print(
                f"  {v.name:<16} {v.traffic_percent:>5g}%  version {chosen.version} ({chosen.status}, "
                f"rule {v.model.select}){note}",
                file=out,
            )
    except BaseException:
        workdir.cleanup()
        raise
    endpoint = Endpoint(handler, variants, deployment.weights, seed)
    endpoint._workdir = workdir
    return endpoint


def _call_model_fn(handler: ModuleType, model_dir: Path, what: str) -> Any:
    model_fn: Callable[[str], Any] = handler.model_fn
    try:
        return model_fn(str(model_dir))
    except Exception as exc:
        if dependency := missing_dependency(exc, needed_by=f"model_fn loading {what}"):
            raise dependency from None
        raise ServeError(f"model_fn could not load {what}: {type(exc).__name__}: {exc}") from exc
