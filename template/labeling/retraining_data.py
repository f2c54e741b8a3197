"""Turn reviewers' answers into training rows in the dataset's own format.

    python -m labeling.retraining_data --out data/reviewed.csv              # from A2I's S3 output
    python -m labeling.retraining_data --out data/reviewed.csv --from-dir DIR   # output.json files here

A2I writes one output.json per human loop under <output>/<flow definition>/YYYY/MM/DD/hh/mm/ss/<loop>/.
Each becomes one row: the text column, the label column holding the raw label value of the class the
reviewers chose (see settings.RAW_LABELS), then the facet columns the task carried. When several people
reviewed an item the majority wins; a tie is left out and reported. Append the rows to the dataset to
retrain (make local DATA=..., or upload to the pipeline's InputDataUrl).
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pipelines.aws_errors import reports_aws_errors

from . import settings

OUTPUT_FILE = "output.json"
T = TypeVar("T")


def answer_labels(output: dict[str, Any]) -> list[str]:
    """The label name each reviewer chose (crowd-classifier's answer: {"<name>": {"label": ...}})."""
    labels = []
    for answer in output.get("humanAnswers", []):
        chosen = answer.get("answerContent", {}).get(settings.ANSWER_NAME, {})
        if isinstance(chosen, dict) and chosen.get("label"):
            labels.append(str(chosen["label"]))
    return labels


def consensus(labels: Sequence[str]) -> str | None:
    """The most common label, or None when there is none or the top is a tie."""
    ranked = Counter(labels).most_common()
    if not ranked or (len(ranked) > 1 and ranked[0][1] == ranked[1][1]):
        return None
    return ranked[0][0]


def chosen_label(output: dict[str, Any]) -> str:
    """The label name the reviewers of one A2I output document agreed on; ValueError when they did not
    (no answer, a tie) or chose a name that is not one of the labels."""
    labels = answer_labels(output)
    name = consensus(labels)
    if name is None:
        raise ValueError(f"no majority among the answers {labels}" if labels else "no answer")
    if name not in settings.LABELS:
        raise ValueError(f"the answer {name!r} is not one of the labels {list(settings.LABELS)}")
    return name


def converted(
    outputs: Iterable[tuple[str, dict[str, Any]]], convert: Callable[[dict[str, Any]], T]
) -> tuple[list[T], list[str]]:
    """``(where, output document)`` pairs -> what ``convert`` makes of each, and one line for each
    document it refused (its ValueError)."""
    done, skipped = [], []
    for where, output in outputs:
        try:
            done.append(convert(output))
        except ValueError as err:
            skipped.append(f"{where}: {err}")
    return done, skipped


def training_row(output: dict[str, Any]) -> dict[str, str]:
    """One A2I output document -> one row of the dataset; ValueError says why it cannot be."""
    content = output.get("inputContent") or {}
    text = content.get("taskObject")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("its inputContent has no taskObject text")
    name = chosen_label(output)
    row = {
        settings.TEXT_COLUMN: text,
        settings.LABEL_COLUMN: settings.RAW_LABELS[settings.LABELS[name]],
    }
    columns = content.get("columns") or {}
    for column in settings.EXTRA_COLUMNS:
        row[column] = "" if columns.get(column) is None else str(columns[column])
    return row


def training_rows(outputs: Iterable[tuple[str, dict[str, Any]]]) -> tuple[list[dict[str, str]], list[str]]:
    """``(where, output document)`` pairs -> the rows, and one line for each document left out."""
    return converted(outputs, training_row)


def write_rows(rows: Sequence[dict[str, str]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, [settings.TEXT_COLUMN, settings.LABEL_COLUMN, *settings.EXTRA_COLUMNS])
        writer.writeheader()
        writer.writerows(rows)


def local_outputs(folder: Path) -> Iterable[tuple[str, dict[str, Any]]]:
    for path in sorted(folder.rglob(OUTPUT_FILE)):
        yield str(path), json.loads(path.read_text(encoding="utf-8"))


def s3_outputs(s3: Any, uri: str) -> Iterable[tuple[str, dict[str, Any]]]:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"].endswith("/" + OUTPUT_FILE):
                body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                yield f"s3://{bucket}/{item['Key']}", json.loads(body)


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """Where A2I's output.json files are read: --from-dir (a folder here) or --output-s3-uri."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--from-dir", type=Path, help="read output.json files under this folder")
    source.add_argument(
        "--output-s3-uri",
        help="A2I's output for the flow definition (default: <output prefix>/<flow definition name>)",
    )


def read_outputs(args: argparse.Namespace) -> tuple[Iterable[tuple[str, dict[str, Any]]], Any | None]:
    """The output documents add_source_arguments' arguments name (S3 in ``args.region`` unless
    --from-dir), and the boto3 session opened to read them (None for a folder)."""
    if args.from_dir:
        return local_outputs(args.from_dir), None
    import boto3

    from .human_review import output_s3_uri

    session = boto3.Session(region_name=args.region)
    uri = args.output_s3_uri or f"{output_s3_uri(session)}/{settings.FLOW_DEFINITION_NAME}/"
    return s3_outputs(session.client("s3"), uri), session


@reports_aws_errors
def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--out", type=Path, required=True, help="CSV file to write")
    add_source_arguments(parser)
    parser.add_argument("--region", default=settings.REGION)
    args = parser.parse_args(argv)
    outputs, _ = read_outputs(args)
    rows, skipped = training_rows(outputs)
    for line in skipped:
        print(f"left out {line}")
    write_rows(rows, args.out)
    print(f"wrote {len(rows)} row{'' if len(rows) == 1 else 's'} to {args.out}")


if __name__ == "__main__":
    main()
