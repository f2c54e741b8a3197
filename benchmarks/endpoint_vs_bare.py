"""`sagespec local serve` against a bare uvicorn + Starlette app serving the same fastText model.bin.

Both run as their own process on loopback, side by side, and are loaded by wrk (a Debian package:
`apt-get install wrk`) with the same POST /invocations body, one review, in alternating rounds (A B,
then B A, ...), so a neighbour's load on a shared machine falls on both alike. Prints each round's
requests/s and the p50/p99 latency wrk measured, the medians over the rounds, and the ratio of the
two throughputs (goal >= 0.8).

The bare app is what a hand-written model server looks like: one Starlette route that parses the JSON,
calls fastText inline on the event loop and answers JSON; no variants, no statistics, no checks. It runs
on the same server stack as `sagespec local serve` (uvicorn, httptools parser, asyncio loop), so the
ratio measures what the endpoint adds, not a choice of parser.

    python benchmarks/endpoint_vs_bare.py --project DIR [--seconds 8] [--rounds 3] [--threads 2]
                                          [--connections 16]

DIR is a BlazingText project whose local registry holds a model (benchmarks/local_endpoint.py makes one).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from local_endpoint import LocalEndpoint  # noqa: E402

BODY = {"instances": ["I love this dress, it fits perfectly and the fabric is soft"]}

BARE_APP = """
import json, sys
import fasttext
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

model = fasttext.load_model(sys.argv[1])

async def invocations(request):
    texts = (await request.json())["instances"]
    labels, probabilities = model.predict(texts)
    answer = [{"label": l[0].removeprefix("__label__"), "probability": float(p[0])}
              for l, p in zip(labels, probabilities)]
    return Response(json.dumps({"predictions": answer}), media_type="application/json")

async def ping(request):
    return Response(b"")

app = Starlette(routes=[Route("/invocations", invocations, methods=["POST"]), Route("/ping", ping)])
"""


def model_bin(project: Path, workdir: Path) -> Path:
    tarball = sorted((project / ".sagespec-runs" / "registry").glob("*/*/model.tar.gz"))[0]
    with tarfile.open(tarball) as tar:
        tar.extractall(workdir / "model", filter="data")
    return next((workdir / "model").rglob("model.bin"))


def start_bare(workdir: Path, model: Path, port: int) -> subprocess.Popen:
    (workdir / "bare_app.py").write_text(BARE_APP)
    command = [
        sys.executable,
        "-c",
        f"import sys; sys.argv[1:] = [{str(model)!r}]; "
        f"sys.path.insert(0, {str(workdir)!r}); import uvicorn, bare_app; "
        f"uvicorn.run(bare_app.app, port={port}, log_level='error', http='httptools', loop='asyncio')",
    ]
    process = subprocess.Popen(command)
    time.sleep(3)
    return process


def wrk(address: tuple[str, int], workdir: Path, seconds: int, threads: int, connections: int) -> dict:
    script = workdir / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(json.dumps(BODY))}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        "done = function(summary, latency, requests)\n"
        '  io.write(string.format("P50 %f\\nP99 %f\\n", latency:percentile(50), latency:percentile(99)))\n'
        "end\n"
    )
    url = f"http://{address[0]}:{address[1]}/invocations"
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": float(re.search(r"P50 ([\d.]+)", out).group(1)) / 1000,
        "p99_ms": float(re.search(r"P99 ([\d.]+)", out).group(1)) / 1000,
        "errors": int(non_2xx.group(1)) if non_2xx else 0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--bare-port", type=int, default=18081)
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    load = (args.seconds, args.threads, args.connections)
    names = ("sagespec local serve", "bare uvicorn + Starlette")
    rounds: dict[str, list[dict]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory(prefix="sagespec-bare-") as tmp:
        workdir = Path(tmp)
        endpoint = LocalEndpoint(args.project)
        bare_process = start_bare(workdir, model_bin(args.project, workdir), args.bare_port)
        addresses = {names[0]: endpoint.address, names[1]: ("127.0.0.1", args.bare_port)}
        try:
            for address in addresses.values():  # warm-up: connections, lazy imports
                wrk(address, workdir, 2, args.threads, args.connections)
            for index in range(args.rounds):
                for name in names if index % 2 == 0 else reversed(names):
                    rounds[name].append(wrk(addresses[name], workdir, *load))
        finally:
            bare_process.terminate()
            bare_process.wait(timeout=30)
            endpoint.stop()
    print(
        f"wrk, {args.threads} threads, {args.connections} connections, {args.rounds} alternating rounds "
        f"of {args.seconds} s, one review per request"
    )
    medians = {}
    for name in names:
        figures = {key: statistics.median(r[key] for r in rounds[name]) for key in rounds[name][0]}
        medians[name] = figures
        each = ", ".join(f"{r['requests_per_s']:,.0f}" for r in rounds[name])
        print(
            f"  {name:<26} {figures['requests_per_s']:>9,.0f} req/s (rounds: {each})  "
            f"p50 {figures['p50_ms']:.2f} ms  p99 {figures['p99_ms']:.2f} ms  "
            f"non-2xx {sum(r['errors'] for r in rounds[name])}"
        )
    ratio = medians[names[0]]["requests_per_s"] / medians[names[1]]["requests_per_s"]
    per_round = [a["requests_per_s"] / b["requests_per_s"] for a, b in zip(*rounds.values(), strict=True)]
    print(
        f"  ratio {ratio:.2f}x (per round: {', '.join(f'{r:.2f}' for r in per_round)}; goal >= 0.8x): "
        f"{'met' if ratio >= 0.8 else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
