"""Benchmark `sagespec local serve`: latency and throughput of the local endpoint on loopback.

BlazingText: generates the example project, trains and registers a model with `sagespec local run
--max-rows 3000` (or takes --project, a project whose registry already holds one), starts
`sagespec local serve` in its own process, and sends a fixed number of requests, one review each, from a
few threads over keep-alive connections. Prints the client-side p50/p99 latency and requests per second,
the handler's own latency per variant, and how the requests were split between the variants.

BERT (--bert): the BERT example served with a model of all-MiniLM-L6-v2's shape (6 layers, 384 hidden)
and random weights, registered by hand: its latency is the real model's, its predictions are noise.

    python benchmarks/local_endpoint.py [--project DIR] [--requests 20000] [--threads 4] [--bert]

Goals (2 cores): p50 <= 5 ms and >= 1,000 requests/s for BlazingText.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import importlib
import io
import json
import re
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from sagespec.local import RunOptions, run_pipeline
from sagespec.local.registry import register_model
from sagespec.render import render_project
from sagespec.serve.cli import STATE_FILE
from sagespec.spec import load_spec

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data" / "womens_clothing_ecommerce_reviews.csv"
SPECS = REPO / "specs"


def review_texts(limit: int = 2000) -> list[str]:
    with DATA.open(newline="", encoding="utf-8") as f:
        texts = [row["Review Text"] for row in csv.DictReader(f) if row["Review Text"].strip()]
    return texts[:limit]


# ---------------------------------------------------------------------------------------------- projects


def blazingtext_project(workdir: Path, max_rows: int) -> Path:
    project = workdir / "blazingtext"
    render_project(load_spec(SPECS / "womens-clothing-blazingtext.yaml")).write(project)
    spec = project / "spec.yaml"  # the bias gate would stop a 3,000-row run: report it instead
    spec.write_text(re.sub(r"(?m)^(\s*fail_on_violation:\s*)true\b", r"\1false", spec.read_text()))
    started = time.perf_counter()
    # Threshold 0: the benchmark needs a registered model, whatever its accuracy on so few rows.
    options = RunOptions(project_dir=project, max_rows=max_rows, threshold=0.0, quiet=True, out=io.StringIO())
    run_pipeline(options)
    seconds = time.perf_counter() - started
    print(f"trained and registered the BlazingText model on {max_rows} rows in {seconds:.0f} s")
    return project


def bert_project(workdir: Path, texts: list[str]) -> Path:
    """The BERT example with a MiniLM-shaped, randomly initialised model in its local registry."""
    import transformers
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    project = workdir / "bert"
    render_project(load_spec(SPECS / "womens-clothing-bert.yaml")).write(project)
    spec = load_spec(project / "spec.yaml").spec
    wordpiece = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wordpiece.normalizer = normalizers.BertNormalizer(lowercase=True)
    wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    wordpiece.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=8000, special_tokens=special))
    tokenizer = transformers.BertTokenizerFast(tokenizer_object=wordpiece, model_max_length=128)
    config = transformers.BertConfig(
        vocab_size=wordpiece.get_vocab_size(),
        hidden_size=384,
        num_hidden_layers=6,
        num_attention_heads=12,
        intermediate_size=1536,
        num_labels=len(spec.dataset.classes),
    )
    model = transformers.TFBertForSequenceClassification(config)
    model(model.dummy_inputs)
    export = workdir / "bert-model"
    model.save_pretrained(str(export))
    tokenizer.save_pretrained(str(export))
    # The SavedModel train.py exports beside them (what the handler serves when it is there).
    sys.path.insert(0, str(project))
    # train.py imports its modules from beside it (keras_classifier.py, ...), as in the training job.
    sys.path.insert(0, str(project / "pipelines" / spec.project.package))
    train = importlib.import_module(f"pipelines.{spec.project.package}.train")
    classifier = train.SequenceClassifier(model, "cls", num_classes=len(spec.dataset.classes))
    train.save_serving_signature(classifier, export / "saved_model" / "1")
    classes = [str(c) for c in spec.dataset.classes]
    (export / "labels.json").write_text(json.dumps({"classes": classes, "max_seq_length": 128}))
    with tarfile.open(workdir / "model.tar.gz", "w:gz") as tar:
        tar.add(export, arcname=".")
    (workdir / "evaluation.json").write_text("{}\n")
    register_model(
        project / ".sagespec-runs" / "registry",
        group=spec.model_package_group,
        model_artifact=workdir / "model.tar.gz",
        evaluation_report=workdir / "evaluation.json",
        approval_status="Approved",
        model_type="bert",
        region=spec.project.region,
        inference_instance_types=["ml.m5.large"],
        run_id="benchmark",
    )
    return project


# ---------------------------------------------------------------------------------------------- load


class LocalEndpoint:
    """`sagespec local serve DIR --port 0` in its own process; the URL comes from its state file."""

    def __init__(self, project: Path) -> None:
        state = project / STATE_FILE
        state.unlink(missing_ok=True)
        command = [sys.executable, "-m", "sagespec", "local", "serve", str(project), "--port", "0"]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 300
        while not state.is_file():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the endpoint did not start:\n{self.process.communicate()[0]}")
            time.sleep(0.1)
        host, port = json.loads(state.read_text())["url"].removeprefix("http://").rsplit(":", 1)
        self.address = (host, int(port))

    def variants(self) -> list[dict]:
        connection = http.client.HTTPConnection(*self.address, timeout=10)
        connection.request("GET", "/admin/variants")
        return json.loads(connection.getresponse().read())["variants"]

    def stop(self) -> str:
        self.process.send_signal(signal.SIGTERM)  # what kill and CI runners send
        return self.process.communicate(timeout=30)[0]


def send(
    address: tuple[str, int], texts: list[str], requests: int, threads: int
) -> tuple[list[float], float, Counter]:
    """``requests`` single-review requests from ``threads`` keep-alive connections."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    variants: list[Counter] = [Counter() for _ in range(threads)]
    bodies = [json.dumps({"instances": [text]}).encode("utf-8") for text in texts]
    start = threading.Barrier(threads + 1)
    failures: list[str] = []

    def worker(index: int) -> None:
        connection = http.client.HTTPConnection(*address, timeout=30)
        headers = {"Content-Type": "application/json"}
        start.wait()
        for i in range(index, requests, threads):
            began = time.perf_counter()
            connection.request("POST", "/invocations", body=bodies[i % len(bodies)], headers=headers)
            response = connection.getresponse()
            response.read()
            latencies[index].append(time.perf_counter() - began)
            if response.status != 200:
                failures.append(f"HTTP {response.status}")
            variants[index][response.getheader("X-Amzn-Invoked-Production-Variant")] += 1
        connection.close()

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    start.wait()
    began = time.perf_counter()
    for w in workers:
        w.join()
    wall = time.perf_counter() - began
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, e.g. {failures[0]}")
    return [x for part in latencies for x in part], wall, sum(variants, Counter())


