"""`sagespec local serve` against a bare uvicorn + Starlette app serving the same fastText model.bin.

Both run as their own process on loopback and are loaded by wrk (a Debian package: `apt-get install
wrk`) with the same POST /invocations body, one review, in the same run. Prints requests/s and the
p50/p99 latency wrk measured, and the ratio of the two throughputs (goal >= 0.8).

The bare app is what a hand-written model server looks like: one Starlette route that parses the JSON,
calls fastText inline on the event loop and answers JSON; no variants, no statistics, no checks.

    python benchmarks/endpoint_vs_bare.py --project DIR [--seconds 10] [--threads 2] [--connections 16]

DIR is a BlazingText project whose local registry holds a model (benchmarks/local_endpoint.py makes one).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
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
        f"uvicorn.run(bare_app.app, port={port}, log_level='error', http='h11')",
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
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--bare-port", type=int, default=18081)
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    load = (args.seconds, args.threads, args.connections)
    with tempfile.TemporaryDirectory(prefix="sagespec-bare-") as tmp:
        workdir = Path(tmp)
        endpoint = LocalEndpoint(args.project)
        try:
            wrk(endpoint.address, workdir, 2, args.threads, args.connections)  # warm-up
            ours = wrk(endpoint.address, workdir, *load)
        finally:
            endpoint.stop()
        bare_process = start_bare(workdir, model_bin(args.project, workdir), args.bare_port)
        try:
            wrk(("127.0.0.1", args.bare_port), workdir, 2, args.threads, args.connections)
            bare = wrk(("127.0.0.1", args.bare_port), workdir, *load)
        finally:
            bare_process.terminate()
            bare_process.wait(timeout=30)
    print(f"wrk, {args.threads} threads, {args.connections} connections, {args.seconds} s, one review each")
    for name, figures in (("sagespec local serve", ours), ("bare uvicorn + Starlette", bare)):
        print(
            f"  {name:<26} {figures['requests_per_s']:>9,.0f} req/s  p50 {figures['p50_ms']:.2f} ms  "
            f"p99 {figures['p99_ms']:.2f} ms  non-2xx {figures['errors']}"
        )
    ratio = ours["requests_per_s"] / bare["requests_per_s"]
    print(f"  ratio {ratio:.2f}x (goal >= 0.8x): {'met' if ratio >= 0.8 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
