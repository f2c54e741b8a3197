"""What data capture and a shadow variant cost `sagespec local serve`: throughput and latency with each
off and on, measured in the same run.

The BlazingText example is trained and registered twice (``--max-rows`` and half as many rows: versions 1
and 2, so the shadow's model differs from production's), or ``--project`` names a project whose registry
already holds two versions. Then the endpoint is started in four configurations, each from the same
project with its spec's deployment section rewritten, in alternating rounds (A B C D, then D C B A, ...)
so a neighbour's load on a shared machine falls on all alike:

    off       one production variant (version 1), no capture, no shadow
    capture   the same, capturing 100% of requests (SageMaker's JSON Lines under .sagespec-runs/)
    shadow    the same, no capture, a shadow variant (version 2) getting a copy of every request
    both      capture 100% and the shadow (whose answers are captured too)

Each round sends the same single-review requests from a few client threads over keep-alive connections
(benchmarks/local_endpoint.py's load generator, no other tool needed) and prints requests/s and the
client's p50/p99, and the server process's CPU time per request (all its threads: the figure other jobs
on a shared machine disturb least); the medians over the rounds, and each configuration's throughput
against ``off``. For
the configurations with a shadow it also prints the shadow's copies (mirrored, answered, dropped: a
shadow that dropped copies would look cheaper than it is) and its agreement with production; with
capture, the records written.

    python benchmarks/endpoint_capture_shadow.py [--project DIR] [--requests 10000] [--rounds 3]
                                                 [--threads 4]
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

from sagespec.local import RunOptions, run_pipeline
from sagespec.local.runs import capture_root

sys.path.insert(0, str(Path(__file__).resolve().parent))
from local_endpoint import LocalEndpoint, blazingtext_project, review_texts, send  # noqa: E402

PRODUCTION = """\
deployment:
  variants:
    - {name: Current, model: {select: version, version: 1}, instance_type: ml.m5.large}
"""
CAPTURE = "  data_capture: {enabled: true, sampling_percentage: 100}\n"
SHADOW = "  shadow_variants: [{name: Shadow, model: {select: version, version: 2}, initial_weight: 1.0}]\n"
CONFIGURATIONS = {
    "off": PRODUCTION,
    "capture": PRODUCTION + CAPTURE,
    "shadow": PRODUCTION + SHADOW,
    "both": PRODUCTION + CAPTURE + SHADOW,
}


def two_versions(workdir: Path, max_rows: int) -> Path:
    """The BlazingText example with version 1 trained on ``max_rows`` rows, version 2 on half as many."""
    project = blazingtext_project(workdir, max_rows)
    started = time.perf_counter()
    options = RunOptions(
        project_dir=project, max_rows=max_rows // 2, threshold=0.0, quiet=True, out=io.StringIO()
    )
    run_pipeline(options)
    print(
        f"trained and registered version 2 on {max_rows // 2} rows in {time.perf_counter() - started:.0f} s"
    )
    return project


def configure(project: Path, deployment: str) -> None:
    """Replace the spec's deployment section (up to the next top-level key) with ``deployment``, and
    drop its monitoring section (the monitors need data capture on; they are not what is measured)."""
    spec = project / "spec.yaml"
    text, count = re.subn(r"(?ms)^deployment:\n.*?(?=^\S)", deployment + "\n", spec.read_text())
    if count != 1:
        raise SystemExit(f"{spec} has no deployment section to replace")
    spec.write_text(re.sub(r"(?ms)^monitoring:\n.*?(?=^\S|\Z)", "", text))


def described(endpoint: LocalEndpoint) -> dict:
    """The running endpoint's /admin/variants."""
    connection = http.client.HTTPConnection(*endpoint.address, timeout=10)
    connection.request("GET", "/admin/variants")
    return json.loads(connection.getresponse().read())


