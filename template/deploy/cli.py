"""Work with the deployed endpoint: invoke it, read its metrics, shift traffic, set up autoscaling.

    python -m deploy.cli describe                                # variants, weights, instance counts
    python -m deploy.cli invoke "Love this dress" ["Too small"]  [--target-variant NAME]
    python -m deploy.cli metrics [--minutes 60] [--chart metrics.png]
    python -m deploy.cli shift --weights Current=0,Challenger=1 [--wait]
    python -m deploy.cli autoscale [--variant NAME] [--min 1 --max 4 --target 200]

Every command takes --stage (staging or prod; default staging), or --endpoint-name, and --region. The
endpoint names, variants and autoscaling settings default to deploy/settings.py, the values the
endpoint stack (deploy/endpoint.yaml) was rendered from.

`shift` and `autoscale` change the endpoint outside CloudFormation: the next stack update puts the
spec's weights back (the instance counts autoscaling sets are kept). Use them to test and to react;
change spec.yaml to make a change last.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3

from deploy import payload
from deploy.settings import (
    AUTOSCALING,
    ENDPOINT_NAMES,
    REGION,
    SCALABLE_DIMENSION,
    STAGES,
    VARIANTS,
)
from pipelines.aws_errors import reports_aws_errors

NAMESPACE = "AWS/SageMaker"
# CloudWatch metric -> (statistic, unit conversion, column heading). ModelLatency is in microseconds.
METRICS: dict[str, tuple[str, float, str]] = {
    "Invocations": ("Sum", 1.0, "invocations"),
    "ModelLatency": ("Average", 1e-3, "latency ms"),
    "Invocation4XXErrors": ("Sum", 1.0, "4xx"),
    "Invocation5XXErrors": ("Sum", 1.0, "5xx"),
}
CONTENT_TYPES = {"json": payload.JSON, "csv": payload.CSV}


class CliError(Exception):
    """A usage problem: an unknown variant, a malformed --weights value."""


@dataclass(frozen=True)
class Clients:
    """The AWS clients the commands use, all from one session (tests pass their own)."""

    sagemaker: Any
    runtime: Any
    cloudwatch: Any
    autoscaling: Any

    @classmethod
    def create(cls, session: boto3.Session) -> Clients:
        return cls(
            sagemaker=session.client("sagemaker"),
            runtime=session.client("sagemaker-runtime"),
            cloudwatch=session.client("cloudwatch"),
            autoscaling=session.client("application-autoscaling"),
        )


def variant_names() -> list[str]:
    return [variant["name"] for variant in VARIANTS]


def _check_variant(name: str) -> str:
    if name not in variant_names():
        raise CliError(f"no variant named {name!r}; variants: {', '.join(variant_names())}")
    return name


def parse_weights(text: str) -> dict[str, float]:
    """'Current=0,Challenger=1' -> {"Current": 0.0, "Challenger": 1.0}."""
    weights: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = -1.0
        if not sep or weight < 0:
            raise CliError(f"--weights: expected NAME=WEIGHT with a weight >= 0, got {item!r}")
        weights[_check_variant(name.strip())] = weight
    if not weights or not any(weights.values()):
        raise CliError("--weights: give at least one variant a weight above 0")
    return weights


# ---------------------------------------------------------------------------------------------- commands


def describe(clients: Clients, endpoint: str) -> list[dict[str, Any]]:
    """The endpoint's status and each variant's weight and instance count."""
    response = clients.sagemaker.describe_endpoint(EndpointName=endpoint)
    print(f"{endpoint}: {response['EndpointStatus']}")
    variants = response.get("ProductionVariants", [])
    for v in variants:
        print(
            f"  {v['VariantName']:<20} weight {v.get('CurrentWeight', 0):g}"
            f" (desired {v.get('DesiredWeight', 0):g})"
            f"  instances {v.get('CurrentInstanceCount', '-')} (desired {v.get('DesiredInstanceCount', '-')})"
        )
    return variants


def invoke(
    clients: Clients,
    endpoint: str,
    texts: list[str],
    content_type: str | None = None,
    target_variant: str | None = None,
) -> dict[str, Any]:
    """Send the texts in one request, as the endpoint's server reads them (deploy/payload.py); return
    the variant that answered and its predictions (the answer's text when it is not one)."""
    try:
        request = payload.encode(texts, content_type=CONTENT_TYPES.get(content_type or ""))
    except payload.FormatError as err:
        raise CliError(str(err)) from None
    arguments: dict[str, Any] = {
        "EndpointName": endpoint,
        "ContentType": request.content_type,
        "Accept": request.accept,
        "Body": request.body,
    }
    if target_variant:
        arguments["TargetVariant"] = _check_variant(target_variant)
    response = clients.runtime.invoke_endpoint(**arguments)
    answer = response["Body"].read().decode("utf-8")
    try:
        decoded: Any = [asdict(prediction) for prediction in payload.decode(answer)]
    except (ValueError, KeyError, TypeError, SyntaxError):
        decoded = answer
    print(f"variant: {response.get('InvokedProductionVariant')}")
    print(json.dumps(decoded, indent=2))
    return {"variant": response.get("InvokedProductionVariant"), "body": decoded}


def metric_queries(endpoint: str, variants: list[str], period: int) -> list[dict[str, Any]]:
    """One GetMetricData query per variant and metric; ids are m<variant index>_<metric index>."""
    return [
        {
            "Id": f"m{v}_{m}",
            "Label": f"{variant} {metric}",
            "MetricStat": {
                "Metric": {
                    "Namespace": NAMESPACE,
                    "MetricName": metric,
                    "Dimensions": [
                        {"Name": "EndpointName", "Value": endpoint},
                        {"Name": "VariantName", "Value": variant},
                    ],
                },
                "Period": period,
                "Stat": METRICS[metric][0],
            },
        }
        for v, variant in enumerate(variants)
        for m, metric in enumerate(METRICS)
    ]


def fetch_metrics(
    clients: Clients, endpoint: str, variants: list[str], minutes: int, period: int
) -> dict[str, dict[str, list[tuple[datetime, float]]]]:
    """variant -> metric -> [(time, value)] over the last ``minutes``, oldest first."""
    end = datetime.now(UTC)
    request = {
        "MetricDataQueries": metric_queries(endpoint, variants, period),
        "StartTime": end - timedelta(minutes=minutes),
        "EndTime": end,
        "ScanBy": "TimestampAscending",
    }
    series: dict[str, dict[str, list[tuple[datetime, float]]]] = {
        v: {m: [] for m in METRICS} for v in variants
    }
    names = list(METRICS)
    for page in clients.cloudwatch.get_paginator("get_metric_data").paginate(**request):
        for result in page["MetricDataResults"]:
            v, m = (int(part) for part in result["Id"][1:].split("_"))
            scale = METRICS[names[m]][1]
            points = zip(result["Timestamps"], result["Values"], strict=True)
            series[variants[v]][names[m]] += [(time, value * scale) for time, value in points]
    for metrics in series.values():
        for points in metrics.values():
            points.sort()
    return series


def summarize(series: dict[str, dict[str, list[tuple[datetime, float]]]]) -> list[dict[str, Any]]:
    """One row per variant: summed counts, and the invocation-weighted mean latency."""
    rows = []
    for variant, metrics in series.items():
        counts = dict(metrics["Invocations"])
        latency = metrics["ModelLatency"]
        weighted = sum(value * counts.get(time, 0) for time, value in latency)
        invocations = sum(counts.values())
        rows.append(
            {
                "variant": variant,
                "invocations": invocations,
                "latency ms": weighted / invocations if invocations else None,
                "4xx": sum(value for _, value in metrics["Invocation4XXErrors"]),
                "5xx": sum(value for _, value in metrics["Invocation5XXErrors"]),
            }
        )
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    headings = ["variant", *(heading for _, _, heading in METRICS.values())]
    print("  ".join(f"{h:>12}" for h in headings))
    for row in rows:
        cells = [row["variant"]]
        for heading in headings[1:]:
            value = row[heading]
            cells.append(
                "-" if value is None else f"{value:.2f}" if heading == "latency ms" else f"{value:g}"
            )
        print("  ".join(f"{c:>12}" for c in cells))


def plot_metrics(series: dict[str, dict[str, list[tuple[datetime, float]]]], path: Path, title: str) -> None:
    """One panel per metric, one line per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(METRICS), 1, figsize=(9, 2.4 * len(METRICS)), sharex=True)
    for ax, (metric, (stat, _, heading)) in zip(axes, METRICS.items(), strict=True):
        for variant, metrics in series.items():
            points = metrics[metric]
            ax.plot([t for t, _ in points], [v for _, v in points], marker=".", label=variant)
        ax.set_ylabel(heading)
        ax.set_title(f"{metric} ({stat})", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper left", fontsize=8)
    fig.suptitle(title)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def shift(clients: Clients, endpoint: str, weights: dict[str, float], wait: bool = False) -> None:
    """Set the variants' weights (traffic share = weight / sum of weights); instance counts stay."""
    clients.sagemaker.update_endpoint_weights_and_capacities(
        EndpointName=endpoint,
        DesiredWeightsAndCapacities=[
            {"VariantName": name, "DesiredWeight": weight} for name, weight in weights.items()
        ],
    )
    total = sum(weights.values())
    print(", ".join(f"{name} {100 * w / total:.0f}%" for name, w in weights.items()) + f" of {endpoint}")
    if wait:
        clients.sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=endpoint)
        print(f"{endpoint} is InService")


