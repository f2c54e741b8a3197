"""Data capture of the local endpoint: SageMaker's record format and folder layout, the sampling share,
the client's inference id, and nothing lost when the endpoint stops."""

from __future__ import annotations

import base64
import http.client
import json
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sagespec.local.runs import capture_root
from sagespec.serve.capture import CaptureWriter, Exchange, capture_line
from sagespec.serve.cli import STATE_FILE

from .conftest import ENDPOINT_NAME, NEGATIVE, POSITIVE, load, serving

# The field names of SageMaker's data-capture record, exactly.
RECORD_KEYS = {"captureData", "eventMetadata", "eventVersion"}
CAPTURE_KEYS = {"endpointInput", "endpointOutput"}
SIDE_KEYS = {"observedContentType", "mode", "data", "encoding"}
FILE_NAME = re.compile(
    r"\d{2}-\d{2}-\d{3}-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.jsonl"
)
JSON = {"Content-Type": "application/json"}

PRODUCTION_ONLY = "  variants: [{name: Current, model: {select: latest-approved}}]\n"


def deployment(percentage: int, shadow: bool = False) -> str:
    text = PRODUCTION_ONLY + f"  data_capture: {{enabled: true, sampling_percentage: {percentage}}}\n"
    if shadow:
        text += "  shadow_variants: [{name: Shadow, model: {select: newest}}]\n"
    return text


def post(connection: http.client.HTTPConnection, body: bytes | str, headers: dict[str, str]):
    connection.request("POST", "/invocations", body=body, headers=headers)
    response = connection.getresponse()
    return response, response.read()


def records(folder: Path) -> list[tuple[Path, dict]]:
    """Every record under ``folder``, with the file it is in (files in name order)."""
    found = []
    for path in sorted(folder.rglob("*.jsonl")):
        for line in path.read_text().splitlines():
            found.append((path, json.loads(line)))
    return found


def check_record(record: dict) -> None:
    """The record has SageMaker's fields, no more and no fewer."""
    assert set(record) == RECORD_KEYS and record["eventVersion"] == "0"
    assert set(record["captureData"]) == CAPTURE_KEYS
    for side, mode in (("endpointInput", "INPUT"), ("endpointOutput", "OUTPUT")):
        assert set(record["captureData"][side]) == SIDE_KEYS
        assert record["captureData"][side]["mode"] == mode
    metadata = record["eventMetadata"]
    assert set(metadata) in ({"eventId", "inferenceTime"}, {"eventId", "inferenceId", "inferenceTime"})
    assert uuid.UUID(metadata["eventId"]).version == 4
    time.strptime(metadata["inferenceTime"], "%Y-%m-%dT%H:%M:%SZ")


def record_of(exchange: Exchange) -> dict:
    line = capture_line(exchange)
    assert line.isascii() and "\n" not in line
    return json.loads(line)


def decoded(side: dict) -> bytes:
    if side["encoding"] == "BASE64":
        return base64.b64decode(side["data"])
    return side["data"].encode("utf-8")


# ---------------------------------------------------------------------------------------------- format


def test_records_hold_what_the_client_sent_and_got_in_sagemakers_format_and_layout(make_project):
    project = make_project(deployment(100))
    endpoint = load(project, seed=7)
    sent = []
    started = time.time()
    try:
        with serving(endpoint) as connection:
            for i, text in enumerate(POSITIVE + NEGATIVE):
                body = json.dumps({"instances": [text]})
                headers = {**JSON, "X-Amzn-SageMaker-Inference-Id": f"review-{i}"} if i % 2 else JSON
                response, answer = post(connection, body, headers)
                assert response.status == 200
                sent.append(
                    (body.encode(), "application/json", answer, headers.get("X-Amzn-SageMaker-Inference-Id"))
                )
            response, answer = post(connection, 'love it, "so, soft"\nawful\n', {"Content-Type": "text/csv"})
            assert response.status == 200
            sent.append((b'love it, "so, soft"\nawful\n', "text/csv", answer, None))
            # Refused requests are no inference: not captured.
            assert post(connection, b"{broken", JSON)[0].status == 400
            assert post(connection, b"x", {"Content-Type": "application/xml"})[0].status == 415
    finally:
        endpoint.close()
    ended = time.time()

    folder = capture_root(project) / ENDPOINT_NAME / "Current"
    captured = records(folder)
    assert len(captured) == len(sent)
    assert len({record["eventMetadata"]["eventId"] for _, record in captured}) == len(sent)
    for (path, record), (body, content_type, answer, inference_id) in zip(captured, sent, strict=True):
        check_record(record)
        request, response = record["captureData"]["endpointInput"], record["captureData"]["endpointOutput"]
        assert request["observedContentType"] == content_type
        assert request["encoding"] == ("JSON" if content_type == "application/json" else "CSV")
        assert decoded(request) == body
        assert (response["observedContentType"], response["encoding"]) == ("application/json", "JSON")
        assert decoded(response) == answer
        assert record["eventMetadata"].get("inferenceId") == inference_id
        # <endpoint>/<variant>/yyyy/mm/dd/hh/<mm>-<ss>-<mmm>-<uuid>.jsonl, the hour of the inference (UTC)
        moment = time.strptime(record["eventMetadata"]["inferenceTime"], "%Y-%m-%dT%H:%M:%SZ")
        assert path.parent == folder / time.strftime("%Y/%m/%d/%H", moment)
        assert FILE_NAME.fullmatch(path.name)
        assert int(started) <= time.mktime(moment) - time.timezone <= ended + 1
    described = endpoint.describe()["data_capture"]
    assert described["captured"] == {"Current": len(sent)} and described["dropped"] == 0