def one_round(project: Path, name: str, texts: list[str], requests: int, threads: int) -> dict:
    configure(project, CONFIGURATIONS[name])
    shutil.rmtree(capture_root(project), ignore_errors=True)
    endpoint = LocalEndpoint(project)
    try:
        send(endpoint.address, texts, min(500, requests), threads)  # warm-up: connections, lazy imports
        server = psutil.Process(endpoint.process.pid)
        cpu_before = sum(server.cpu_times()[:2])
        latencies, wall, _ = send(endpoint.address, texts, requests, threads)
        # Give the shadow the time to answer its backlog, so that what it did is counted in full.
        deadline = time.monotonic() + 30
        while (shadows := described(endpoint)["shadow_variants"]) and time.monotonic() < deadline:
            if all(s["invocations"] + s["dropped"] >= s["mirrored"] for s in shadows):
                break
            time.sleep(0.1)
        # The server's CPU time per request (its threads included): what a configuration costs, and a
        # figure other jobs on the machine disturb far less than requests/s.
        cpu_us = 1e6 * (sum(server.cpu_times()[:2]) - cpu_before) / requests
    finally:
        endpoint.stop()  # SIGTERM: the capture is written before the process ends
    ms = sorted(1000 * x for x in latencies)
    files = list(capture_root(project).rglob("*.jsonl"))
    return {
        "requests_per_s": len(ms) / wall,
        "p50_ms": statistics.median(ms),
        "p99_ms": ms[min(len(ms) - 1, int(0.99 * len(ms)))],
        "cpu_us": cpu_us,
        "shadows": shadows,
        "captured": sum(len(path.read_bytes().splitlines()) for path in files),
        "capture_files": len(files),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--project", type=Path, help="a BlazingText project whose registry has versions 1 and 2"
    )
    parser.add_argument("--max-rows", type=int, default=3000)
    parser.add_argument("--requests", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument(
        "--only", nargs="+", choices=list(CONFIGURATIONS), default=list(CONFIGURATIONS), help="configurations"
    )
    args = parser.parse_args(argv)
    texts = review_texts()
    names = ["off", *(name for name in args.only if name != "off")]  # the others are held against off
    results: dict[str, list[dict]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory(prefix="sagespec-capture-bench-") as tmp:
        if args.project:
            project = Path(tmp) / "project"
            shutil.copytree(args.project, project, ignore=shutil.ignore_patterns("data-capture"))
        else:
            project = two_versions(Path(tmp), args.max_rows)
        for index in range(args.rounds):
            for name in names if index % 2 == 0 else reversed(names):
                results[name].append(one_round(project, name, texts, args.requests, args.threads))
    print(
        f"\n{args.requests} requests per round, one review each, {args.threads} client threads, "
        f"{args.rounds} alternating rounds; the endpoint in its own process"
    )
    base = statistics.median(r["requests_per_s"] for r in results["off"])
    for name in names:
        rounds = results[name]
        rate = statistics.median(r["requests_per_s"] for r in rounds)
        each = ", ".join(f"{r['requests_per_s']:,.0f}" for r in rounds)
        print(
            f"  {name:<8} {rate:>7,.0f} req/s ({rate / base:.2f}x off; rounds: {each})  "
            f"p50 {statistics.median(r['p50_ms'] for r in rounds):.2f} ms  "
            f"p99 {statistics.median(r['p99_ms'] for r in rounds):.2f} ms  "
            f"server CPU {statistics.median(r['cpu_us'] for r in rounds):.0f} us/request"
        )
        last = rounds[-1]
        for shadow in last["shadows"]:
            agreement, latency = shadow["agreement"], shadow["latency_ms"]
            print(
                f"           shadow {shadow['name']} (last round): {shadow['mirrored']} mirrored, "
                f"{shadow['invocations']} answered, {shadow['dropped']} dropped; agreement "
                f"{100 * (agreement['rate'] or 0):.1f}% of {agreement['texts_compared']} texts; "
                f"handler p50 {latency['p50']} ms, p99 {latency['p99']} ms"
            )
        if CAPTURE in CONFIGURATIONS[name]:
            print(
                f"           captured (last round): {last['captured']} records "
                f"in {last['capture_files']} files"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
