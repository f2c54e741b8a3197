"""The local endpoint's ASGI server: where handlers run, how connections end, what each answer costs.

The endpoint here serves a stand-in handler module (no model library needed), so each test can make
its model quick or slow and see which thread calls it.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import types
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sagespec.serve.endpoint import INLINE_LIMIT_S, MAX_JSON_DEPTH, Endpoint, Variant, check_json_body
from sagespec.serve.listener import EndpointServer, start_in_thread

SERVER_THREAD = "sagespec-endpoint"  # the thread start_in_thread serves on: the event loop's


class StandIn:
    """A handler whose predict_fn takes ``delay`` seconds and notes the thread that called it."""

    def __init__(self) -> None:
        self.delay = 0.0
        self.threads: list[str] = []
        self.module = types.ModuleType("stand_in_inference")
        self.module.input_fn = lambda body, content_type: json.loads(body)["instances"]
        self.module.predict_fn = self.predict
        self.module.output_fn = lambda predictions, accept: json.dumps({"predictions": predictions})

    def predict(self, texts: list[str], model: Any) -> list[str]:
        self.threads.append(threading.current_thread().name)
        time.sleep(self.delay)
        return [text.upper() for text in texts]


@pytest.fixture
def stand_in() -> StandIn:
    return StandIn()


@pytest.fixture
def server(stand_in: StandIn) -> Iterator[EndpointServer]:
    endpoint = Endpoint(stand_in.module, [Variant("Only", 1, "Approved", model=None)], {"Only": 1}, seed=0)
    srv = EndpointServer(("127.0.0.1", 0), endpoint)
    start_in_thread(srv)
    yield srv
    srv.shutdown()
    srv.server_close()


def _connection(server: EndpointServer) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(*server.server_address[:2], timeout=10)


def _invoke(connection: http.client.HTTPConnection, text: str = "nice") -> dict:
    body = json.dumps({"instances": [text]})
    connection.request("POST", "/invocations", body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    assert response.status == 200
    return json.loads(response.read())


def test_a_quick_model_is_called_on_the_event_loop(server, stand_in):
    connection = _connection(server)
    for _ in range(20):
        assert _invoke(connection) == {"predictions": ["NICE"]}
    assert set(stand_in.threads) == {SERVER_THREAD}  # no thread hop: it would cost more than the call
    assert server.endpoint.quick()


def test_a_slow_model_moves_to_worker_threads_and_ping_keeps_answering(server, stand_in):
    stand_in.delay = 10 * INLINE_LIMIT_S
    connection = _connection(server)
    while server.endpoint.quick():  # its typical latency climbs past the limit within a few requests
        _invoke(connection)
    called_before = len(stand_in.threads)
    stand_in.delay = 1.0
    slow = threading.Thread(target=_invoke, args=(_connection(server),))
    slow.start()
    while len(stand_in.threads) == called_before:  # the slow request is being computed
        time.sleep(0.01)
    started = time.perf_counter()
    ping = _connection(server)
    ping.request("GET", "/ping")
    assert ping.getresponse().status == 200
    assert time.perf_counter() - started < 0.5  # answered while the model computes
    slow.join()
    assert stand_in.threads[-1] != SERVER_THREAD


def test_keep_alive_answers_are_not_held_back_by_delayed_acks(server):
    # With Nagle's algorithm on, an answer written in two parts waits for the client's delayed ACK
    # (40 ms on Linux) before its second part leaves.
    connection = _connection(server)
    _invoke(connection)
    timings = []
    for _ in range(30):
        started = time.perf_counter()
        _invoke(connection)
        timings.append(time.perf_counter() - started)
    assert sorted(timings)[len(timings) // 2] < 0.02


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_are_refused_with_405(server, method):
    connection = _connection(server)
    connection.request(method, "/invocations", body=b"{}", headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    assert response.status == 405 and method in json.loads(response.read())["error"]


def test_a_refused_upload_still_gets_its_answer_while_the_client_keeps_sending(server):
    """413 is answered before the body is read; the server then reads and drops what the client still
    sends instead of resetting the connection, which could destroy the answer before it is read."""
    head = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {7 * 1024 * 1024}\r\n\r\n".encode()
    with socket.create_connection(server.server_address[:2], timeout=30) as sock:
        sock.sendall(head)
        sock.sendall(b"x" * (2 * 1024 * 1024))
        sock.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(sock)
        response.begin()
        assert response.status == 413 and "exceeds" in json.loads(response.read())["error"]


# ------------------------------------------------------------------------------------- JSON body checks


def _walked(body: bytes) -> None:
    """The check as it was before its shortcut: parse, then walk every value of the document."""
    document = json.loads(body.decode("utf-8"))
    pending = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
                raise ValueError("surrogate")
        elif isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise ValueError("deep")
            items = [*value, *value.values()] if isinstance(value, dict) else value
            pending.extend((item, depth + 1) for item in items)


TEXT = st.text(st.sampled_from(["a", "é", "\\", "u", "\ud800", "\udfff", "\U0001f600", '"']), max_size=4)
DOCUMENTS = st.recursive(
    st.one_of(TEXT, st.integers(), st.none()),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)),
    max_leaves=60,
)


def _nested(depth: int, leaf: object) -> object:
    for _ in range(depth):
        leaf = [leaf]
    return leaf


@settings(max_examples=400, deadline=None)
@given(
    document=st.one_of(
        DOCUMENTS, st.builds(_nested, st.integers(MAX_JSON_DEPTH - 3, MAX_JSON_DEPTH + 3), DOCUMENTS)
    ),
    ascii_only=st.booleans(),
)
def test_the_json_check_refuses_exactly_what_a_full_walk_refuses(document, ascii_only):
    body = json.dumps(document, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    try:
        _walked(body)
    except (ValueError, RecursionError):
        with pytest.raises(ValueError):
            check_json_body(body)
    else:
        check_json_body(body)
