"""Shadow variants of the local endpoint: chosen from the registry by their rule, fed a copy of the
production variant's requests, compared and timed, and never answering a client, however slow or broken."""

from __future__ import annotations

import http.client
import json
import threading
import time
import types
from collections.abc import Iterator
from typing import Any

import pytest

from sagespec.serve import shadow as shadow_module
from sagespec.serve.cli import summary_lines
from sagespec.serve.endpoint import Endpoint, Variant
from sagespec.serve.handler import Handler
from sagespec.serve.shadow import Shadow

from .conftest import NEGATIVE, POSITIVE, load, serving

JSON = {"Content-Type": "application/json"}
INVOKED = "X-Amzn-Invoked-Production-Variant"
TARGET = "X-Amzn-SageMaker-Target-Variant"
WITH_SHADOW = """\
  variants: [{name: Current, model: {select: latest-approved}}]
  shadow_variants: [{name: Shadow, model: {select: newest}, initial_weight: %s}]
"""


def post(connection: http.client.HTTPConnection, texts: list[str], headers: dict[str, str] | None = None):
    connection.request("POST", "/invocations", json.dumps({"instances": texts}), {**JSON, **(headers or {})})
    response = connection.getresponse()
    return response, response.read()


def admin(connection: http.client.HTTPConnection) -> dict[str, Any]:
    connection.request("GET", "/admin/variants")
    return json.loads(connection.getresponse().read())


def settle(endpoint: Endpoint, invocations: int, timeout: float = 10) -> dict[str, Any]:
    """The shadow's description once it has answered ``invocations`` copies."""
    (shadow,) = endpoint.shadows.values()
    deadline = time.monotonic() + timeout
    while (described := shadow.describe())["invocations"] < invocations:
        assert time.monotonic() < deadline, described
        time.sleep(0.01)
    return described


# ------------------------------------------------------------------------------- the registry's models


@pytest.fixture
def fasttext_endpoint(make_project) -> Iterator[Endpoint]:
    project = make_project(WITH_SHADOW % 1.0)
    endpoint = load(project, seed=3)
    yield endpoint
    endpoint.close()


def test_the_shadow_serves_the_version_its_rule_picks_and_the_agreement_is_counted_per_text(
    fasttext_endpoint,
):
    endpoint = fasttext_endpoint
    assert (endpoint.variants["Current"].version, endpoint.shadows["Shadow"].version) == (1, 2)
    # What each model predicts, asked directly through the handler: the expected agreement.
    handler = Handler(endpoint.handler)
    texts = POSITIVE + NEGATIVE

    def labels(model: Any, batch: list[str]) -> list[str]:
        answer = handler.answer(
            model, json.dumps({"instances": batch}).encode(), "application/json", "*/*", "t"
        )
        return [p["label"] for p in answer.predictions]

    batches = [texts[:4], texts[4:], texts[1:2], texts]
    expected = sum(
        a == b
        for batch in batches
        for a, b in zip(
            labels(endpoint.variants["Current"].model, batch),
            labels(endpoint.shadows["Shadow"].model, batch),
            strict=True,
        )
    )
    compared = sum(len(batch) for batch in batches)
    assert 0 < expected < compared  # the two models agree on some texts, not on all

    with serving(endpoint) as connection:
        for batch in batches:
            response, body = post(connection, batch)
            assert response.status == 200 and response.getheader(INVOKED) == "Current"
            assert [p["label"] for p in json.loads(body)["predictions"]] == labels(
                endpoint.variants["Current"].model, batch
            )
        described = settle(endpoint, len(batches))
        assert described["agreement"] == {
            "requests_compared": len(batches),
            "texts_compared": compared,
            "texts_agreed": expected,
            "rate": round(expected / compared, 4),
        }
        shown = admin(connection)
    (listed,) = shown["shadow_variants"]
    assert listed["name"] == "Shadow" and listed["source_variant"] == "Current"
    assert (listed["version"], listed["approval_status"], listed["sampling_percent"]) == (
        2,
        "PendingManualApproval",
        100,
    )
    assert listed["mirrored"] == listed["invocations"] == len(batches) and listed["dropped"] == 0
    assert listed["errors"] == {"4xx": 0, "5xx": 0} and listed["latency_ms"]["p99"] > 0
    assert listed["agreement"]["rate"] == round(expected / compared, 4)
    assert [v["name"] for v in shown["variants"]] == ["Current"]  # the shadow is no production variant
    assert shown["variants"][0]["invocations"] == len(batches)
    summary = "\n".join(summary_lines(shown))
    assert f"Shadow                  {len(batches)} mirrored from Current (0 dropped)" in summary
    assert f"agreement {100 * expected / compared:.1f}% of {compared} texts" in summary


def test_a_target_variant_header_naming_the_shadow_is_refused(fasttext_endpoint):
    with serving(fasttext_endpoint) as connection:
        response, body = post(connection, ["nice"], {TARGET: "Shadow"})
        assert response.status == 400 and response.getheader(INVOKED) is None
        assert "'Shadow' is a shadow variant" in json.loads(body)["error"]
        response, _ = post(connection, ["nice"], {TARGET: "Current"})
        assert response.status == 200 and response.getheader(INVOKED) == "Current"
        settle(fasttext_endpoint, 1)  # a request targeted at production is still copied
    assert fasttext_endpoint.describe()["variants"][0]["invocations"] == 1


