"""People's labels as the model-quality monitor's ground truth (labeling/model_quality_labels.py): one
record per answered task, keyed by the id of the request people labeled, spelt as the deployed server
spells its answer, written where the stage's schedule reads. Requests are checked against botocore's
models (Stubbers validate them); S3 runs in moto."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import jmespath
import pytest
from botocore.stub import Stubber

from deploy import build_config, payload
from deploy.settings import ENDPOINT_INFERENCE_ATTRIBUTE, ENDPOINT_NAMES, REGION
from labeling import model_quality_labels, review_predictions, settings
from tests.api_requests import request_problems

CLASSES = list(settings.LABELS.values())
BUCKET = "sagespec-test-bucket"


def _output(inference_id: str | None, *answers: str) -> dict[str, Any]:
    """An output.json as A2I writes it for a human loop of review_predictions.py."""
    prediction: dict[str, Any] = {"label": CLASSES[0], "confidence": 0.4, "probabilities": {}}
    if inference_id is not None:
        prediction["inference_id"] = inference_id
    request = review_predictions.human_loop_request(
        "arn:aws:sagemaker:us-east-1:123456789012:flow-definition/f",
        {settings.TEXT_COLUMN: "It runs small."},
        prediction,
    )
    return {
        "inputContent": json.loads(request["HumanLoopInput"]["InputContent"]),
        "humanAnswers": [{"answerContent": {settings.ANSWER_NAME: {"label": name}}} for name in answers],
    }


def test_model_quality_labels_are_on() -> None:
    assert settings.MODEL_QUALITY_LABELS is True


def test_each_answered_task_becomes_one_record_of_its_request() -> None:
    names = list(settings.LABELS)
    records, skipped = model_quality_labels.ground_truth_records(
        [
            ("a", _output("id-a", names[1])),
            ("b", _output("id-b", names[0], names[1])),  # a tie: no label
            ("c", _output(None, names[0])),  # scored without an inference id
            ("d", _output("id-d", names[-1], names[-1], names[0])),
        ]
    )
    assert records == [
        {
            "groundTruthData": {"data": model_quality_labels.deployed_label(CLASSES[1]), "encoding": "CSV"},
            "eventMetadata": {"eventId": "id-a"},
            "eventVersion": "0",
        },
        {
            "groundTruthData": {"data": model_quality_labels.deployed_label(CLASSES[-1]), "encoding": "CSV"},
            "eventMetadata": {"eventId": "id-d"},
            "eventVersion": "0",
        },
    ]
    assert [line.split(":")[0] for line in skipped] == ["b", "c"]


@pytest.mark.parametrize("label", CLASSES)
def test_the_label_is_spelt_as_the_monitor_reads_the_deployed_answer(label: str) -> None:
    """What ENDPOINT_INFERENCE_ATTRIBUTE finds in the deployed server's answer to one text equals the
    ground truth's spelling of the same class, so a right prediction counts as right."""
    if payload.DEPLOYED == "autopilot":  # CSV: the attribute is the column of the predicted label
        answer = f'{label},0.9,"[0.9]","[\'{label}\']"\n'
        found = answer.split(",")[int(ENDPOINT_INFERENCE_ATTRIBUTE)]
    else:
        if payload.DEPLOYED == "blazingtext":
            document: Any = [{"label": [model_quality_labels.deployed_label(label)], "prob": [0.9]}]
            assert payload.decode(json.dumps(document).encode())[0].label == label
        else:
            document = {"predictions": [{"label": label, "probabilities": {label: 0.9}}]}
        found = jmespath.search(ENDPOINT_INFERENCE_ATTRIBUTE, document)
    assert found == model_quality_labels.deployed_label(label)


def test_one_text_per_request_with_an_inference_id() -> None:
    request = review_predictions.invoke_endpoint_request(["Lovely."], "0b6e2f0c-3f6d-4a53-9f0e-7d3c1d2b4a51")
    assert request_problems("sagemaker-runtime", "InvokeEndpoint", request) == []
    assert request["InferenceId"] == "0b6e2f0c-3f6d-4a53-9f0e-7d3c1d2b4a51"