def report(name: str, endpoint: LocalEndpoint, texts: list[str], requests: int, threads: int) -> dict:
    send(endpoint.address, texts, min(500, requests), threads)  # warm-up: connections, lazy imports
    latencies, wall, split = send(endpoint.address, texts, requests, threads)
    ms = sorted(1000 * x for x in latencies)
    figures = {
        "p50_ms": statistics.median(ms),
        "p99_ms": ms[min(len(ms) - 1, int(0.99 * len(ms)))],
        "requests_per_s": len(ms) / wall,
    }
    print(f"\n{name}: {requests} requests, {threads} client threads, one review per request")
    print(
        f"  client latency p50 {figures['p50_ms']:.2f} ms, p99 {figures['p99_ms']:.2f} ms; "
        f"{figures['requests_per_s']:,.0f} requests/s"
    )
    total = sum(split.values())
    print("  routing: " + ", ".join(f"{v} {100 * n / total:.1f}%" for v, n in split.items()))
    for variant in endpoint.variants():
        latency = variant["latency_ms"]
        print(f"  handler latency {variant['name']}: p50 {latency['p50']} ms, p99 {latency['p99']} ms")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--project", type=Path, help="a BlazingText project whose local registry has a model")
    parser.add_argument("--max-rows", type=int, default=3000)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--bert", action="store_true", help="also the BERT example (MiniLM-shaped model)")
    parser.add_argument("--bert-requests", type=int, default=300)
    args = parser.parse_args(argv)
    texts = review_texts()
    with tempfile.TemporaryDirectory(prefix="sagespec-serve-bench-") as tmp:
        project = args.project or blazingtext_project(Path(tmp), args.max_rows)
        endpoint = LocalEndpoint(project)
        try:
            figures = report("BlazingText", endpoint, texts, args.requests, args.threads)
        finally:
            endpoint.stop()
        met = figures["p50_ms"] <= 5 and figures["requests_per_s"] >= 1000
        print(f"  goal p50 <= 5 ms and >= 1,000 requests/s: {'met' if met else 'NOT met'}")
        if args.bert:
            endpoint = LocalEndpoint(bert_project(Path(tmp), texts))
            try:
                report("BERT (MiniLM shape, max 128 tokens)", endpoint, texts, args.bert_requests, 1)
            finally:
                endpoint.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
