"""`sagespec local serve`, `shift`, `batch` and `monitor`. ``register_serve`` adds them to `sagespec local`.

Registering imports nothing heavy (the endpoint, the spec models): every `sagespec` command builds this
parser, `sagespec local run` too, which starts its steps' fork server first.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..arguments import port, positive_int
from ..errors import ServeError
from ..local.runs import RUNS_DIR

if TYPE_CHECKING:
    import urllib.error

STATE_FILE = Path(RUNS_DIR) / "serve" / "endpoint.json"  # where a running `serve` says its URL


def cmd_serve(args: argparse.Namespace) -> int:
    from ..foreground import serve_until_stopped
    from ..spec.project_file import load_project_spec
    from .endpoint import load_endpoint
    from .listener import EndpointServer

    project = Path(args.project_dir)
    loaded = load_project_spec(project)
    endpoint = load_endpoint(project, loaded.spec, seed=args.seed)
    try:
        server = EndpointServer((args.host, args.port), endpoint, verbose=args.verbose)
    except OSError as exc:
        endpoint.close()
        raise ServeError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    state = project / STATE_FILE
    try:
        write_record(state, server.url)
        print(
            f"{loaded.spec.endpoint_name} (local) on {server.url}: GET /ping, POST /invocations; "
            "Ctrl-C or SIGTERM stops it",
            flush=True,
        )
        serve_until_stopped(server)
    finally:
        server.server_close()
        remove_record(state)
        endpoint.close()  # the shadows finish what they were sent, the capture is written
        for line in summary_lines(endpoint.describe()):
            print(line)
    return 0


def summary_lines(described: dict[str, Any]) -> list[str]:
    """What `serve` prints when it stops: each variant's invocations and latency, each shadow's
    comparison with its production variant, what was captured."""
    lines = []
    for variant in described["variants"]:
        lines.append(f"  {variant['name']:<16} {variant['invocations']:>8} invocations  {_latency(variant)}")
    for shadow in described.get("shadow_variants", []):
        agreement = shadow["agreement"]
        rate = agreement["rate"]
        errors = shadow["errors"]
        lines.append(
            f"  {shadow['name']:<16} {shadow['mirrored']:>8} mirrored from {shadow['source_variant']} "
            f"({shadow['dropped']} dropped)  agreement "
            f"{f'{100 * rate:.1f}%' if rate is not None else '-'} of {agreement['texts_compared']} texts  "
            f"{_latency(shadow)}  errors 4xx {errors['4xx']}, 5xx {errors['5xx']}"
        )
    capture = described.get("data_capture", {})
    if capture.get("enabled"):
        counts = ", ".join(f"{name} {n}" for name, n in capture["captured"].items()) or "none"
        lines.append(
            f"  captured ({capture['sampling_percentage']}% of requests): {counts}; "
            f"dropped {capture['dropped']}; in {capture['destination']}"
        )
    return lines


def _latency(described: dict[str, Any]) -> str:
    latency = described["latency_ms"]
    return (
        f"p50 {latency['p50'] if latency['p50'] is not None else '-'} ms  "
        f"p99 {latency['p99'] if latency['p99'] is not None else '-'} ms"
    )


def write_record(state: Path, url: str) -> None:
    """Say where this endpoint listens (for `shift`), replacing the file whole: never half-written."""
    state.parent.mkdir(parents=True, exist_ok=True)
    partial = state.with_name(f".{state.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps({"url": url, "pid": os.getpid()}) + "\n")
    partial.replace(state)


def remove_record(state: Path) -> None:
    """Remove the record if it is still this process's (a later `serve` of the project may own it now)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        if json.loads(state.read_text()).get("pid") == os.getpid():
            state.unlink()


def recorded_url(project: Path) -> str:
    """The URL `serve` recorded for ``project``; a ServeError when there is no usable record."""
    state = project / STATE_FILE
    if not state.is_file():
        raise ServeError(
            f"no local endpoint is running for {project} ({state} is missing); "
            "start one with `sagespec local serve`, or pass --url"
        )
    try:
        url = json.loads(state.read_text())["url"]
        if not isinstance(url, str):
            raise TypeError(url)
    except (OSError, ValueError, KeyError, TypeError):
        raise ServeError(f"{state} is not a record `sagespec local serve` wrote; remove it") from None
    return url


def parse_weights(items: list[str]) -> dict[str, float]:
    weights = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            weights[name] = float(value)
        except ValueError:
            raise ServeError(f"expected NAME=WEIGHT with a number, got {item!r}") from None
        if not name:
            raise ServeError(f"expected NAME=WEIGHT, got {item!r}")
    return weights