def test_the_sampling_percent_is_the_shadows_weight_over_productions(make_project):
    project = make_project(WITH_SHADOW % 0.25)
    endpoint = load(project, seed=5)
    try:
        for _ in range(800):
            assert endpoint.invoke(b'{"instances": ["nice"]}', "application/json", "*/*").status == 200
        mirrored = endpoint.shadows["Shadow"].describe()["mirrored"]
    finally:
        endpoint.close()
    assert endpoint.shadows["Shadow"].sampling_percent == 25
    assert mirrored / 800 == pytest.approx(0.25, abs=0.05)


# ------------------------------------------------------------------------------- a shadow that misbehaves


class StandIn:
    """A handler whose model is a dict: its label for every text, a delay, or an error to raise."""

    def __init__(self) -> None:
        self.module = types.ModuleType("stand_in_inference")
        self.module.input_fn = lambda body, content_type: json.loads(body)["instances"]
        self.module.predict_fn = self.predict
        self.module.output_fn = lambda predictions, accept: json.dumps({"predictions": predictions})
        self.release = threading.Event()
        self.entered = threading.Event()  # a blocking model is computing

    def predict(self, texts: list[str], model: dict) -> list[dict]:
        if model.get("block"):
            self.entered.set()
            self.release.wait(10)
        if "raise" in model:
            raise model["raise"]
        return [{"label": model["label"]} for _ in texts]


@pytest.fixture
def stand_in() -> StandIn:
    return StandIn()


def stand_in_endpoint(stand_in: StandIn, shadow_model: dict) -> Endpoint:
    shadow = Shadow(
        "Shadow", "Current", 100, 2, "PendingManualApproval", shadow_model, Handler(stand_in.module)
    )
    return Endpoint(
        stand_in.module, [Variant("Current", 1, "Approved", {"label": "pos"})], {"Current": 1}, 0, [shadow]
    )


@pytest.mark.parametrize(
    "shadow_model",
    [
        {"label": "neg"},
        {"raise": RuntimeError("shadow broke")},
        {"raise": ValueError("bad")},
        {"block": True, "label": "pos"},
    ],
    ids=["disagrees", "raises", "refuses", "slow"],
)
def test_the_shadow_never_answers_a_client(stand_in, shadow_model):
    endpoint = stand_in_endpoint(stand_in, shadow_model)
    try:
        with serving(endpoint) as connection:
            for _ in range(5):
                started = time.perf_counter()
                response, body = post(connection, ["a", "b"])
                assert time.perf_counter() - started < 2  # a blocked shadow delays no answer
                assert response.status == 200 and response.getheader(INVOKED) == "Current"
                assert json.loads(body) == {"predictions": [{"label": "pos"}, {"label": "pos"}]}
            stand_in.release.set()
            described = settle(endpoint, 5)
    finally:
        endpoint.close()
    production = endpoint.describe()["variants"][0]
    assert production["invocations"] == 5 and production["errors"] == {"4xx": 0, "5xx": 0}
    assert described["mirrored"] == 5
    if "raise" in shadow_model:
        status = "4xx" if isinstance(shadow_model["raise"], ValueError) else "5xx"
        assert described["errors"][status] == 5 and described["agreement"]["texts_compared"] == 0
    else:
        assert described["errors"] == {"4xx": 0, "5xx": 0}
        assert described["agreement"]["texts_compared"] == 10
        assert described["agreement"]["rate"] == (0.0 if shadow_model.get("label") == "neg" else 1.0)


def test_a_shadow_slower_than_the_traffic_drops_copies_beyond_its_backlog(stand_in, monkeypatch):
    monkeypatch.setattr(shadow_module, "MAX_BACKLOG", 3)
    endpoint = stand_in_endpoint(stand_in, {"label": "pos", "block": True})
    try:
        for i in range(10):
            assert endpoint.invoke(b'{"instances": ["a"]}', "application/json", "*/*").status == 200
            if i == 0:
                assert stand_in.entered.wait(5)
        shadow = endpoint.shadows["Shadow"]
        # One copy is running (blocked), three wait, six found the backlog full.
        assert shadow.describe()["mirrored"] == 10 and shadow.describe()["dropped"] == 6
        stand_in.release.set()
        described = settle(endpoint, 4)
    finally:
        endpoint.close()
    assert described["invocations"] == 4 and described["agreement"]["rate"] == 1.0


def test_stopping_drops_what_a_stuck_shadow_cannot_answer_in_time(stand_in):
    endpoint = stand_in_endpoint(stand_in, {"label": "pos", "block": True})
    for i in range(4):
        endpoint.invoke(b'{"instances": ["a"]}', "application/json", "*/*")
        if i == 0:
            assert stand_in.entered.wait(5)
    shadow = endpoint.shadows["Shadow"]
    started = time.perf_counter()
    releaser = threading.Timer(0.3, stand_in.release.set)  # the running copy ends after the deadline
    releaser.start()
    shadow.close(drain_seconds=0.1)
    releaser.join()
    assert time.perf_counter() - started < 3
    endpoint.close()
    described = shadow.describe()
    assert described["mirrored"] == 4 and described["invocations"] == 1 and described["dropped"] == 3
