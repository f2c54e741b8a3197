"""Smoke-test an endpoint: a few texts from the dataset through every variant.

    python -m deploy.smoke_test --stage staging              # the deployed endpoint (CodePipeline runs this)
    python -m deploy.smoke_test --url http://127.0.0.1:8080  # the local endpoint of `make serve` (make smoke)

Each variant (picked by the target-variant header, whatever the weights) must answer one request holding
the sample texts with a label among the model's classes for each, within --max-latency-ms; a deployed
endpoint's 5xx alarms (deploy/endpoint.yaml) must not be firing. Any failure is listed and ends the run
with exit status 1, which stops the model-deploy pipeline before the approval of prod.
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy import payload
from deploy.settings import (
    CLASSES,
    ENDPOINT_NAMES,
    ERROR_ALARM_NAME,
    REGION,
    SAMPLE_DATA,
    STAGES,
    TEXT_COLUMN,
    VARIANTS,
)
from pipelines.aws_errors import reports_aws_errors

TARGET_VARIANT_HEADER = "X-Amzn-SageMaker-Target-Variant"
INVOKED_VARIANT_HEADER = "X-Amzn-Invoked-Production-Variant"
DEFAULT_SAMPLES = 5
NO_ANSWER = 0  # the status of a request that got no HTTP answer at all
# A generous bound for one small request to a warm endpoint; a slow first answer still fits.
DEFAULT_MAX_LATENCY_MS = 3000.0


@dataclass(frozen=True)
class Answer:
    """What one request got back: HTTP status, the variant that answered, the body, the time taken."""

    status: int
    variant: str | None
    body: bytes
    latency_ms: float


# Sends a request to a variant and returns the answer.
Invoke = Callable[[payload.Request, str], Answer]


def sample_texts(path: str, count: int) -> list[str]:
    """The first ``count`` distinct non-empty texts of the dataset's text column (CSV or Parquet)."""
    import pandas as pd

    if path.endswith(".parquet"):
        column = pd.read_parquet(path, columns=[TEXT_COLUMN])[TEXT_COLUMN]
    else:
        column = pd.read_csv(path, usecols=[TEXT_COLUMN], nrows=20 * count, dtype=str)[TEXT_COLUMN]
    texts = [t for t in dict.fromkeys(column.dropna().astype(str).str.strip()) if t]
    return texts[:count]


def check_answer(
    variant: str, answer: Answer, count: int, max_latency_ms: float, server: str | None = None
) -> list[str]:
    """What is wrong with one variant's answer to ``count`` texts, read as ``server`` writes it (nothing
    wrong: an empty list)."""
    if answer.status != 200:
        if answer.status == NO_ANSWER:
            what = "no answer"
        elif answer.status >= 500:
            what = f"server error {answer.status}"
        else:
            what = f"status {answer.status}"
        return [f"{variant}: {what}: {answer.body[:200].decode(errors='replace')}"]
    problems = []
    if answer.variant and answer.variant != variant:
        problems.append(f"{variant}: answered by {answer.variant}")
    try:
        labels = [prediction.label for prediction in payload.decode(answer.body, server)]
    except (ValueError, KeyError, IndexError, TypeError, SyntaxError) as err:
        return [*problems, f"{variant}: unreadable answer ({err}): {answer.body[:200]!r}"]
    if len(labels) != count:
        problems.append(f"{variant}: {len(labels)} predictions for {count} texts")
    unknown = sorted(set(labels) - set(CLASSES))
    if unknown:
        problems.append(f"{variant}: labels {unknown} are not among the classes {CLASSES}")
    if answer.latency_ms > max_latency_ms:
        problems.append(f"{variant}: answered in {answer.latency_ms:.0f} ms (limit {max_latency_ms:.0f} ms)")
    return problems


def smoke_test(
    invoke: Invoke, texts: list[str], max_latency_ms: float, server: str | None = None
) -> list[str]:
    """Every variant's problems with the texts, printing each variant's result. ``server``: who reads the
    request (deploy/payload.py; None: the deployed model's server), or the handler under `make serve`."""
    request = payload.encode(texts, server)
    problems = []
    for variant in (v["name"] for v in VARIANTS):
        found = check_answer(variant, invoke(request, variant), len(texts), max_latency_ms, server)
        print(f"{variant}: {'FAILED' if found else 'ok'}")
        problems += found
    return problems


# ---------------------------------------------------------------------------------------------- transports


