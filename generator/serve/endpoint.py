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
import sys
import tarfile
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from ..deployment import DeploymentPlan, ModelSelection, build_deployment
from ..errors import ServeError
from ..local.deps import missing_dependency
from ..local.registry import MODEL_FILE, PACKAGE_FILE, versions
from ..local.runs import SPEC_FILE, capture_root, registry_root
from ..project_modules import import_file
from ..spec.models import Spec
from .capture import CaptureWriter
from .handler import MAX_JSON_DEPTH, Handler, Response, check_inference_id, check_json_body, error
from .shadow import Copy, Shadow
from .stats import INLINE_LIMIT_S, LATENCY_WINDOW, VariantStats

__all__ = [  # what the server, the tests and `local batch` import from here
    "INLINE_LIMIT_S",
    "LATENCY_WINDOW",
    "MAX_JSON_DEPTH",
    "Endpoint",
    "Response",
    "ServeError",
    "Variant",
    "check_json_body",
    "load_endpoint",
    "load_handler",
    "select_version",
]

HANDLER_FUNCTIONS = ("model_fn", "input_fn", "predict_fn", "output_fn")


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
    path = registry / group / str(version) / PACKAGE_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:  # unreadable, not UTF-8, not JSON, not an object
        raise ServeError(
            f"{path} is damaged: {exc}: restore it, or remove the folder {path.parent} to drop that "
            "version from the local registry"
        ) from None
    return document


def select_version(registry: Path, group: str, variant: str, rule: ModelSelection) -> Selection:
    """The registered version a variant serves: its rule applied to the local registry.

    ``latest-approved`` falls back to the newest version when none is approved, with a note: locally
    registered models carry the spec's approval status (usually PendingManualApproval), and approving
    them is a step of the SageMaker registry, not of a laptop.
    """
    found = versions(registry, group)
    if not found:
        raise ServeError(
            f"no model registered in {registry / group}: run the pipeline first (`make local`); a run "
            "registers its model only when the evaluation reaches the threshold (`make local THRESHOLD=...` "
            "lowers it for a try)"
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


class Endpoint:
    """The loaded variants, the router, and one request's path: the handler of the variant the weights
    (or the target-variant header) pick answers it; then the exchange is offered to the data capture and
    a copy to each shadow variant, neither of which delays the answer."""

    def __init__(
        self,
        handler: ModuleType,
        variants: list[Variant],
        weights: dict[str, float],
        seed: int | None,
        shadows: list[Shadow] | None = None,
        capture: CaptureWriter | None = None,
    ):
        self.handler = handler
        self.variants = {v.name: v for v in variants}
        self.shadows = {s.name: s for s in shadows or []}
        self.capture = capture
        self.router = Router(weights, seed)
        self._handler = Handler(handler)
        self._workdir: tempfile.TemporaryDirectory[str] | None = None

    def close(self) -> None:
        """Let the shadows answer what they were sent, write what was captured, remove the unpacked models.
        The counters stay readable (the summary is printed after)."""
        for shadow in self.shadows.values():
            shadow.close()  # first: a shadow's answers are captured too
        if self.capture is not None:
            self.capture.close()
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def invoke(
        self,
        body: bytes,
        content_type: str,
        accept: str,
        target_variant: str | None = None,
        inference_id: str | None = None,
    ) -> Response:
        """One POST /invocations. An unknown target variant, one naming a shadow variant, and an inference
        id InvokeEndpoint would refuse are the caller's errors (400), as on SageMaker."""
        if target_variant is not None and target_variant not in self.variants:
            return error(400, self._no_such_variant(target_variant))
        if inference_id is not None:
            try:
                check_inference_id(inference_id)
            except ValueError as exc:
                return error(400, str(exc))
        try:
            variant = self.variants[target_variant or self.router.choose()]
        except Exception as exc:  # a router fault is the server's: answer it, never drop the request
            print(f"routing failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            return error(500, f"routing failed: {type(exc).__name__}")
        started = time.perf_counter()
        answer = self._handler.answer(variant.model, body, content_type, accept, variant.name)
        response = answer.response
        variant.stats.record(time.perf_counter() - started, response.status)
        response.variant = variant.name
        # The answer is computed: what follows only queues work for other threads.
        if self.capture is not None and response.status == 200:
            self.capture.capture(
                variant.name, body, content_type, response.body, response.content_type, inference_id
            )
        for shadow in self.shadows.values():
            if shadow.source == variant.name:
                shadow.offer(Copy(body, content_type, accept, inference_id, answer.predictions))
        return response

    def _no_such_variant(self, name: str) -> str:
        if name in self.shadows:
            # InvokeEndpoint's TargetVariant names a production variant; SageMaker refuses a shadow's
            # name with a ValidationError (400): a shadow only ever gets copies and answers no client.
            return (
                f"target variant {name!r} is a shadow variant: it gets a copy of "
                f"{self.shadows[name].source}'s requests and answers no client; production variants: "
                f"{', '.join(self.variants)}"
            )
        return f"target variant {name!r} does not exist; variants: {', '.join(self.variants)}"

    def quick(self) -> bool:
        """Whether every variant typically answers within :data:`INLINE_LIMIT_S` (or has not answered
        yet): then a request is cheaper to handle where it arrives than on a worker thread. Shadows run
        on threads of their own and do not count."""
        return all(v.stats.typical_seconds <= INLINE_LIMIT_S for v in self.variants.values())

    def describe(self) -> dict[str, Any]:
        """Weights, versions and counters of every variant and shadow variant, and what was captured (the
        local DescribeEndpoint + metrics)."""
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
            ],
            "shadow_variants": [s.describe() for s in self.shadows.values()],
            "data_capture": self.capture.describe() if self.capture is not None else {"enabled": False},
        }


