"""Turn reviewers' answers into the ground truth of the endpoint's model-quality monitor.

    python -m labeling.model_quality_labels                        # A2I's S3 output -> the prod monitor's
    python -m labeling.model_quality_labels --from-dir DIR --out-dir OUT   # output.json files -> files

Model Monitor's model-quality job joins each captured request of the endpoint with a label of the same
id and scores the predictions against the labels. review_predictions.py sends each review on its own with
an InferenceId and keeps it in the task; here every answered task becomes one ground-truth record:

    {"groundTruthData": {"data": "<class>", "encoding": "CSV"},
     "eventMetadata": {"eventId": "<the request's InferenceId>"}, "eventVersion": "0"}

The class is spelt as the deployed server answers (BlazingText: __label__<class>), because the monitor
compares the two as they are. The records go to <ground truth>/YYYY/MM/DD/HH/<name>.jsonl, the hour being
now's (UTC): where the stage's model-quality schedule (deploy/endpoint.yaml) reads them, found by
DescribeMonitoringSchedule unless --ground-truth-s3-uri names it.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deploy import payload
from deploy.build_config import monitoring_schedule_name
from deploy.settings import ENDPOINT_NAMES, HANDLER_MODULE
from pipelines.aws_errors import reports_aws_errors

from . import settings
from .retraining_data import add_source_arguments, chosen_label, converted, read_outputs


def deployed_label(label: str) -> str:
    """A class as the deployed server names it in its answers (deploy/payload.py)."""
    if payload.DEPLOYED != "blazingtext":
        return label
    # The pipeline package's blazingtext_format.py, beside the handler: how BlazingText spells a class.
    package = HANDLER_MODULE.rsplit(".", 1)[0]
    return importlib.import_module(f"{package}.blazingtext_format").blazingtext_label(label)


def ground_truth_record(output: dict[str, Any]) -> dict[str, Any]:
    """One A2I output document -> one ground-truth record; ValueError says why it cannot be."""
    prediction = (output.get("inputContent") or {}).get("prediction") or {}
    inference_id = prediction.get("inference_id")
    if not inference_id:
        raise ValueError("its task has no inference id (scored before model-quality labels were on)")
    name = chosen_label(output)
    return {
        "groundTruthData": {"data": deployed_label(settings.LABELS[name]), "encoding": "CSV"},
        "eventMetadata": {"eventId": inference_id},
        "eventVersion": "0",
    }


def ground_truth_records(
    outputs: Iterable[tuple[str, dict[str, Any]]],
) -> tuple[list[dict[str, Any]], list[str]]:
    """``(where, output document)`` pairs -> the records, and one line for each document left out."""
    return converted(outputs, ground_truth_record)


def ground_truth_key(records: Sequence[dict[str, Any]], now: datetime) -> str:
    """YYYY/MM/DD/HH/<name>.jsonl: the hour Model Monitor files the labels under, and a name that is the
    same for the same labels (writing them twice replaces the file)."""
    ids = "\n".join(sorted(record["eventMetadata"]["eventId"] for record in records))
    digest = hashlib.sha256(ids.encode("utf-8")).hexdigest()[:16]
    return f"{now:%Y/%m/%d/%H}/{settings.FLOW_DEFINITION_NAME}-{digest}.jsonl"


def jsonl(records: Sequence[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records).encode("utf-8")


def schedule_ground_truth_uri(sagemaker: Any, stage: str) -> str:
    """Where the stage's model-quality schedule reads ground truth (its job definition's S3 input)."""
    schedule = sagemaker.describe_monitoring_schedule(
        MonitoringScheduleName=monitoring_schedule_name(ENDPOINT_NAMES[stage], "model-quality")
    )
    definition = sagemaker.describe_model_quality_job_definition(
        JobDefinitionName=schedule["MonitoringScheduleConfig"]["MonitoringJobDefinitionName"]
    )
    return definition["ModelQualityJobInput"]["GroundTruthS3Input"]["S3Uri"]


def upload(s3: Any, uri: str, key: str, body: bytes) -> str:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    full_key = f"{prefix.rstrip('/')}/{key}" if prefix else key
    s3.put_object(Bucket=bucket, Key=full_key, Body=body, ContentType="application/jsonlines")
    return f"s3://{bucket}/{full_key}"


@reports_aws_errors
def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    add_source_arguments(parser)
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--out-dir", type=Path, help="write the ground truth under this folder instead")
    target.add_argument("--ground-truth-s3-uri", help="default: where the stage's schedule reads it")
    parser.add_argument("--stage", default="prod", choices=sorted(ENDPOINT_NAMES))
    parser.add_argument("--region", default=settings.REGION)
    args = parser.parse_args(argv)

    outputs, session = read_outputs(args)
    records, skipped = ground_truth_records(outputs)
    for line in skipped:
        print(f"left out {line}")
    if not records:
        print("no labels to write")
        return
    key = ground_truth_key(records, datetime.now(UTC))
    if args.out_dir:
        path = args.out_dir / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(jsonl(records))
        written = str(path)
    else:
        import boto3

        session = session or boto3.Session(region_name=args.region)
        uri = args.ground_truth_s3_uri or schedule_ground_truth_uri(session.client("sagemaker"), args.stage)
        written = upload(session.client("s3"), uri, key, jsonl(records))
    print(f"wrote {len(records)} label{'' if len(records) == 1 else 's'} to {written}")


if __name__ == "__main__":
    main()