def http_invoker(url: str, timeout_s: float = 60.0) -> Invoke:
    """Invocations of a local endpoint (`make serve`): POST <url>/invocations, as SageMaker's servers take."""

    def invoke(request: payload.Request, variant: str) -> Answer:
        http_request = urllib.request.Request(
            url.rstrip("/") + "/invocations",
            data=request.body,
            headers={
                "Content-Type": request.content_type,
                "Accept": request.accept,
                TARGET_VARIANT_HEADER: variant,
            },
        )
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(http_request, timeout=timeout_s) as response:
                status, headers, content = response.status, response.headers, response.read()
        except urllib.error.HTTPError as err:
            status, headers, content = err.code, err.headers, err.read()
        except urllib.error.URLError as err:  # nothing listens, or the connection broke
            return Answer(NO_ANSWER, None, str(err.reason).encode(), (time.perf_counter() - start) * 1000)
        latency = (time.perf_counter() - start) * 1000
        return Answer(status, headers.get(INVOKED_VARIANT_HEADER), content, latency)

    return invoke


def sagemaker_invoker(runtime: Any, endpoint: str) -> Invoke:
    """Invocations of a deployed endpoint through the SageMaker runtime API."""
    from botocore.exceptions import ClientError

    def invoke(request: payload.Request, variant: str) -> Answer:
        start = time.perf_counter()
        try:
            response = runtime.invoke_endpoint(
                EndpointName=endpoint,
                ContentType=request.content_type,
                Accept=request.accept,
                Body=request.body,
                TargetVariant=variant,
            )
        except ClientError as err:
            # ModelError carries the container's own status; the others the API's.
            error = err.response
            status = error.get("OriginalStatusCode") or error["ResponseMetadata"].get("HTTPStatusCode", 500)
            message = error.get("Error", {}).get("Message", str(err))
            return Answer(int(status), variant, message.encode(), (time.perf_counter() - start) * 1000)
        content = response["Body"].read()
        latency = (time.perf_counter() - start) * 1000
        return Answer(200, response.get("InvokedProductionVariant"), content, latency)

    return invoke


def firing_alarms(cloudwatch: Any, endpoint: str) -> list[str]:
    """Problems with the endpoint's 5xx alarms: one in ALARM, or one missing."""
    names = [ERROR_ALARM_NAME.format(endpoint=endpoint, variant=v["name"]) for v in VARIANTS]
    alarms = cloudwatch.describe_alarms(AlarmNames=names, AlarmTypes=["MetricAlarm"])["MetricAlarms"]
    states = {alarm["AlarmName"]: alarm["StateValue"] for alarm in alarms}
    missing = [f"alarm {name} does not exist" for name in names if name not in states]
    return missing + [f"alarm {name} is in ALARM" for name, state in states.items() if state == "ALARM"]


# ---------------------------------------------------------------------------------------------- command


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.smoke_test", description=__doc__.split("\n", 1)[0]
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--stage", choices=STAGES, default=STAGES[0], help="default: %(default)s")
    target.add_argument("--url", help="a local endpoint instead, e.g. http://127.0.0.1:8080 (make serve)")
    parser.add_argument("--region", default=REGION, help="default: %(default)s")
    parser.add_argument("--data", default=SAMPLE_DATA, help="dataset of the texts (default: %(default)s)")
    parser.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, help="texts per request")
    parser.add_argument("--max-latency-ms", type=float, default=DEFAULT_MAX_LATENCY_MS)
    return parser.parse_args(argv)


def run(args: argparse.Namespace, session: Any | None = None) -> list[str]:
    """Every problem found; the texts come from --data."""
    if not args.data or not (args.data.startswith("s3://") or Path(args.data).exists()):
        return [f"no dataset to take sample texts from ({args.data or 'none given'}): pass --data"]
    texts = sample_texts(args.data, args.samples)
    if not texts:
        return [f"{args.data} has no texts in its {TEXT_COLUMN!r} column"]
    if args.url:
        print(f"{args.url}: {len(texts)} texts to each variant")
        # `make serve` answers every model through the project's handler.
        return smoke_test(http_invoker(args.url), texts, args.max_latency_ms, payload.HANDLER)
    import boto3

    session = session or boto3.Session(region_name=args.region)
    endpoint = ENDPOINT_NAMES[args.stage]
    print(f"{endpoint}: {len(texts)} texts to each variant")
    invoke = sagemaker_invoker(session.client("sagemaker-runtime"), endpoint)
    problems = smoke_test(invoke, texts, args.max_latency_ms)
    return problems + firing_alarms(session.client("cloudwatch"), endpoint)


@reports_aws_errors
def main(argv: Sequence[str] | None = None, session: Any | None = None) -> int:
    problems = run(parse_args(argv), session)
    for problem in problems:
        print(f"smoke test: {problem}", file=sys.stderr)
    print("smoke test: FAILED" if problems else "smoke test: passed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