def autoscale(
    clients: Clients,
    endpoint: str,
    variant: str,
    min_instances: int,
    max_instances: int,
    target: float,
    policy_name: str | None = None,
) -> str:
    """Register the variant's instance count with Application Auto Scaling and track invocations."""
    resource_id = f"endpoint/{endpoint}/variant/{_check_variant(variant)}"
    clients.autoscaling.register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=resource_id,
        ScalableDimension=SCALABLE_DIMENSION,
        MinCapacity=min_instances,
        MaxCapacity=max_instances,
    )
    defaults = AUTOSCALING.get(variant, {})
    configuration = {
        "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
        "ScaleInCooldown": 300,
        "ScaleOutCooldown": 60,
        **defaults.get("target_tracking", {}),
        "TargetValue": float(target),
    }
    response = clients.autoscaling.put_scaling_policy(
        PolicyName=policy_name or defaults.get("policy_name") or f"{variant}-invocations-per-instance",
        ServiceNamespace="sagemaker",
        ResourceId=resource_id,
        ScalableDimension=SCALABLE_DIMENSION,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration=configuration,
    )
    print(
        f"{resource_id}: {min_instances}-{max_instances} instances, "
        f"target {target:g} invocations per instance per minute"
    )
    return response["PolicyARN"]


# ---------------------------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--stage", choices=STAGES, default=STAGES[0], help="default: %(default)s")
    common.add_argument("--endpoint-name", help="instead of the stage's endpoint")
    common.add_argument("--region", default=REGION, help="default: %(default)s")

    parser = argparse.ArgumentParser(prog="python -m deploy.cli", description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("describe", parents=[common], help="the endpoint's variants, weights, instances")

    p = commands.add_parser("invoke", parents=[common], help="classify texts with the endpoint")
    p.add_argument("texts", nargs="+", metavar="TEXT")
    p.add_argument("--target-variant", metavar="NAME", help="send to this variant, whatever the weights")
    p.add_argument(
        "--content-type", choices=sorted(CONTENT_TYPES), help="default: what the endpoint's model reads"
    )

    p = commands.add_parser(
        "metrics", parents=[common], help="per-variant CloudWatch metrics: table and chart"
    )
    p.add_argument("--minutes", type=int, default=60, help="how far back (default: %(default)s)")
    p.add_argument("--period", type=int, default=60, help="seconds per data point (default: %(default)s)")
    p.add_argument("--chart", type=Path, metavar="PNG", help="also draw the series into this PNG file")

    p = commands.add_parser("shift", parents=[common], help="set the variants' traffic weights")
    p.add_argument("--weights", required=True, type=parse_weights, metavar="NAME=W,...")
    p.add_argument("--wait", action="store_true", help="wait until the endpoint is InService again")

    p = commands.add_parser("autoscale", parents=[common], help="target-tracking autoscaling of a variant")
    p.add_argument("--variant", default=next(iter(AUTOSCALING), VARIANTS[0]["name"]))
    p.add_argument("--min", type=int, dest="min_instances")
    p.add_argument("--max", type=int, dest="max_instances")
    p.add_argument("--target", type=float, help="invocations per instance per minute")
    return parser


def run(args: argparse.Namespace, clients: Clients) -> Any:
    endpoint = args.endpoint_name or ENDPOINT_NAMES[args.stage]
    if args.command == "describe":
        return describe(clients, endpoint)
    if args.command == "invoke":
        return invoke(clients, endpoint, args.texts, args.content_type, args.target_variant)
    if args.command == "metrics":
        series = fetch_metrics(clients, endpoint, variant_names(), args.minutes, args.period)
        rows = summarize(series)
        print_table(rows)
        if args.chart:
            plot_metrics(series, args.chart, f"{endpoint}, last {args.minutes} min")
            print(f"wrote {args.chart}")
        return rows
    if args.command == "shift":
        return shift(clients, endpoint, args.weights, args.wait)
    # autoscale: the spec's settings for the variant, overridden by any option given.
    defaults = AUTOSCALING.get(_check_variant(args.variant), {})
    settings = {
        "min_instances": args.min_instances or defaults.get("min_instances"),
        "max_instances": args.max_instances or defaults.get("max_instances"),
        "target": args.target or defaults.get("target_tracking", {}).get("TargetValue"),
    }
    missing = [f"--{key.split('_')[0]}" for key, value in settings.items() if value is None]
    if missing:
        raise CliError(f"the spec does not autoscale {args.variant}: give {' '.join(missing)}")
    if settings["min_instances"] > settings["max_instances"]:
        raise CliError("--min must not exceed --max")
    return autoscale(clients, endpoint, args.variant, **settings)


@reports_aws_errors
def main(argv: Sequence[str] | None = None, session: boto3.Session | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        clients = Clients.create(session or boto3.Session(region_name=args.region))
        run(args, clients)
    except CliError as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
