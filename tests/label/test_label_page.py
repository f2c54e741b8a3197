"""The local labeling page: the project's Liquid template per task, answers in A2I's output format."""

from __future__ import annotations

import http.client
import json
import socket
import sys
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest

from sagespec.errors import NotAProjectError

HOSTILE = '<script>document.title = "owned"</script> Runs small & "itchy" {{ 7*7 }} {% if true %}x{% endif %}'


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.target_text = ""
        self._in_target = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_target = self._in_target or tag == "classification-target"

    def handle_endtag(self, tag):
        if tag == "classification-target":
            self._in_target = False

    def handle_data(self, data):
        if self._in_target:
            self.target_text += data


def _parse(page: str) -> _Tags:
    parser = _Tags()
    parser.feed(page)
    return parser


def _answer(label: str) -> dict:
    return {"answerContent": {"crowd-classifier": {"label": label}}}


def _request(url: str, body: object | None = None, **headers: str):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    if data is not None:
        headers.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read().decode()


def test_the_page_renders_the_projects_template_with_the_review_as_text(labeling_project, queue_for, serve):
    queue = queue_for(labeling_project, [HOSTILE])
    server = serve(queue)
    status, headers, page = _request(server.url + f"task/{queue.tasks[0].name}")
    assert status == 200
    parsed = _parse(page)
    assert parsed.target_text == HOSTILE  # shown as text, exactly, with no Liquid evaluated
    assert "<script>document.title" not in page and "&lt;script&gt;document.title" in page
    scripts = [attrs.get("src") for tag, attrs in parsed.tags if tag == "script"]
    assert scripts == ["/crowd-html-elements.js"]  # AWS's loader, pointed at the local stand-ins
    classifier = next(attrs for tag, attrs in parsed.tags if tag == "crowd-classifier")
    assert json.loads(classifier["categories"] or "") == ["Negative", "Neutral", "Positive"]
    assert {"crowd-form", "short-instructions", "full-instructions"} <= {tag for tag, _ in parsed.tags}
    # The template on the page is the project's file: an edit shows on the next load.
    template = queue.project.template_file
    template.write_text(template.read_text().replace("Choose the sentiment", "Pick the mood"))
    assert "Pick the mood" in _request(server.url + f"task/{queue.tasks[0].name}")[2]
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    status, headers, shim = _request(server.url + "crowd-html-elements.js")
    assert status == 200 and "customElements.define" in shim


def test_submit_writes_a2i_output_json_and_points_to_the_next_task(labeling_project, queue_for, serve):
    queue = queue_for(labeling_project, [HOSTILE, "Lovely fabric.", "Too short for me."])
    server = serve(queue)
    first, second = queue.tasks[0], queue.tasks[1]
    status, _, body = _request(server.url)  # "/" sends the reviewer to the first open task
    assert status == 200 and f"task {queue.position(first.name)} of 3" in body

    _request(server.url + f"task/{first.name}")  # opened: the acceptance time
    status, _, body = _request(
        server.url + f"task/{first.name}/submit",
        {"answerContent": {"crowd-classifier": {"label": "Negative"}}},
    )
    assert status == 200, body
    assert json.loads(body)["next"] == f"/task/{second.name}"
    output = json.loads((queue.folder / first.name / "output.json").read_text())
    assert output["humanLoopName"] == first.name
    assert output["flowDefinitionArn"].endswith(":flow-definition/reviews-blazingtext-review")
    assert output["inputContent"]["taskObject"] == HOSTILE
    (answer,) = output["humanAnswers"]
    assert answer["answerContent"] == {"crowd-classifier": {"label": "Negative"}}
    assert answer["acceptanceTime"] <= answer["submissionTime"] and answer["timeSpentInSeconds"] >= 0
    assert answer["submissionTime"].endswith("Z") and answer["workerId"].startswith("local-")
    assert queue.open_count == 2

    for task in queue.tasks[1:]:
        _request(
            server.url + f"task/{task.name}/submit",
            {"answerContent": {"crowd-classifier": {"label": "Neutral"}}},
        )
    status, _, body = _request(server.url)
    assert status == 200 and "All 3 tasks are answered" in body


@pytest.mark.parametrize(
    ("body", "headers", "status", "fragment"),
    [
        ({"answerContent": {"crowd-classifier": {"label": "Great"}}}, {}, 400, "must be one of"),
        ({"answerContent": {}}, {}, 400, "must be one of"),
        ({"answer": 1}, {}, 400, "answerContent"),
        (b"label=Negative", {"Content-Type": "application/x-www-form-urlencoded"}, 415, "application/json"),
        ({"answerContent": {"crowd-classifier": {"label": "Negative"}}}, {"Host": "evil.example"}, 421, ""),
    ],
)
def test_bad_submissions_write_nothing(labeling_project, queue_for, serve, body, headers, status, fragment):
    queue = queue_for(labeling_project, ["Fine."])
    server = serve(queue)
    code, _, text = _request(server.url + f"task/{queue.tasks[0].name}/submit", body, **headers)
    assert (code, fragment in text) == (status, True)
    assert not queue.answered(queue.tasks[0].name)


def test_only_predictions_under_the_threshold_become_tasks(labeling_project, queue_for):
    sure = queue_for(labeling_project, ["Sure of this one."], confidence=0.95)
    assert sure.tasks == [] and sure.about["below_threshold"] == 0
    unsure = queue_for(labeling_project, ["Not sure.", "Not sure.", "Other."], confidence=0.45)
    assert len(unsure.tasks) == 2  # the same text is one human loop, as on AWS


def test_a_folder_without_spec_is_a_clear_error(tmp_path):
    from sagespec.label.project import load_labeling_project

    with pytest.raises(NotAProjectError, match="has no spec.yaml"):
        load_labeling_project(tmp_path)


@pytest.mark.parametrize(
    ("length", "body"),
    [("abc", b"{}"), ("\xb2", b"{}"), ("-1", b"{}"), ("7" * 5000, b"{}"), (None, b"[" * 100_000)],
)
def test_a_malformed_submission_is_answered_400(labeling_project, queue_for, serve, length, body):
    queue = queue_for(labeling_project, ["Fine."])
    server = serve(queue)
    host, port = server.server_address[:2]
    declared = str(len(body)) if length is None else length
    head = (
        f"POST /task/{queue.tasks[0].name}/submit HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
    )
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(head.encode("latin-1") + body)
        response = http.client.HTTPResponse(sock)
        response.begin()  # an answer, not a dropped connection
        assert response.status == 400
    assert not queue.answered(queue.tasks[0].name)


def test_a_missing_liquid_is_named_on_the_page(labeling_project, queue_for, serve, monkeypatch):
    queue = queue_for(labeling_project, ["Fine."])
    server = serve(queue)
    for name in [n for n in sys.modules if n == "liquid" or n.startswith("liquid.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "liquid", None)  # as if python-liquid were not installed
    status, _, page = _request(server.url + f"task/{queue.tasks[0].name}")
    assert status == 500
    assert "'liquid' (package python-liquid)" in page and 'pip install "sagespec[local]"' in page


def test_labeling_off_is_a_clear_error(tmp_path):
    from sagespec.errors import LabelingError
    from sagespec.label.project import load_labeling_project

    spec = Path(__file__).resolve().parents[2] / "specs" / "womens-clothing-bert.yaml"  # no labeling section
    (tmp_path / "spec.yaml").write_text(spec.read_text())
    with pytest.raises(LabelingError, match="labeling is off in .*spec.yaml: set labeling.enabled: true"):
        load_labeling_project(tmp_path)
