"""`sagespec local serve`: the generated inference handler serving two variants from a local registry.

The project holds what `serve` reads: spec.yaml and pipelines/<pkg>/inference.py, the template's
handler file as `sagespec new` writes it (it is copied, not rendered). The registry is written by hand
(two tiny fastText models, version 1 approved, version 2 pending), so no pipeline run is needed.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sagespec.cli import main
from sagespec.deployment import ModelSelection
from sagespec.serve.cli import STATE_FILE
from sagespec.serve.endpoint import Router, ServeError, load_endpoint, select_version
from sagespec.serve.listener import EndpointServer, start_in_thread
from sagespec.serve.server import _is_loopback
from sagespec.spec import load_spec

from .conftest import register, write_project

fasttext = pytest.importorskip("fasttext")

GROUP = "tiny-endpoint-models"
SPEC = """\
spec_version: 1
project: {name: Tiny endpoint, slug: tiny-endpoint}
dataset:
  source: reviews.csv
  text_column: Review Text
  label_column: Rating
  label_mapping: {1: neg, 2: neg, 4: pos, 5: pos}
model: {type: blazingtext}
bias: {enabled: false}
registry: {model_package_group: tiny-endpoint-models}
deployment:
  variants:
    - {name: Current, model: {select: latest-approved}, initial_weight: 3}
    - {name: Challenger, model: {select: newest}, initial_weight: 1}
