"""`sagespec local label` over captured traffic: unsure captured predictions are reviewed, and each label is
also written as Model Monitor's ground truth of the captured records (keyed by inferenceId or eventId).

The capture files are written here, in SageMaker's data-capture layout and record format (what the local
endpoint writes), so no endpoint or model is needed.
"""

from __future__ import annotations

import base64
import csv
import json
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sagespec.cli import main
from sagespec.deployment import build_deployment
from sagespec.errors import LabelingError
from sagespec.label.cli import prepare_queue, retrain_data
from sagespec.label.project import load_labeling_project
from sagespec.local.runs import capture_root, ground_truth_root
from sagespec.spec import load_spec

CLASSES = ["-1", "0", "1"]  # the example's classes; the labels Negative, Neutral, Positive map to them


def _answer(label: str, confidence: float) -> dict:
    rest = round((1 - confidence) / 2, 6)
    return {"label": label, "probabilities": {c: confidence if c == label else rest for c in CLASSES}}


def _record(
    texts: list[str] | str,
    answers: list[dict],
    *,
    encoding: str = "JSON",
    inference_id: str | None = None,
    event_id: str | None = None,
) -> dict:
    if encoding == "CSV":
        request_type, data = "text/csv", "".join(f"{t}\n" for t in texts)
    else:
        request_type, data = "application/json", json.dumps({"instances": texts})
    if encoding == "BASE64":
        data = base64.b64encode(data.encode()).decode()
    metadata = {"eventId": event_id or str(uuid.uuid4()), "inferenceTime": "2026-12-01T06:00:00Z"}
    if inference_id:
        metadata["inferenceId"] = inference_id
    return {
        "captureData": {
            "endpointInput": {
                "observedContentType": request_type,
                "mode": "INPUT",
                "data": data,
                "encoding": encoding,
            },
            "endpointOutput": {
                "observedContentType": "application/json",
                "mode": "OUTPUT",
                "data": json.dumps({"predictions": answers}),
                "encoding": "JSON",
            },
        },
        "eventMetadata": metadata,
        "eventVersion": "0",
    }


