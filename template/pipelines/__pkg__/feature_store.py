"""Feature Store ingestion for preprocess.py: every example's BERT features in a feature group.

Only projects whose spec turns the feature store on have this module; preprocess.py imports it when it is
given --feature-group-name. The feature group is created if missing: the record identifier, input_ids and
attention_mask (padded to --max-seq-length), label, split and event time. Feature Store has no list type
outside in-memory online stores, so input_ids and attention_mask are JSON arrays in String features
("[101,2023,102,0]"). With --offline-store-dir (what a local run passes), nothing reaches AWS: the records
are written as Parquet under that folder, laid out like the offline store in S3.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

# The features written beside the record identifier and the event time (all String).
TOKEN_FEATURES = ("input_ids", "attention_mask")
FEATURES = (*TOKEN_FEATURES, "label", "split")
FEATURE_GROUP_DESCRIPTION = "BERT features of the examples, written by the pipeline's preprocessing step."
TOKENIZE_BATCH_SIZE = 2048  # texts per call to the (Rust, multi-threaded) fast tokenizer
PUT_RECORD_THREADS = 8
PUT_RECORD_BATCH = 1000  # records between progress lines
FEATURE_GROUP_WAIT_SECONDS = 600
# A local offline store stands in for an AWS account that a local run does not have.
LOCAL_ACCOUNT_ID = "000000000000"
# Where SageMaker puts the processing job's own request (its RoleArn included) inside the container.
PROCESSING_JOB_CONFIG = Path("/opt/ml/config/processingjobconfig.json")


class FeatureStoreError(Exception):
    """Creating the feature group or ingesting into it failed (exit status 1)."""


class NoRoleError(FeatureStoreError):
    """A new feature group needs a role, and none was given or found (exit status 2: the user fixes it)."""


def feature_definitions(record_identifier: str, event_time_feature: str) -> list[dict[str, str]]:
    names = [record_identifier, *FEATURES, event_time_feature]
    return [{"FeatureName": name, "FeatureType": "String"} for name in names]


def json_list(values: Sequence[int]) -> str:
    return json.dumps(list(values), separators=(",", ":"))


def feature_records(
    parts: dict[str, pd.DataFrame],
    tokenizer: Any,
    max_seq_length: int,
    record_identifier: str,
    event_time_feature: str,
    event_time: str,
) -> pd.DataFrame:
    """One record per example (texts already cleaned), every value a string: the token features are padded to max_seq_length,
    so attention_mask tells the tokens from the padding."""
    frames = []
    for name, part in parts.items():
        texts = part["text"].tolist()
        input_ids: list[str] = []
        attention_mask: list[str] = []
        for start in range(0, len(texts), TOKENIZE_BATCH_SIZE):
            encoded = tokenizer(
                texts[start : start + TOKENIZE_BATCH_SIZE],
                truncation=True,
                max_length=max_seq_length,
                padding="max_length",
            )
            input_ids += [json_list(ids) for ids in encoded["input_ids"]]
            attention_mask += [json_list(mask) for mask in encoded["attention_mask"]]
        record = {
            record_identifier: part["record_id"].tolist(),
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "label": part["label"].tolist(),
            "split": name,
            event_time_feature: event_time,
        }
        frames.append(pd.DataFrame(record, columns=list(record)))
    return pd.concat(frames, ignore_index=True)


def write_offline_store(
    records: pd.DataFrame, root: Path, feature_group_name: str, region: str, event_time: datetime
) -> Path:
    """The records as one Parquet file, where the offline store would put them in S3:
    <root>/<account>/sagemaker/<region>/offline-store/<group>/data/year=/month=/day=/hour=/ (partitioned
    by event time), with the columns the offline store adds: write_time, api_invocation_time, is_deleted."""
    folder = root.joinpath(
        LOCAL_ACCOUNT_ID, "sagemaker", region, "offline-store", feature_group_name, "data",
        f"year={event_time:%Y}", f"month={event_time:%m}", f"day={event_time:%d}", f"hour={event_time:%H}",
    )  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    written = pd.Timestamp(datetime.now(UTC)).floor("ms")
    table = records.assign(write_time=written, api_invocation_time=written, is_deleted=False)
    path = folder / f"{written:%Y%m%dT%H%M%SZ}_{uuid.uuid4().hex[:16]}.parquet"
    table.to_parquet(path, index=False)
    return path


def processing_job_role() -> str:
    """The role of the processing job this runs in (SageMaker writes the job's request into the container)."""
    try:
        return str(json.loads(PROCESSING_JOB_CONFIG.read_text(encoding="utf-8"))["RoleArn"])
    except (OSError, KeyError, ValueError):
        raise NoRoleError(
            f"no --feature-store-role-arn, and no RoleArn in {PROCESSING_JOB_CONFIG} (not a processing job?)"
        ) from None


def create_feature_group(
    sagemaker: Any, args: argparse.Namespace, sleep: Callable[[float], None] = time.sleep
) -> None:
    """Create the feature group unless it exists; then wait until it can take records."""
    request: dict[str, Any] = {
        "FeatureGroupName": args.feature_group_name,
        "RecordIdentifierFeatureName": args.record_identifier,
        "EventTimeFeatureName": args.event_time_feature,
        "FeatureDefinitions": feature_definitions(args.record_identifier, args.event_time_feature),
        "Description": FEATURE_GROUP_DESCRIPTION,
    }
    if args.online_store:
        request["OnlineStoreConfig"] = {"EnableOnlineStore": True}
    if args.offline_store_s3_uri:
        request["OfflineStoreConfig"] = {"S3StorageConfig": {"S3Uri": args.offline_store_s3_uri}}
        request["RoleArn"] = args.feature_store_role_arn or processing_job_role()
    try:
        sagemaker.create_feature_group(**request)
        print(f"creating feature group {args.feature_group_name}")
    except sagemaker.exceptions.ResourceInUse:
        print(f"feature group {args.feature_group_name} exists")
    deadline = time.monotonic() + FEATURE_GROUP_WAIT_SECONDS
    while True:
        group = sagemaker.describe_feature_group(FeatureGroupName=args.feature_group_name)
        status = group["FeatureGroupStatus"]
        if status == "Created":
            break
        if status != "Creating" or time.monotonic() > deadline:
            reason = group.get("FailureReason", "")
            raise FeatureStoreError(f"feature group {args.feature_group_name} is {status} {reason}".strip())
        sleep(5)
    names = {d["FeatureName"] for d in group["FeatureDefinitions"]}
    missing = [d["FeatureName"] for d in request["FeatureDefinitions"] if d["FeatureName"] not in names]
    if missing or group["RecordIdentifierFeatureName"] != args.record_identifier:
        raise FeatureStoreError(
            f"feature group {args.feature_group_name} exists with other features (missing: "
            f"{', '.join(missing) or 'none'}; record identifier {group['RecordIdentifierFeatureName']!r}): "
            "give a new --feature-group-name or delete the group"
        )


def put_records(
    runtime: Any, feature_group_name: str, records: pd.DataFrame, threads: int = PUT_RECORD_THREADS
) -> None:
    """PutRecord for every record, several at a time (Feature Store takes one record per call)."""

    def put(row: dict[str, str]) -> None:
        record = [{"FeatureName": name, "ValueAsString": value} for name, value in row.items()]
        runtime.put_record(FeatureGroupName=feature_group_name, Record=record)

    rows = records.to_dict(orient="records")
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for start in range(0, len(rows), PUT_RECORD_BATCH):
            list(pool.map(put, rows[start : start + PUT_RECORD_BATCH]))
            done = min(start + PUT_RECORD_BATCH, len(rows))
            print(f"ingested {done}/{len(rows)} records into {feature_group_name}")


def ingest(records: pd.DataFrame, args: argparse.Namespace) -> None:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    # Standard retries back off on throttling, which thousands of PutRecord calls can meet.
    config = Config(region_name=args.feature_store_region, retries={"mode": "standard", "max_attempts": 10})
    try:
        create_feature_group(boto3.client("sagemaker", config=config), args)
        runtime = boto3.client("sagemaker-featurestore-runtime", config=config)
        put_records(runtime, args.feature_group_name, records)
    except (BotoCoreError, ClientError) as err:
        raise FeatureStoreError(f"feature group {args.feature_group_name}: {err}") from None


def store_features(parts: dict[str, pd.DataFrame], tokenizer: Any, args: argparse.Namespace) -> None:
    event_time = datetime.now(UTC).replace(microsecond=0)
    records = feature_records(
        parts,
        tokenizer,
        args.max_seq_length,
        args.record_identifier,
        args.event_time_feature,
        event_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    if args.offline_store_dir:
        path = write_offline_store(
            records, args.offline_store_dir, args.feature_group_name, args.feature_store_region, event_time
        )
        print(f"wrote {len(records)} feature records to the local offline store: {path}")
    else:
        ingest(records, args)