"""
TRAIN = {
    "pos": ["great dress love it", "lovely fit and soft", "perfect and beautiful"],
    "neg": ["terrible fit awful", "cheap fabric returned it", "too small and ugly"],
}
JSON = {"Content-Type": "application/json"}
TARGET = "X-Amzn-SageMaker-Target-Variant"


def _register(registry: Path, work: Path, status: str, epochs: int) -> None:
    register(
        registry,
        work,
        group=GROUP,
        lines=[f"__label__{label} {text}\n" for label, texts in TRAIN.items() for text in texts],
        status=status,
        run_id=f"run-{epochs}",
        epochs=epochs,
        evaluation={"epochs": epochs},
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("serve")
    root = folder / "project"
    write_project(root, "tiny_endpoint", SPEC)
    registry = root / ".sagespec-runs" / "registry"
    _register(registry, folder, "Approved", epochs=20)  # version 1: what Current serves
    _register(registry, folder, "PendingManualApproval", epochs=2)  # version 2: Challenger's
    return root


@pytest.fixture
def server(project: Path) -> Iterator[EndpointServer]:
    endpoint = load_endpoint(project, load_spec(project / "spec.yaml").spec, seed=1, out=io.StringIO())
    srv = EndpointServer(("127.0.0.1", 0), endpoint)
    start_in_thread(srv)
    yield srv
    srv.shutdown()
    srv.server_close()
    endpoint.close()


class Client:
    """One keep-alive connection, as a model client would hold."""

    def __init__(self, server: EndpointServer) -> None:
        self.connection = http.client.HTTPConnection(*server.server_address[:2], timeout=10)

    def request(self, method: str, path: str, body: object = None, headers: dict[str, str] | None = None):
        data = body if isinstance(body, bytes | str) or body is None else json.dumps(body)
        self.connection.request(method, path, body=data, headers=headers or {})
        response = self.connection.getresponse()
        return response, response.read()

    def invoke(self, texts: list[str], headers: dict[str, str] | None = None) -> tuple[str, dict]:
        response, body = self.request(
            "POST", "/invocations", {"instances": texts}, {**JSON, **(headers or {})}
        )
        assert response.status == 200, body
        return response.getheader("X-Amzn-Invoked-Production-Variant"), json.loads(body)


def test_ping_and_predictions_through_the_projects_handler(server):
    client = Client(server)
    response, _ = client.request("GET", "/ping")
    assert response.status == 200
    _, answer = client.invoke(["What a GREAT dress, I love it!", "Terrible fit; awful."])
    first, second = answer["predictions"]
    assert first["label"] == "pos" and second["label"] == "neg"
    for prediction in (first, second):
        assert set(prediction["probabilities"]) == {"pos", "neg"}
        assert sum(prediction["probabilities"].values()) == pytest.approx(1, abs=1e-3)
    # text/csv: one text per line, quoted where it holds commas.
    response, body = client.request(
        "POST", "/invocations", 'love it, lovely\n"too small, awful"\n', {"Content-Type": "text/csv"}
    )
    assert response.status == 200
    assert [p["label"] for p in json.loads(body)["predictions"]] == ["pos", "neg"]


def test_each_variant_serves_the_version_its_rule_picks(server):
    variants = {v["name"]: v for v in server.endpoint.describe()["variants"]}
    assert (variants["Current"]["version"], variants["Current"]["approval_status"]) == (1, "Approved")
    assert (variants["Challenger"]["version"], variants["Challenger"]["approval_status"]) == (
        2,
        "PendingManualApproval",
    )


def test_requests_are_routed_by_weight_and_counted(server):
    client = Client(server)
    counts = Counter(client.invoke(["nice"])[0] for _ in range(1200))
    assert set(counts) == {"Current", "Challenger"}
    assert counts["Current"] / 1200 == pytest.approx(0.75, abs=0.05)  # weights 3 : 1
    stats = {v["name"]: v for v in server.endpoint.describe()["variants"]}
    assert stats["Current"]["invocations"] == counts["Current"]
    assert stats["Challenger"]["invocations"] == counts["Challenger"]
    assert stats["Current"]["latency_ms"]["p50"] > 0


def test_the_target_variant_header_overrides_the_weights(server):
    client = Client(server)
    target = {"X-Amzn-SageMaker-Target-Variant": "Challenger"}
    assert {client.invoke(["nice"], target)[0] for _ in range(50)} == {"Challenger"}
    response, body = client.request(
        "POST", "/invocations", {"instances": ["x"]}, {**JSON, "X-Amzn-SageMaker-Target-Variant": "Nope"}
    )
    assert response.status == 400 and "Nope" in json.loads(body)["error"]


def test_shift_changes_weights_live(server, project, capsys):
    client = Client(server)
    response, body = client.request("POST", "/admin/weights", {"Current": 0})
    assert response.status == 200, body
    assert {client.invoke(["nice"])[0] for _ in range(100)} == {"Challenger"}

    # The CLI finds the running endpoint through the state file `serve` writes.
    state = project / STATE_FILE
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(json.dumps({"url": server.url}))
    try:
        assert main(["local", "shift", str(project), "Current=1", "Challenger=0"]) == 0
    finally:
        state.unlink()
    assert "Challenger       weight 0 (0%)" in capsys.readouterr().out
    assert {client.invoke(["nice"])[0] for _ in range(100)} == {"Current"}

    for bad in ({"Nope": 1}, {"Current": -1}, {"Current": 0, "Challenger": 0}, ["Current"]):
        response, _ = client.request("POST", "/admin/weights", bad)
        assert response.status == 400, bad
    assert server.endpoint.router.weights == {"Current": 1.0, "Challenger": 0.0}


def test_bad_requests(server):
    client = Client(server)
    response, body = client.request("POST", "/invocations", b"<xml/>", {"Content-Type": "application/xml"})
    assert response.status == 415 and "application/xml" in json.loads(body)["error"]
    response, body = client.request("POST", "/invocations", b"{not json", JSON)
    assert response.status == 400 and "JSON" in json.loads(body)["error"]
    response, body = client.request("POST", "/invocations", {"text": "no instances"}, JSON)
    assert response.status == 400
    response, _ = client.request("GET", "/nowhere")
    assert response.status == 404
    errors = {v["name"]: v["errors"]["4xx"] for v in server.endpoint.describe()["variants"]}
    assert sum(errors.values()) == 3  # counted against the variant that got the request
    assert client.invoke(["still serving"])[0]  # the connection stays usable


def test_selection_rules_against_the_registry(project, tmp_path):
    registry = project / ".sagespec-runs" / "registry"
    assert select_version(registry, GROUP, "V", ModelSelection("version", 2)).version == 2
    with pytest.raises(ServeError, match="no version 7"):
        select_version(registry, GROUP, "V", ModelSelection("version", 7))
    with pytest.raises(ServeError, match="no model registered"):
        select_version(tmp_path, GROUP, "V", ModelSelection("newest"))
    # Without an approved version, latest-approved serves the newest and says so.
    pending = tmp_path / "registry"
    (pending / GROUP).mkdir(parents=True)
    for version in (1, 2):
        (pending / GROUP / str(version)).mkdir()
        document = {"ModelApprovalStatus": "PendingManualApproval"}
        (pending / GROUP / str(version) / "model-package.json").write_text(json.dumps(document))
    chosen = select_version(pending, GROUP, "V", ModelSelection("latest-approved"))
    assert chosen.version == 2 and "none is approved" in chosen.note


def test_router_weights_and_loopback_rule():
    router = Router({"A": 1, "B": 0}, seed=3)
    assert {router.choose() for _ in range(200)} == {"A"}
    router.set_weights({"B": 1})
    assert Counter(router.choose() for _ in range(4000))["A"] / 4000 == pytest.approx(0.5, abs=0.04)
    with pytest.raises(ValueError, match="above 0"):
        router.set_weights({"A": 0, "B": 0})
    assert _is_loopback("127.0.0.1") and _is_loopback("::1")
    assert not _is_loopback("10.0.0.5") and not _is_loopback("example.org")


def test_serve_refuses_a_project_without_the_handler(project, tmp_path):
    spec = load_spec(project / "spec.yaml").spec
    with pytest.raises(ServeError, match="inference.py does not exist"):
        load_endpoint(tmp_path, spec, out=io.StringIO())
    with contextlib.redirect_stderr(io.StringIO()) as err:
        assert main(["local", "shift", str(tmp_path), "Current=1"]) == 2
    assert "no local endpoint is running" in err.getvalue()


@contextlib.contextmanager
def serve_process(
    project: Path, sigint: signal.Handlers = signal.SIG_DFL
) -> Iterator[tuple[subprocess.Popen, str]]:
    """`sagespec local serve` as a process of its own, and the URL it recorded; killed if still alive.

    ``sigint`` is SIGINT's disposition in the child: SIG_DFL (a terminal's Ctrl-C reaches it), or
    SIG_IGN (what a background job of a non-interactive shell inherits), whatever the test runner has.
    """
    command = [sys.executable, "-m", "sagespec", "local", "serve", str(project), "--port", "0"]
    scratch = project.parent / "serve-tmp"  # what a killed server cannot remove stays in the test's folder
    scratch.mkdir(exist_ok=True)
    process = subprocess.Popen(
        command,
        env={**os.environ, "TMPDIR": str(scratch)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, sigint),
    )
    state = project / STATE_FILE
    try:
        deadline = time.monotonic() + 60
        record: dict = {}
        while record.get("pid") != process.pid:
            assert process.poll() is None and time.monotonic() < deadline, process.communicate(timeout=5)
            time.sleep(0.05)
            with contextlib.suppress(OSError, ValueError):
                record = json.loads(state.read_text())
        yield process, record["url"]
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)


def _ping(url: str) -> int:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request("GET", "/ping")
    return connection.getresponse().status


@pytest.mark.parametrize(
    ("stop", "sigint"),
    [
        (signal.SIGTERM, signal.SIG_DFL),
        (signal.SIGTERM, signal.SIG_IGN),  # started in the background by a non-interactive shell
        (signal.SIGINT, signal.SIG_DFL),  # Ctrl-C in a terminal
    ],
    ids=["SIGTERM", "SIGTERM-with-SIGINT-ignored", "SIGINT"],
)
def test_the_serve_command_records_its_url_and_stops_cleanly(project, stop, sigint):
    with serve_process(project, sigint) as (process, url):
        assert _ping(url) == 200
        assert main(["local", "shift", str(project), "Challenger=0"]) == 0
        process.send_signal(stop)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert not (project / STATE_FILE).exists()
    assert "Current" in out and "version 1 (Approved, rule latest-approved)" in out
    assert "invocations" in out  # the summary printed on the way out
    assert "Traceback" not in err


def test_shift_against_a_killed_server_is_a_one_line_error(project, capsys):
    with serve_process(project) as (process, url):
        process.kill()  # SIGKILL: no clean-up runs, the record stays behind
        process.communicate(timeout=10)
    assert (project / STATE_FILE).is_file()
    try:
        assert main(["local", "shift", str(project), "Challenger=0"]) == 2
        err = capsys.readouterr().err
        assert err == f"error: no local endpoint is running at {url}; start one with `sagespec local serve`\n"
        # A later `serve` replaces the stale record, and removes it when it stops.
        with serve_process(project) as (process, url):
            assert main(["local", "shift", str(project), "Challenger=1"]) == 0
            process.terminate()
            process.communicate(timeout=20)
        assert process.returncode == 0 and not (project / STATE_FILE).exists()
    finally:
        (project / STATE_FILE).unlink(missing_ok=True)


def test_shift_with_an_unreadable_record_or_url(project, capsys):
    state = project / STATE_FILE
    state.parent.mkdir(parents=True, exist_ok=True)
    try:
        state.write_text("{half")
        assert main(["local", "shift", str(project), "Challenger=0"]) == 2
        assert "is not a record" in capsys.readouterr().err
    finally:
        state.unlink()
    assert main(["local", "shift", str(project), "Challenger=0", "--url", "localhost:1"]) == 2
    assert "not an http:// URL" in capsys.readouterr().err


# ------------------------------------------------------------------------------- weights and hostile input

WEIGHT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True),
    st.sampled_from([0, 0.0, -0.0, 5e-324, 1e-320, 1e308, 1.7976931348623157e308, 10**400, -1]),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.booleans(),
    st.none(),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
)
WEIGHTS = st.dictionaries(st.sampled_from(["Current", "Challenger"]), WEIGHT, min_size=1)


@settings(max_examples=500, deadline=None)
@given(WEIGHTS)
def test_the_router_refuses_weights_or_routes_every_draw_to_a_variant_with_traffic(weights):
    router = Router({"Current": 3, "Challenger": 1}, seed=0)
    before = router.weights
    try:
        router.set_weights(weights)
    except ValueError:
        assert router.weights == before  # a refused change changes nothing
        return
    shares = router.shares
    assert sum(shares.values()) == pytest.approx(1)
    drawn = Counter(router.choose() for _ in range(300))
    assert set(drawn) <= {name for name, share in shares.items() if share > 0}


def test_subnormal_and_boolean_weights(server):
    client = Client(server)
    try:
        # 5e-324 beside 0 used to put every other draw past the end of the table (an IndexError, no answer).
        response, body = client.request(
            "POST", "/admin/weights", b'{"Current": 5e-324, "Challenger": 0}', JSON
        )
        assert response.status == 200, body
        assert {client.invoke(["nice"])[0] for _ in range(200)} == {"Current"}
        for bad in (b'{"Current": true}', b'{"Current": NaN}', b'{"Current": 1e400}', b'{"Current": "1"}'):
            response, body = client.request("POST", "/admin/weights", bad, JSON)
            assert response.status == 400 and "finite numbers" in json.loads(body)["error"], bad
        response, body = client.request(
            "POST", "/admin/weights", b'{"Current": 1e308, "Challenger": 5e-324}', JSON
        )
        assert response.status == 400 and "too small" in json.loads(body)["error"]
        stats = {v["name"]: v for v in server.endpoint.describe()["variants"]}
        assert stats["Current"]["invocations"] + stats["Challenger"]["invocations"] == 200  # all counted
    finally:
        server.endpoint.router.set_weights({"Current": 3, "Challenger": 1})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(weights=WEIGHTS)
def test_weights_over_http_are_refused_or_every_request_is_answered(server, weights):
    client = Client(server)
    try:
        response, body = client.request("POST", "/admin/weights", json.dumps(weights), JSON)
        assert response.status in (200, 400), body
        for _ in range(20):
            variant, answer = client.invoke(["nice"])
            assert variant in ("Current", "Challenger") and answer["predictions"]
    finally:
        server.endpoint.router.set_weights({"Current": 3, "Challenger": 1})


def _raw_request(server: EndpointServer, request: bytes) -> int:
    """Send bytes as they are, stop sending, and return the status of the answer (an answer must come)."""
    with socket.create_connection(server.server_address[:2], timeout=30) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(sock)
        response.begin()  # RemoteDisconnected here: the server dropped the request without an answer
        response.read()
        return response.status


def _wire(head: str) -> bytes:
    """Header text as bytes: Latin-1, as HTTP reads headers, where it can be; UTF-8 otherwise."""
    try:
        return head.encode("latin-1")
    except UnicodeEncodeError:
        return head.encode("utf-8")


def _deeply_nested(depth: int) -> bytes:
    return b'{"instances": ' + b"[" * depth + b'"x"' + b"]" * depth + b"}"


HEADER_TEXT = st.text(st.characters(max_codepoint=255, exclude_characters="\r\n"), max_size=30)
BODIES = st.one_of(
    st.binary(max_size=200),
    st.builds(
        lambda texts: json.dumps({"instances": texts}).encode(), st.lists(st.text(max_size=30), max_size=5)
    ),
    st.sampled_from(
        [
            b'{"instances": ["\\ud800"]}',
            b'{"instances": ["ok", "\\udfff tail"]}',
            b'{"\\ud800": 1}',
            b'{"instances": ["\xed\xa0\x80"]}',  # a surrogate encoded as UTF-8: not UTF-8
            _deeply_nested(100_000),
            _deeply_nested(40),
            b'{"instances": ' + b"9" * 5000 + b"}",
            b"[" * 10,
        ]
    ),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(["/invocations", "/admin/weights", "/ping", "/nowhere"]),
    body=BODIES,
    content_type=st.one_of(
        st.sampled_from(["application/json", "text/csv", "application/json; charset=utf-8"]), HEADER_TEXT
    ),
    length=st.one_of(
        st.just("exact"),
        st.none(),
        HEADER_TEXT,
        st.sampled_from(
            ["-1", "+3", "1e3", "0x10", "٣", "²", "99999999999999999999", "7" * 5000, " 3 ", "exact,exact"]
        ),
        st.integers(min_value=0, max_value=300).map(str),
    ),
    extra=st.lists(
        st.tuples(st.sampled_from(["Accept", "Transfer-Encoding", TARGET, "Expect", "X-Other"]), HEADER_TEXT),
        max_size=3,
    ),
)
def test_hostile_requests_get_an_answer_and_never_a_5xx(server, path, body, content_type, length, extra):
    headers = [("Content-Type", content_type)]
    if length is not None:
        for value in length.split(","):
            headers.append(("Content-Length", str(len(body)) if value == "exact" else value))
    headers += [(name, value) for name, value in extra if (name, value) != ("Expect", "100-continue")]
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers)
    status = _raw_request(server, _wire(head) + b"\r\n" + body)
    assert 200 <= status < 500


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        (b'{"instances": ["\\ud800"]}', 400, "surrogate"),
        (_deeply_nested(100_000), 400, "nested deeper"),
        (_deeply_nested(40), 400, "nested deeper"),
        (b'{"instances": ["\xed\xa0\x80"]}', 400, "not UTF-8"),
    ],
)
def test_json_bodies_the_handler_cannot_take_are_the_callers_error(server, body, status, fragment):
    response, answer = Client(server).request("POST", "/invocations", body, JSON)
    assert response.status == status and fragment in json.loads(answer)["error"]


@pytest.mark.parametrize(
    ("length", "status"),
    [("abc", 400), ("²", 400), ("-1", 400), ("7" * 5000, 400), (str(7 * 1024 * 1024), 413), (None, 411)],
)
def test_a_bad_content_length_is_answered(server, length, status):
    head = "POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    if length is not None:
        head += f"Content-Length: {length}\r\n"
    assert _raw_request(server, _wire(head) + b"\r\n{}") == status


def test_a_missing_model_library_is_one_line(project, monkeypatch):
    monkeypatch.setitem(sys.modules, "fasttext", None)  # as if fastText were not installed
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
        assert main(["local", "serve", str(project), "--port", "0"]) == 2
    assert err.getvalue().startswith(
        "error: model_fn loading tiny-endpoint-models version 1 needs the Python "
    )
    assert "'fasttext' (package fasttext-wheel)" in err.getvalue() and len(err.getvalue().splitlines()) == 1
    assert not (project / STATE_FILE).exists()


def test_a_handler_answering_body_and_content_type_is_still_served(project, tmp_path):
    """Projects generated before output_fn answered the body alone return (body, content type)."""
    earlier = Path(shutil.copytree(project, tmp_path / "earlier"))
    handler = earlier / "pipelines" / "tiny_endpoint" / "inference.py"
    with handler.open("a") as f:
        f.write(
            "\n\ndef output_fn(predictions, accept=JSON):\n"
            '    return json.dumps({"predictions": predictions}), "application/json; charset=utf-8"\n'
        )
    endpoint = load_endpoint(earlier, load_spec(earlier / "spec.yaml").spec, seed=1, out=io.StringIO())
    try:
        response = endpoint.invoke(b'{"instances": ["great dress"]}', "application/json", "application/json")
    finally:
        endpoint.close()
    assert response.status == 200 and response.content_type == "application/json; charset=utf-8"
    assert json.loads(response.body)["predictions"][0]["label"] in {"pos", "neg"}
