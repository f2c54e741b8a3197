"""End to end on a real local run: score the test split, review through HTTP, make retraining rows."""

from __future__ import annotations

import argparse
import csv
import json
import queue
import shutil
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

from sagespec.cli import main
from sagespec.errors import LabelingError
from sagespec.label import register_label
from sagespec.label.cli import prepare_queue, retrain_data
from sagespec.spec import load_spec


def _post(url: str, document: object) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(document).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_the_latest_runs_test_split_is_scored_by_the_registered_model(run_project, capsys):
    queue = prepare_queue(run_project)
    out = capsys.readouterr().out
    assert "with the model registered by run" in out
    assert "pipelines/reviews_blazingtext/inference.py" in out  # the project's own handler served it
    parts = (run_project / ".sagespec-runs" / queue.about["run_id"]).glob("PreprocessData/**/test/test*.csv")
    test_texts = set()
    for part in parts:  # PreprocessData writes the split as test-<part>.csv files
        with part.open(newline="", encoding="utf-8") as f:
            test_texts |= {row["text"] for row in csv.DictReader(f)}
    assert queue.about["scored"] == len(test_texts) and queue.tasks
    confidences = [t.input_content["prediction"]["confidence"] for t in queue.tasks]
    assert confidences == sorted(confidences) and max(confidences) < 0.6  # least confident first
    assert all(t.input_content["taskObject"] in test_texts for t in queue.tasks)
    tasks = json.loads((queue.folder / "tasks.json").read_text())
    assert [t["humanLoopName"] for t in tasks["tasks"]] == [t.name for t in queue.tasks]


def test_without_the_handler_fasttext_scores_the_same(run_project, tmp_path, capsys):
    """The fallback reads model.bin directly on the tokens of the project's BlazingText writer
    (blazingtext_format.py): the handler must agree with it."""
    with_handler = {t.name: t.input_content["prediction"] for t in prepare_queue(run_project).tasks}
    copy = Path(shutil.copytree(run_project, tmp_path / "project"))
    (copy / "pipelines" / "reviews_blazingtext" / "inference.py").unlink()
    queue = prepare_queue(copy)
    assert "fastText (model.bin), no inference handler" in capsys.readouterr().out
    assert {t.name for t in queue.tasks} == set(with_handler)
    for task in queue.tasks:
        expected = with_handler[task.name]
        assert task.input_content["prediction"]["label"] == expected["label"]
        assert task.input_content["prediction"]["confidence"] == pytest.approx(
            expected["confidence"], abs=1e-5
        )


def test_without_the_handler_or_the_blazingtext_writer_the_error_names_the_missing_file(
    run_project, tmp_path
):
    copy = Path(shutil.copytree(run_project, tmp_path / "project"))
    package = copy / "pipelines" / "reviews_blazingtext"
    (package / "inference.py").unlink()
    (package / "blazingtext_format.py").unlink()
    with pytest.raises(LabelingError, match=r"reviews_blazingtext/blazingtext_format\.py is missing"):
        prepare_queue(copy)


@pytest.mark.parametrize(
    ("function", "error"),
    [("predict_fn", "ValueError('the team broke this')"), ("model_fn", "KeyError('model.bin')")],
)
def test_a_handler_that_fails_is_one_line_naming_where(run_project, tmp_path, capsys, function, error):
    """The team's edit of inference.py raises: `label` names the file and line, as a failed step does."""
    copy = Path(shutil.copytree(run_project, tmp_path / "project"))
    handler = copy / "pipelines" / "reviews_blazingtext" / "inference.py"
    text = handler.read_text()
    head, body = text.split(f"\ndef {function}(", 1)
    signature, rest = body.split(":\n", 1)
    handler.write_text(f"{head}\ndef {function}({signature}:\n    raise {error}\n{rest}")
    line = f"{head}\ndef {function}({signature}:\n".count("\n") + 1
    assert main(["local", "label", str(copy)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"pipelines/reviews_blazingtext/inference.py:{line}: {error.split('(')[0]}" in err


def test_answers_become_rows_in_the_datasets_format(run_project, serve, tmp_path):
    queue = prepare_queue(run_project, limit=3)
    server = serve(queue)
    chosen = ["Negative", "Positive", "Neutral"]
    for task, label in zip(queue.tasks, chosen, strict=True):
        _post(
            server.url + f"task/{task.name}/submit", {"answerContent": {"crowd-classifier": {"label": label}}}
        )
    target, count, skipped = retrain_data(run_project, tmp_path / "reviewed.csv")
    assert (count, skipped) == (3, [])
    spec = load_spec(run_project / "spec.yaml").spec
    with target.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames == ["Review Text", "Rating", "Class Name"]  # the dataset's columns
    by_text = {row["Review Text"]: row["Rating"] for row in rows}
    mapping = {str(raw): label for raw, label in spec.dataset.label_mapping.items()}
    for task, label in zip(queue.tasks, chosen, strict=True):
        raw = by_text[task.input_content["taskObject"]]
        assert mapping[raw] == spec.labeling.labels[label]  # preprocess maps it back to the chosen class


def test_commands_register_under_local_and_parse(run_project):
    parser = argparse.ArgumentParser(prog="sagespec local")
    register_label(parser.add_subparsers(dest="local_command"))
    args = parser.parse_args(["label", str(run_project), "--port", "0", "--threshold", "0.5", "--limit", "2"])
    assert (args.port, args.threshold, args.limit) == (0, 0.5, 2)
    assert args.func.__name__ == "cmd_local_label"
    args = parser.parse_args(["retrain-data", str(run_project), "--out", "rows.csv"])
    assert args.func.__name__ == "cmd_local_retrain_data"
    with pytest.raises(SystemExit):
        parser.parse_args(["label", "--threshold", "1.5"])


def test_a_project_without_runs_says_what_to_do(labeling_project):
    with pytest.raises(LabelingError, match="sagespec local run"):
        prepare_queue(Path(labeling_project))


@pytest.mark.parametrize(
    ("stop", "sigint"),
    [(signal.SIGTERM, signal.SIG_IGN), (signal.SIGINT, signal.SIG_DFL)],
    ids=["SIGTERM-with-SIGINT-ignored", "SIGINT"],
)
def test_the_label_command_stops_cleanly(run_project, tmp_path, stop, sigint):
    """SIGTERM stops the page's server even where SIGINT is ignored (a background job of a script)."""
    project = Path(shutil.copytree(run_project, tmp_path / "project"))
    process = subprocess.Popen(
        [sys.executable, "-m", "sagespec", "local", "label", str(project), "--port", "0", "--limit", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, sigint),
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True)
    reader.start()
    try:
        line = ""
        while not line.startswith("open http://"):
            line = lines.get(timeout=60)
        url = line.split()[1]
        with urllib.request.urlopen(url + "labeling.css", timeout=10) as response:
            assert response.status == 200
        process.send_signal(stop)
        assert process.wait(timeout=20) == 0, process.stderr.read()
        assert "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    reader.join(timeout=10)
    rest = [lines.get() for _ in range(lines.qsize())]
    assert any("tasks answered" in line for line in rest)  # its summary, printed on the way out


def test_label_without_python_liquid_is_one_line(run_project, monkeypatch, capsys):
    for name in [n for n in sys.modules if n == "liquid" or n.startswith("liquid.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "liquid", None)  # as if python-liquid were not installed
    assert main(["local", "label", str(run_project), "--port", "0", "--limit", "1"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(
        "error: sagespec local label needs the Python module 'liquid' (package python-liquid)"
    )