def _write_capture(
    project: Path, variant: str, records: list[dict | str], hour: str = "2026/12/01/06"
) -> Path:
    endpoint = build_deployment(load_spec(project / "spec.yaml").spec).endpoint_name
    folder = capture_root(project) / endpoint / variant / hour
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hour.replace('/', '-')}-00-00-000-{uuid.uuid4()}.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def _submit(server, name: str, label: str) -> dict:
    request = urllib.request.Request(
        f"{server.url}task/{name}/submit",
        data=json.dumps({"answerContent": {"crowd-classifier": {"label": label}}}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def _ground_truth(project: Path) -> dict[str, list[dict]]:
    """Every ground-truth file (relative path -> its records)."""
    root = ground_truth_root(project)
    return {
        p.relative_to(root).as_posix(): [json.loads(line) for line in p.read_text().splitlines()]
        for p in sorted(root.rglob("*.jsonl"))
    }


def _variant(project: Path) -> str:
    return build_deployment(load_spec(project / "spec.yaml").spec).variants[0].name


UNSURE_TWICE = 'Runs small, the fabric is "thin"\nbut pretty'  # captured twice: one task, two records


@pytest.fixture
def captured(labeling_project) -> dict[str, str]:
    """A project with captured traffic of every kind; returns the ids to expect per text."""
    variant = _variant(labeling_project)
    _write_capture(
        labeling_project,
        variant,
        [
            _record(["Love it, perfect fit"], [_answer("1", 0.97)], event_id="sure-1"),  # confident
            _record([UNSURE_TWICE], [_answer("1", 0.41)], event_id="event-a"),
            _record(
                ["meh, it is ok I guess"], [_answer("0", 0.35)], inference_id="client-id-7", event_id="e-7"
            ),
            _record(["two", "texts"], [_answer("1", 0.4), _answer("0", 0.4)]),  # Model Monitor can't join
            "{not json",
        ],
    )
    _write_capture(
        labeling_project,
        variant,
        [
            _record([UNSURE_TWICE], [_answer("1", 0.45)], event_id="event-b", encoding="BASE64"),
            _record(["Returned it, too big"], [_answer("-1", 0.5)], event_id="csv-1", encoding="CSV"),
        ],
        hour="2026/12/01/07",
    )
    # A shadow variant's copy of a request: its answer never reached a client, so it is not labeled.
    _write_capture(labeling_project, "Shadow", [_record(["shadow copy"], [_answer("1", 0.2)], event_id="s")])
    return {
        UNSURE_TWICE: ["event-a", "event-b"],
        "meh, it is ok I guess": ["client-id-7"],
        "Returned it, too big": ["csv-1"],
    }


def test_unsure_captured_predictions_of_one_text_make_the_queue(labeling_project, captured, capsys):
    queue = prepare_queue(labeling_project)  # the default: captured traffic, since there is some
    assert queue.folder.name == "captured-traffic"
    texts = [task.input_content["taskObject"] for task in queue.tasks]
    # Least confident first (0.35, 0.41 for the text's first record, 0.5); the confident one is not there.
    assert texts == ["meh, it is ok I guess", UNSURE_TWICE, "Returned it, too big"]
    assert {t.input_content["taskObject"]: list(t.event_ids) for t in queue.tasks} == captured
    written = json.loads((queue.folder / "tasks.json").read_text())
    assert [t["eventIds"] for t in written["tasks"]] == [captured[text] for text in texts]
    printed = capsys.readouterr().out
    assert "read 7 captured records in 2 files: 5 predictions of one text" in printed
    assert "1 holds several texts" in printed and "1 not a readable data-capture record" in printed


def test_each_label_is_written_as_ground_truth_of_the_captured_records(labeling_project, captured, serve):
    queue = prepare_queue(labeling_project)
    server = serve(queue)
    by_text = {t.input_content["taskObject"]: t.name for t in queue.tasks}
    before = datetime.now(UTC)
    _submit(server, by_text[UNSURE_TWICE], "Negative")
    _submit(server, by_text["meh, it is ok I guess"], "Neutral")
    hour = f"{before:%Y/%m/%d/%H}"
    truth = _ground_truth(labeling_project)
    assert truth == {
        f"{hour}/{by_text[UNSURE_TWICE]}.jsonl": [
            {
                "groundTruthData": {"data": "-1", "encoding": "CSV"},
                "eventMetadata": {"eventId": "event-a"},
                "eventVersion": "0",
            },
            {
                "groundTruthData": {"data": "-1", "encoding": "CSV"},
                "eventMetadata": {"eventId": "event-b"},
                "eventVersion": "0",
            },
        ],
        # The client's inference id, not the event id: Model Monitor joins on it when it is there.
        f"{hour}/{by_text['meh, it is ok I guess']}.jsonl": [
            {
                "groundTruthData": {"data": "0", "encoding": "CSV"},
                "eventMetadata": {"eventId": "client-id-7"},
                "eventVersion": "0",
            },
        ],
    }
    # Every line is Model Monitor's record exactly: no other keys, compact JSON, one per line.
    raw = (ground_truth_root(labeling_project) / hour / f"{by_text[UNSURE_TWICE]}.jsonl").read_text()
    assert raw.splitlines()[0] == (
        '{"groundTruthData": {"data": "-1", "encoding": "CSV"}, "eventMetadata": {"eventId": "event-a"}, '
        '"eventVersion": "0"}'
    )
    # A changed answer replaces the label; each record keeps one ground truth.
    _submit(server, by_text[UNSURE_TWICE], "Positive")
    labels = {
        record["eventMetadata"]["eventId"]: record["groundTruthData"]["data"]
        for records in _ground_truth(labeling_project).values()
        for record in records
    }
    assert labels == {"event-a": "1", "event-b": "1", "client-id-7": "0"}
    assert len(_ground_truth(labeling_project)) == 2


def test_an_answered_text_captured_again_gets_its_label(labeling_project, captured, serve):
    queue = prepare_queue(labeling_project)
    name = next(t.name for t in queue.tasks if t.input_content["taskObject"] == "Returned it, too big")
    _submit(serve(queue), name, "Negative")
    _write_capture(
        labeling_project,
        _variant(labeling_project),
        [_record(["Returned it, too big"], [_answer("-1", 0.55)], event_id="csv-2")],
        hour="2026/12/01/09",
    )
    prepare_queue(labeling_project)  # the next session: the answer stays, and covers the new record
    ((path, records),) = [
        (p, r) for p, r in _ground_truth(labeling_project).items() if p.endswith(f"{name}.jsonl")
    ]
    assert [r["eventMetadata"]["eventId"] for r in records] == ["csv-1", "csv-2"]
    assert {r["groundTruthData"]["data"] for r in records} == {"-1"}


def test_retrain_data_keeps_working_with_labels_of_captured_traffic(
    labeling_project, captured, serve, tmp_path
):
    queue = prepare_queue(labeling_project)
    server = serve(queue)
    for task in queue.tasks:
        _submit(server, task.name, "Positive")
    target, count, skipped = retrain_data(labeling_project, tmp_path / "rows.csv")
    assert count == 3 and skipped == []
    settings = load_labeling_project(labeling_project).settings
    with target.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r[settings.TEXT_COLUMN] for r in rows) == sorted(captured)
    assert {r[settings.LABEL_COLUMN] for r in rows} == {settings.RAW_LABELS["1"]}


def test_retrain_data_counts_its_rows_in_words(labeling_project, captured, serve, tmp_path, capsys):
    queue = prepare_queue(labeling_project)
    server = serve(queue)
    _submit(server, queue.tasks[0].name, "Positive")
    assert main(["local", "retrain-data", str(labeling_project), "--out", str(tmp_path / "one.csv")]) == 0
    assert f"wrote 1 row to {tmp_path / 'one.csv'} " in capsys.readouterr().out
    for task in queue.tasks[1:]:
        _submit(server, task.name, "Positive")
    assert main(["local", "retrain-data", str(labeling_project), "--out", str(tmp_path / "all.csv")]) == 0
    assert f"wrote {len(queue.tasks)} rows to " in capsys.readouterr().out


def test_from_run_ignores_captured_traffic_and_from_capture_needs_some(labeling_project, capsys):
    with pytest.raises(LabelingError, match="no captured traffic in .*data-capture"):
        prepare_queue(labeling_project, source="capture")
    assert main(["local", "label", str(labeling_project), "--from", "capture"]) == 2
    assert "no captured traffic" in capsys.readouterr().err
    # No capture and no run: the default falls back to the run, and says there is none.
    with pytest.raises(LabelingError, match="no local run with a test split"):
        prepare_queue(labeling_project)


def test_run_and_capture_together_is_refused(labeling_project, captured, capsys):
    assert (
        main(["local", "label", str(labeling_project), "--from", "capture", "--run", "20250101-000000"]) == 2
    )
    assert "--run names a run's test split" in capsys.readouterr().err


def test_an_answer_edited_by_hand_does_not_stop_the_next_session(labeling_project, captured, serve):
    queue = prepare_queue(labeling_project)
    name = queue.tasks[0].name
    _submit(serve(queue), name, "Neutral")
    queue.output_path(name).write_text('{"humanAnswers": [{"answerContent": {}}]}')
    again = prepare_queue(labeling_project)
    assert [t.name for t in again.tasks] == [t.name for t in queue.tasks]
    assert again.answered(name)