def test_the_ground_truth_goes_where_the_schedule_reads_it() -> None:
    client = boto3.client(
        "sagemaker", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    stub = Stubber(client)
    schedule = build_config.monitoring_schedule_name(ENDPOINT_NAMES["prod"], "model-quality")
    uri = f"s3://{BUCKET}/{build_config.settings.GROUND_TRUTH_PREFIX}/prod"
    stub.add_response(
        "describe_monitoring_schedule",
        {
            "MonitoringScheduleArn": f"arn:aws:sagemaker:{REGION}:123456789012:monitoring-schedule/{schedule}",
            "MonitoringScheduleName": schedule,
            "MonitoringScheduleStatus": "Scheduled",
            "CreationTime": datetime(2026, 1, 1, tzinfo=UTC),
            "LastModifiedTime": datetime(2026, 1, 1, tzinfo=UTC),
            "MonitoringScheduleConfig": {
                "MonitoringJobDefinitionName": "ModelQualityJobDefinition-abc",
                "MonitoringType": "ModelQuality",
            },
        },
        {"MonitoringScheduleName": schedule},
    )
    stub.add_response(
        "describe_model_quality_job_definition",
        {
            "JobDefinitionArn": f"arn:aws:sagemaker:{REGION}:123456789012:model-quality-job-definition/x",
            "JobDefinitionName": "ModelQualityJobDefinition-abc",
            "CreationTime": datetime(2026, 1, 1, tzinfo=UTC),
            "ModelQualityAppSpecification": {"ImageUri": "image"},
            "ModelQualityJobInput": {
                "EndpointInput": {
                    "EndpointName": ENDPOINT_NAMES["prod"],
                    "LocalPath": "/opt/ml/processing/input",
                },
                "GroundTruthS3Input": {"S3Uri": uri},
            },
            "ModelQualityJobOutputConfig": {
                "MonitoringOutputs": [
                    {
                        "S3Output": {
                            "S3Uri": f"s3://{BUCKET}/reports",
                            "LocalPath": "/opt/ml/processing/output",
                        }
                    }
                ]
            },
            "JobResources": {
                "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 20}
            },
            "RoleArn": "arn:aws:iam::123456789012:role/ModelMonitorRole",
        },
        {"JobDefinitionName": "ModelQualityJobDefinition-abc"},
    )
    with stub:
        assert model_quality_labels.schedule_ground_truth_uri(client, "prod") == uri
    # The stack's GroundTruthS3Uri (deploy/build_config.py) is under the same prefix.
    assert build_config.stage_monitoring_parameters("prod", BUCKET)["GroundTruthS3Uri"] == uri


@pytest.fixture
def s3(aws: str) -> Any:
    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket=BUCKET)
    return client


def test_labels_land_in_the_hour_folder_as_json_lines(s3: Any, tmp_path: Path, capsys) -> None:
    answers = tmp_path / "a2i" / "2026" / "01" / "01"
    for i, name in enumerate(settings.LABELS):
        folder = answers / f"loop-{i}"
        folder.mkdir(parents=True)
        (folder / "output.json").write_text(json.dumps(_output(f"id-{i}", name)))
    uri = f"s3://{BUCKET}/ground-truth/prod"
    model_quality_labels.main(["--from-dir", str(tmp_path / "a2i"), "--ground-truth-s3-uri", uri])
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    (key,) = keys
    hour = datetime.now(UTC)
    assert key.startswith(f"ground-truth/prod/{hour:%Y/%m/%d}/") and key.endswith(".jsonl")
    lines = io.BytesIO(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()).read().decode().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["eventMetadata"]["eventId"] for r in records] == [
        f"id-{i}" for i in range(len(settings.LABELS))
    ]
    assert "wrote" in capsys.readouterr().out
    # The same labels again: the same file, replaced.
    model_quality_labels.main(["--from-dir", str(tmp_path / "a2i"), "--ground-truth-s3-uri", uri])
    assert len(s3.list_objects_v2(Bucket=BUCKET)["Contents"]) == 1
