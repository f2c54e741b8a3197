"""deploy/smoke_test.py: what counts as a good answer, and the deployed endpoint's path against stubs and moto.

The pipeline's TestStaging stage runs it against the staging endpoint; `make smoke` against `make serve`.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from deploy import payload, smoke_test
from deploy.settings import CLASSES, ENDPOINT_NAMES, ERROR_ALARM_NAME, REGION, SAMPLE_DATA, VARIANTS

VARIANT_NAMES = [v["name"] for v in VARIANTS]


def _answer(predictions: Any, status: int = 200, variant: str | None = None, ms: float = 5.0):
    body = predictions if isinstance(predictions, bytes) else json.dumps(predictions).encode()
    return smoke_test.Answer(status, variant, body, ms)


def _handler_answer(labels: list[str]) -> dict[str, Any]:
    return {"predictions": [{"label": label, "probabilities": {label: 1.0}} for label in labels]}


def _container_answer(request: dict[str, Any], label: str) -> bytes:
    """The deployed container's answer giving every text of ``request`` the label: Autopilot's CSV lines
    (predicted_label,probability,probabilities,labels), else the handler's JSON."""
    if request["ContentType"] == payload.CSV:
        count = len(list(csv.reader(io.StringIO(request["Body"].decode()))))
        lines = io.StringIO()
        csv.writer(lines).writerows([[label, 1.0, "[1.0]", str([label])]] * count)
        return lines.getvalue().encode()
    return json.dumps(_handler_answer([label] * len(json.loads(request["Body"])["instances"]))).encode()


def test_every_answer_format_gives_the_labels() -> None:
    labels = [CLASSES[0], CLASSES[-1]]
    answer = _answer(_handler_answer(labels), variant="V")
    assert smoke_test.check_answer("V", answer, 2, max_latency_ms=100, server=payload.HANDLER) == []
    # The BlazingText image's answer: labels best first, with fastText's prefix.
    blazingtext = [{"label": [f"__label__{CLASSES[-1]}", f"__label__{CLASSES[0]}"], "prob": [0.9, 0.1]}]
    assert smoke_test.check_answer("V", _answer(blazingtext), 1, 100, server="blazingtext") == []
    # Autopilot's CSV: the same texts answered; a JSON answer is not one.
    request = {
        "ContentType": payload.CSV,
        "Body": payload.encode(["Fine, I guess", "Lovely"], "autopilot").body,
    }
    autopilot = _answer(_container_answer(request, CLASSES[0]))
    assert smoke_test.check_answer("V", autopilot, 2, 100, server="autopilot") == []
    assert smoke_test.check_answer("V", answer, 2, 100, server="autopilot") != []


def test_a_good_answer_has_no_problem() -> None:
    good = _answer(_handler_answer([CLASSES[0]] * 3), variant=VARIANT_NAMES[0])
    assert smoke_test.check_answer(VARIANT_NAMES[0], good, 3, 100, server=payload.HANDLER) == []


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (_answer(b"model crashed", status=500), "server error 500"),
        (_answer(b"no such variant", status=400), "status 400"),
        (_answer(b"refused", status=smoke_test.NO_ANSWER), "no answer"),
        (_answer(b"<html>", status=200), "unreadable answer"),
        (_answer(_handler_answer(["not-a-class"] * 3)), "not among the classes"),
        (_answer(_handler_answer([CLASSES[0]])), "1 predictions for 3 texts"),
        (_answer(_handler_answer([CLASSES[0]] * 3), ms=250.0), "answered in 250 ms"),
        (_answer(_handler_answer([CLASSES[0]] * 3), variant="Elsewhere"), "answered by Elsewhere"),
    ],
)
def test_a_bad_answer_is_a_problem(answer: smoke_test.Answer, expected: str) -> None:
    problems = smoke_test.check_answer("V", answer, 3, max_latency_ms=100, server=payload.HANDLER)
    assert any(expected in problem for problem in problems), problems


def test_sample_texts_come_from_the_dataset() -> None:
    if SAMPLE_DATA is None:
        pytest.skip("the dataset is on S3, not in this repository")
    texts = smoke_test.sample_texts(SAMPLE_DATA, 5)
    assert len(texts) == 5 and len(set(texts)) == 5 and all(texts)


class StubRuntime:
    """sagemaker-runtime's InvokeEndpoint: each variant answers as ``answers`` says."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.requests: list[dict[str, Any]] = []

    def invoke_endpoint(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        answer = self.answers[request["TargetVariant"]]
        if isinstance(answer, int):
            error = {"Error": {"Code": "ModelError", "Message": "boom"}, "OriginalStatusCode": answer}
            raise ClientError(error, "InvokeEndpoint")
        body = _container_answer(request, answer)
        return {"Body": io.BytesIO(body), "InvokedProductionVariant": request["TargetVariant"]}


def test_every_variant_is_asked_by_name() -> None:
    runtime = StubRuntime({name: CLASSES[0] for name in VARIANT_NAMES})
    invoke = smoke_test.sagemaker_invoker(runtime, ENDPOINT_NAMES["staging"])
    assert smoke_test.smoke_test(invoke, ["Lovely dress", "Too small"], max_latency_ms=1000) == []
    assert [r["TargetVariant"] for r in runtime.requests] == VARIANT_NAMES
    assert {r["EndpointName"] for r in runtime.requests} == {ENDPOINT_NAMES["staging"]}


def test_a_failing_variant_fails_the_test() -> None:
    runtime = StubRuntime({**{name: CLASSES[0] for name in VARIANT_NAMES}, VARIANT_NAMES[-1]: 503})
    invoke = smoke_test.sagemaker_invoker(runtime, ENDPOINT_NAMES["staging"])
    problems = smoke_test.smoke_test(invoke, ["Lovely dress"], max_latency_ms=1000)
    assert problems == [f"{VARIANT_NAMES[-1]}: server error 503: boom"]


@pytest.fixture
def cloudwatch(aws: str) -> Any:
    return boto3.client("cloudwatch", region_name=REGION)


def _put_alarms(cloudwatch: Any, endpoint: str) -> list[str]:
    names = [ERROR_ALARM_NAME.format(endpoint=endpoint, variant=name) for name in VARIANT_NAMES]
    for name in names:
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace="AWS/SageMaker",
            MetricName="Invocation5XXErrors",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=0,
            ComparisonOperator="GreaterThanThreshold",
        )
    return names


def test_the_5xx_alarms_must_exist_and_be_quiet(cloudwatch: Any) -> None:
    endpoint = ENDPOINT_NAMES["staging"]
    assert len(smoke_test.firing_alarms(cloudwatch, endpoint)) == len(VARIANT_NAMES)  # none exists yet
    names = _put_alarms(cloudwatch, endpoint)
    assert smoke_test.firing_alarms(cloudwatch, endpoint) == []
    cloudwatch.set_alarm_state(AlarmName=names[0], StateValue="ALARM", StateReason="5xx")
    assert smoke_test.firing_alarms(cloudwatch, endpoint) == [f"alarm {names[0]} is in ALARM"]