def cmd_shift(args: argparse.Namespace) -> int:
    # Imported here: every sagespec command builds this module's parser, and urllib.request (with
    # http.client, email and ssl) took 0.08 s of the start of each, `local run` included.
    import urllib.error
    import urllib.request

    # `shift A=0 B=1` and `shift DIR A=0 B=1`: the project folder is the one argument without '='.
    items = list(args.items)
    project = Path(items.pop(0)) if items and "=" not in items[0] else Path(".")
    weights = parse_weights(items)
    if not weights:
        raise ServeError("give the new weights as NAME=WEIGHT ...")
    url = args.url if args.url is not None else recorded_url(project)
    if not url.startswith(("http://", "https://")):
        raise ServeError(f"{url!r} is not an http:// URL")
    request = urllib.request.Request(
        f"{url.rstrip('/')}/admin/weights",
        data=json.dumps(weights).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as exc:
        raise ServeError(f"{url}: {_error_message(exc)}") from None
    except OSError:  # URLError included: refused, reset, timed out: nothing serves there
        raise ServeError(
            f"no local endpoint is running at {url}; start one with `sagespec local serve`"
        ) from None
    except ValueError:
        raise ServeError(f"{url} did not answer like a sagespec local endpoint") from None
    for variant in answer["variants"]:
        print(f"  {variant['name']:<16} weight {variant['weight']:g} ({variant['traffic_percent']:g}%)")
    return 0


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read() or b"{}").get("error", exc.reason))
    except (OSError, ValueError, AttributeError):
        return str(exc.reason)


def register_serve(local_subparsers: argparse._SubParsersAction) -> None:
    """Add `serve` and `shift` to the `sagespec local` command group."""
    serve = local_subparsers.add_parser(
        "serve",
        help="serve the registered models as a local endpoint, variants and weights as in the spec",
        description="Serve every deployment variant's model from the local registry "
        "(DIR/.sagespec-runs/registry) through the project's pipelines/<pkg>/inference.py, with "
        "SageMaker's model-server contract: GET /ping, POST /invocations. Requests are routed by the "
        "variants' weights; X-Amzn-SageMaker-Target-Variant picks one.",
    )
    serve.add_argument(
        "project_dir", nargs="?", default=".", metavar="DIR", help="the generated project (default: .)"
    )
    serve.add_argument("--port", type=port, default=8080, help="default: %(default)s (0: any free port)")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s, this machine only)"
    )
    serve.add_argument("--seed", type=int, default=0, help="seed of the weighted routing (default: 0)")
    serve.add_argument("-v", "--verbose", action="store_true", help="log every request")
    serve.set_defaults(func=cmd_serve)

    shift = local_subparsers.add_parser(
        "shift",
        help="change the traffic weights of a running local endpoint",
        description="Set variant weights of the endpoint `sagespec local serve DIR` runs, like "
        "UpdateEndpointWeightsAndCapacities: variants not named keep their weight.",
    )
    shift.add_argument("items", nargs="+", metavar="[DIR] NAME=WEIGHT", help="e.g. . Current=0 Challenger=1")
    shift.add_argument("--url", help="the endpoint's URL (default: what `serve` recorded in DIR)")
    shift.set_defaults(func=cmd_shift)

    register_batch(local_subparsers)  # `sagespec local batch`: the handler over a file (serve/batch.py)
    register_monitor(local_subparsers)  # `sagespec local monitor`: Model Monitor over the capture


def register_batch(local_subparsers: argparse._SubParsersAction) -> None:
    """Add `batch` to the `sagespec local` command group."""
    batch = local_subparsers.add_parser(
        "batch",
        help="score a CSV file through the inference handler, written as a batch transform job writes",
        description="Score every record of a CSV file with a registered model through the project's "
        "pipelines/<pkg>/inference.py, as a SageMaker transform job does (SplitType Line, SingleRecord, "
        "AssembleWith Line): OUTPUT/<file name>.out holds one JSON answer per record, in order. The "
        "texts are the spec's dataset.text_column.",
    )
    batch.add_argument(
        "project_dir", nargs="?", default=".", metavar="DIR", help="the generated project (default: .)"
    )
    batch.add_argument("--data", required=True, metavar="FILE", help="the CSV file to score")
    batch.add_argument(
        "--output", metavar="FOLDER", help="where <file name>.out goes (default: DIR/.sagespec-runs/batch)"
    )
    batch.add_argument("--text-column", metavar="NAME", help="the texts' column (default: the spec's)")
    batch.add_argument(
        "--no-header", action="store_true", help="the file is one text per CSV record, without a header"
    )
    batch.add_argument(
        "--version",
        type=positive_int,
        metavar="N",
        help="score with this registered version (default: the first endpoint variant's rule)",
    )
    batch.set_defaults(func=_cmd_batch)


def _cmd_batch(args: argparse.Namespace) -> int:
    from .batch import cmd_batch

    return cmd_batch(args)


def register_monitor(local_subparsers: argparse._SubParsersAction) -> None:
    """Add `monitor` to the `sagespec local` command group."""
    monitor = local_subparsers.add_parser(
        "monitor",
        help="run the data-quality and model-quality monitors over the local endpoint's captured traffic",
        description="Compare what `sagespec local serve` captured with the baselines the pipeline "
        "registered for the version each variant serves, as Model Monitor's jobs do: statistics.json and "
        "constraint_violations.json per variant and monitor, and an HTML drift report, under "
        "DIR/.sagespec-runs/monitoring/<time>/. Model quality reads the labels `sagespec local label` gave.",
    )
    monitor.add_argument(
        "project_dir", nargs="?", default=".", metavar="DIR", help="the generated project (default: .)"
    )
    monitor.add_argument(
        "--fail-on-violation", action="store_true", help="exit with status 1 when a monitor found a violation"
    )
    monitor.set_defaults(func=_cmd_monitor)


def _cmd_monitor(args: argparse.Namespace) -> int:
    from .monitor import cmd_monitor

    return cmd_monitor(args)