def _unpack(archive: Path, destination: Path) -> Path:
    destination.mkdir(parents=True)
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(destination, filter="data")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:  # EOFError: a truncated archive
        raise ServeError(f"cannot unpack {archive}: {exc}") from None
    return destination


def load_endpoint(project_dir: Path, spec: Spec, seed: int | None = 0, out: TextIO | None = None) -> Endpoint:
    """Load every variant's and shadow variant's model through the project's handler, start the data
    capture when the spec asks for it; print what serves what. ``seed`` seeds the routing, the capture's
    sampling and each shadow's (None: unseeded)."""
    out = out or sys.stdout
    deployment = build_deployment(spec)
    if not deployment.enabled:
        raise ServeError(f"deployment is switched off in {project_dir / SPEC_FILE} (deployment.enabled)")
    module = load_handler(project_dir, spec.project.package)
    workdir = tempfile.TemporaryDirectory(prefix="sagespec-serve-")
    capture: CaptureWriter | None = None
    shadows: list[Shadow] = []
    try:
        registry, group = registry_root(project_dir), spec.model_package_group
        models = _Models(module, registry, group, Path(workdir.name), out)
        variants = []
        for v in deployment.variants:
            chosen, model = models.load(v.name, v.model)
            variants.append(Variant(v.name, chosen.version, chosen.status, model))
            print(
                f"  {v.name:<16} {v.traffic_percent:>5g}%  version {chosen.version} ({chosen.status}, "
                f"rule {v.model.select}){_note(chosen)}",
                file=out,
            )
        capture = _capture(project_dir, spec, deployment, seed, out)
        source = deployment.variants[0].name  # the checks allow a shadow beside one production variant only
        for s in deployment.shadows:
            chosen, model = models.load(s.name, s.model)
            shadows.append(
                Shadow(
                    s.name,
                    source,
                    s.sampling_percent,
                    chosen.version,
                    chosen.status,
                    model,
                    Handler(module),
                    capture,
                    seed=None if seed is None else f"shadow {s.name} {seed}",
                )
            )
            print(
                f"  {s.name:<16} shadow: a copy of {s.sampling_percent}% of {source}'s requests, "
                f"version {chosen.version} ({chosen.status}, rule {s.model.select}){_note(chosen)}",
                file=out,
            )
    except BaseException:
        for shadow in shadows:
            shadow.close(drain_seconds=0)
        if capture is not None:
            capture.close()
        workdir.cleanup()
        raise
    endpoint = Endpoint(module, variants, deployment.weights, seed, shadows=shadows, capture=capture)
    endpoint._workdir = workdir
    return endpoint


class _Models:
    """Each registered version a variant serves, loaded once (variants on one version share it)."""

    def __init__(self, handler: ModuleType, registry: Path, group: str, workdir: Path, out: TextIO) -> None:
        self.handler, self.registry, self.group = handler, registry, group
        self.workdir, self.out = workdir, out
        self.loaded: dict[int, Any] = {}

    def load(self, variant: str, rule: ModelSelection) -> tuple[Selection, Any]:
        chosen = select_version(self.registry, self.group, variant, rule)
        if chosen.version not in self.loaded:
            started = time.perf_counter()
            model_dir = _unpack(chosen.path / MODEL_FILE, self.workdir / str(chosen.version))
            what = f"{self.group} version {chosen.version}"
            self.loaded[chosen.version] = _call_model_fn(self.handler, model_dir, what)
            seconds = time.perf_counter() - started
            print(f"loaded {what} in {seconds:.1f} s", file=self.out)
        return chosen, self.loaded[chosen.version]


def _note(chosen: Selection) -> str:
    return f"  [{chosen.note}]" if chosen.note else ""


def _capture(
    project_dir: Path, spec: Spec, deployment: DeploymentPlan, seed: int | None, out: TextIO
) -> CaptureWriter | None:
    """The data capture the spec asks for, writing under capture_root/<endpoint name>, as SageMaker
    writes under DestinationS3Uri/<endpoint name>."""
    settings = spec.deployment.data_capture
    if not settings.enabled:
        return None
    root = capture_root(project_dir) / deployment.endpoint_name
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ServeError(f"data capture cannot write to {root}: {exc.strerror or exc}") from None
    print(f"  capturing {settings.sampling_percentage}% of each variant's requests to {root}", file=out)
    return CaptureWriter(root, settings.sampling_percentage, seed=None if seed is None else f"capture {seed}")


def _call_model_fn(handler: ModuleType, model_dir: Path, what: str) -> Any:
    model_fn: Callable[[str], Any] = handler.model_fn
    try:
        return model_fn(str(model_dir))
    except Exception as exc:
        if dependency := missing_dependency(exc, needed_by=f"model_fn loading {what}"):
            raise dependency from None
        raise ServeError(f"model_fn could not load {what}: {type(exc).__name__}: {exc}") from exc