def test_a_body_of_another_content_type_is_base64_and_a_non_utf8_one_too():
    exchange = Exchange("V", 0.0, b"\x93NUMPY\x00\xff", "application/x-npy", b"\xff\xfe", "text/csv", None)
    record = record_of(exchange)
    check_record(record)
    request, response = record["captureData"]["endpointInput"], record["captureData"]["endpointOutput"]
    assert request["encoding"] == "BASE64" and decoded(request) == b"\x93NUMPY\x00\xff"
    assert response["encoding"] == "BASE64" and decoded(response) == b"\xff\xfe"  # text/csv, but not UTF-8
    assert record["eventMetadata"]["inferenceTime"] == "1970-01-01T00:00:00Z"
    charset = Exchange(
        "V", 0.0, b'{"a": "\xc3\xa9"}', "application/json; charset=utf-8", b"1", "text/csv", "x"
    )
    record = record_of(charset)
    assert record["captureData"]["endpointInput"]["encoding"] == "JSON"
    assert record["captureData"]["endpointInput"]["data"] == '{"a": "é"}'
    assert record["eventMetadata"]["inferenceId"] == "x"


@settings(max_examples=300, deadline=None)
@given(
    request=st.one_of(
        st.binary(max_size=60), st.text(max_size=30).map(lambda t: t.encode("utf-8", "surrogatepass"))
    ),
    response=st.binary(max_size=30),
    content_type=st.one_of(
        st.sampled_from(["application/json", "text/csv", "TEXT/CSV; charset=utf-8", "image/png", ""]),
        st.text(st.characters(max_codepoint=255), max_size=20),
    ),
    inference_id=st.one_of(
        st.none(), st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=64)
    ),
    when=st.floats(min_value=0, max_value=4e9),
)
def test_every_exchange_makes_one_line_of_json_that_gives_the_bodies_back(
    request, response, content_type, inference_id, when
):
    exchange = Exchange("V", when, request, content_type, response, "text/csv", inference_id)
    record = record_of(exchange)
    check_record(record)
    sides = record["captureData"]
    assert sides["endpointInput"]["observedContentType"] == content_type
    assert decoded(sides["endpointInput"]) == request and decoded(sides["endpointOutput"]) == response
    assert record["eventMetadata"].get("inferenceId") == inference_id
    assert record["eventMetadata"]["inferenceTime"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


def test_files_are_rotated_per_hour_and_per_variant(tmp_path):
    writer = CaptureWriter(tmp_path, 100, seed=0)
    hour = 1_764_572_400.0  # 2025-12-01T07:00:00Z
    for offset, variant in [(10, "A"), (3599, "A"), (3600, "A"), (3700, "B")]:
        assert writer.offer(
            Exchange(variant, hour + offset, b"{}", "application/json", b"{}", "application/json", None)
        )
    writer.close()
    files = sorted(p.relative_to(tmp_path).parent.as_posix() for p in tmp_path.rglob("*.jsonl"))
    assert files == ["A/2025/12/01/07", "A/2025/12/01/08", "B/2025/12/01/08"]
    assert [len(records(tmp_path / folder)) for folder in files] == [2, 1, 1]
    (first,) = (tmp_path / "A/2025/12/01/07").iterdir()
    assert first.name.startswith("00-10-000-")  # named for the minute, second and ms it was started


def test_an_unwritable_destination_drops_records_with_one_message(tmp_path, capsys):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    writer = CaptureWriter(blocked, 100)
    for _ in range(3):
        writer.offer(Exchange("A", time.time(), b"{}", "application/json", b"{}", "application/json", None))
    writer.close()
    assert writer.describe()["dropped"] == 3 and writer.describe()["captured"] == {}
    assert capsys.readouterr().err.count("data capture: cannot write under") == 1


# ---------------------------------------------------------------------------------------------- sampling


@pytest.mark.parametrize("percentage", [0, 30, 100])
def test_the_sampling_percentage_holds(make_project, percentage):
    requests = 600
    counts = []
    for attempt in range(2):  # the same seed samples the same requests
        project = make_project(deployment(percentage), name=f"p{percentage}-{attempt}")
        endpoint = load(project, seed=11)
        try:
            for i in range(requests):
                body = json.dumps({"instances": [POSITIVE[i % 3]]}).encode()
                assert endpoint.invoke(body, "application/json", "application/json").status == 200
        finally:
            endpoint.close()
        counts.append(len(records(capture_root(project) / ENDPOINT_NAME / "Current")))
    assert counts[0] == counts[1]
    if percentage in (0, 100):
        assert counts[0] == requests * percentage // 100
    else:
        assert counts[0] / requests == pytest.approx(percentage / 100, abs=0.05)
    if percentage == 0:
        assert not list(capture_root(project).rglob("*.jsonl"))


def test_without_data_capture_nothing_is_written(make_project):
    project = make_project(PRODUCTION_ONLY)
    endpoint = load(project, seed=7)
    try:
        assert (
            endpoint.invoke(b'{"instances": ["nice"]}', "application/json", "application/json").status == 200
        )
    finally:
        endpoint.close()
    assert endpoint.describe()["data_capture"] == {"enabled": False}
    assert not capture_root(project).exists()


# ---------------------------------------------------------------------------------------------- inference id


@pytest.mark.parametrize("inference_id", ["", " leading space", "x" * 65, "tab\there", "café", "del\x7f"])
def test_an_inference_id_invoke_endpoint_refuses_is_a_400(make_project, inference_id):
    project = make_project(deployment(100))
    endpoint = load(project, seed=7)
    try:
        response = endpoint.invoke(
            b'{"instances": ["nice"]}', "application/json", "application/json", None, inference_id
        )
        assert response.status == 400 and "Inference-Id" in json.loads(response.body)["error"]
        assert endpoint.describe()["variants"][0]["invocations"] == 0
        assert (
            endpoint.invoke(b'{"instances": ["nice"]}', "application/json", "*/*", None, "x" * 64).status
            == 200
        )
    finally:
        endpoint.close()
    assert [r["eventMetadata"]["inferenceId"] for _, r in records(capture_root(project))] == ["x" * 64]


# ---------------------------------------------------------------------------------------------- shutdown


def test_sigterm_writes_every_pending_record_and_the_summary_says_so(make_project):
    project = make_project(deployment(100, shadow=True))
    command = [sys.executable, "-m", "sagespec", "local", "serve", str(project), "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        state = project / STATE_FILE
        deadline = time.monotonic() + 60
        while not state.is_file():
            assert process.poll() is None and time.monotonic() < deadline, process.communicate(timeout=5)
            time.sleep(0.05)
        host, port = json.loads(state.read_text())["url"].removeprefix("http://").rsplit(":", 1)
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        for i in range(198):  # as many positive as negative reviews: the shadow agrees on half
            body = json.dumps({"instances": [(POSITIVE + NEGATIVE)[i % 6]]})
            assert post(connection, body, JSON)[0].status == 200
        process.send_signal(signal.SIGTERM)  # at once: records still pending must be written
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
    assert process.returncode == 0, err
    root = capture_root(project) / ENDPOINT_NAME
    assert len(records(root / "Current")) == 198
    assert len(records(root / "Shadow")) == 198  # the shadow's answers, in a folder of its own
    assert "Shadow" in out and "198 mirrored from Current" in out and "agreement 50.0% of 198 texts" in out
    assert "captured (100% of requests): Current 198, Shadow 198; dropped 0" in out
