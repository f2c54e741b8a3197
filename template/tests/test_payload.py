"""deploy/payload.py: each server's request and answer, and deploy/cli.py invoking an Autopilot endpoint.

Every server's format is tested whatever model this project has: the model type only picks the default.
"""

from __future__ import annotations

import csv
import importlib
import importlib.util
import io
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from deploy import cli, payload
from deploy.settings import CLASSES, HANDLER_MODULE, REGION
from tests.api_requests import request_problems

# Texts a CSV line must survive: commas, quotes, line breaks, a lone quote, HTML entities, a BOM.
AWKWARD_TEXTS = [
    "Too small, sadly",
    'The "petite" size is not petite',
    "Great colour.\nRuns large.\r\nReturned it.",
    '"',
    "Fits &amp; flatters,\tbut pricey",
    "\ufeffLovely",
    "   ",
]


def _handler() -> Any:
    return importlib.import_module(HANDLER_MODULE)


def _autopilot_line(label: str, probabilities: dict[str, float]) -> list[str]:
    """One line of Autopilot's answer, as its container writes it (lists as Python literals)."""
    labels = list(probabilities)
    return [label, str(probabilities[label]), str([probabilities[c] for c in labels]), str(labels)]


def _csv(rows: list[list[str]]) -> bytes:
    lines = io.StringIO()
    csv.writer(lines, lineterminator="\n").writerows(rows)
    return lines.getvalue().encode()


def test_autopilot_gets_one_cleaned_text_per_csv_line() -> None:
    request = payload.encode(AWKWARD_TEXTS, "autopilot")
    assert (request.content_type, request.accept) == ("text/csv", "text/csv")
    cleaned = [_handler().clean_text(text) for text in AWKWARD_TEXTS]
    # One line per text (preprocess.py put each review on one line), each read back whole.
    assert request.body.decode().count("\n") == len(AWKWARD_TEXTS)
    rows = list(csv.reader(io.StringIO(request.body.decode())))
    assert rows == [[text] for text in cleaned]
    assert payload.encode(["a, b"], "autopilot").body == b'"a, b"\n'
    with pytest.raises(payload.FormatError, match="CSV only"):
        payload.encode(["a"], "autopilot", content_type=payload.JSON)


def test_the_handler_reads_the_csv_it_is_sent() -> None:
    texts = [text for text in AWKWARD_TEXTS if text.strip()]
    request = payload.encode(texts, payload.HANDLER, content_type=payload.CSV)
    assert _handler().input_fn(request.body, request.content_type) == texts


def test_blazingtext_gets_training_tokens_and_reads_json_only() -> None:
    request = payload.encode(["Runs SMALL, sadly."], "blazingtext")
    assert request.body == b'{"instances": ["runs small , sadly ."], "configuration": {"k": %d}}' % len(
        CLASSES
    )
    with pytest.raises(payload.FormatError, match="JSON only"):
        payload.encode(["a"], "blazingtext", content_type=payload.CSV)


def test_autopilots_answer_gives_labels_and_probabilities() -> None:
    sure = {c: 0.8 if c == CLASSES[-1] else 0.2 / (len(CLASSES) - 1) for c in CLASSES}
    body = _csv([_autopilot_line(CLASSES[-1], sure), [CLASSES[0]]])
    first, label_only = payload.decode(body, "autopilot")
    assert first == payload.Prediction(CLASSES[-1], sure)
    assert first.confidence == pytest.approx(0.8)
    # A container left at its default answers the label alone: enough to check, not to review.
    assert label_only.label == CLASSES[0]
    with pytest.raises(ValueError, match="no class probabilities"):
        _ = label_only.confidence


def test_autopilots_numeric_labels_are_the_classes() -> None:
    """A numeric label column comes back as numbers: 1.0 and 1 are the class "1"."""
    body = b'1.0,0.9,"[0.1, 0.9]","[0.0, 1.0]"\n'
    (prediction,) = payload.decode(body, "autopilot")
    assert prediction == payload.Prediction("1", {"0": 0.1, "1": 0.9})


@pytest.mark.parametrize(
    "line",
    [
        b"a,0.9,[0.9]\n",  # three fields
        b"a,0.9,\"__import__('os').getcwd()\",\"['a']\"\n",  # code, not a literal
        b'a,0.9,"[0.9, 0.1]","[\'a\']"\n',  # a probability without its label
        b'a,0.9,"0.9","a"\n',  # not lists
    ],
)
def test_a_malformed_autopilot_answer_is_refused(line: bytes) -> None:
    with pytest.raises((ValueError, SyntaxError)):
        payload.decode(line, "autopilot")


def test_json_answers_of_the_handler_and_blazingtext() -> None:
    handler = _handler().output_fn([{"label": CLASSES[0], "probabilities": {CLASSES[0]: 1.0}}])
    assert payload.decode(handler, payload.HANDLER) == [payload.Prediction(CLASSES[0], {CLASSES[0]: 1.0})]
    blazingtext = b'[{"label": ["__label__%s"], "prob": [0.75]}]' % CLASSES[-1].encode()
    assert payload.decode(blazingtext, "blazingtext")[0].label == CLASSES[-1]
    with pytest.raises(ValueError):
        payload.decode(b'{"outputs": []}', payload.HANDLER)


def test_autopilots_columns_are_what_the_pipeline_asks_for(monkeypatch: pytest.MonkeyPatch) -> None:
    package = HANDLER_MODULE.rsplit(".", 1)[0]
    if importlib.util.find_spec(f"{package}.model_autopilot") is None:
        pytest.skip("the model is not Autopilot's")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)  # the SageMaker SDK makes a session on import
    model_autopilot = importlib.import_module(f"{package}.model_autopilot")
    assert ",".join(payload.AUTOPILOT_RESPONSE_KEYS) == model_autopilot.INFERENCE_OUTPUT


def test_the_cli_invokes_an_autopilot_endpoint_in_csv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(payload, "DEPLOYED", "autopilot")
    runtime = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    ).client("sagemaker-runtime")
    probabilities = {c: 1 / len(CLASSES) for c in CLASSES}
    answer = _csv([_autopilot_line(CLASSES[0], probabilities)] * 2)
    expected = {
        "EndpointName": "reviews-staging",
        "ContentType": "text/csv",
        "Accept": "text/csv",
        "Body": b'"Too small, sadly"\nLovely\n',
    }
    assert request_problems("sagemaker-runtime", "InvokeEndpoint", expected) == []
    clients = cli.Clients(sagemaker=None, runtime=runtime, cloudwatch=None, autoscaling=None)
    with Stubber(runtime) as stub:
        stub.add_response(
            "invoke_endpoint",
            {"Body": StreamingBody(io.BytesIO(answer), len(answer)), "ContentType": "text/csv"},
            expected,
        )
        result = cli.invoke(clients, "reviews-staging", ["Too small, sadly", "Lovely"])
        stub.assert_no_pending_responses()
    assert result["body"] == [{"label": CLASSES[0], "probabilities": probabilities}] * 2
    with pytest.raises(cli.CliError, match="CSV only"):
        cli.invoke(clients, "reviews-staging", ["Lovely"], content_type="json")
