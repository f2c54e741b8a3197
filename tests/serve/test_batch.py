"""`sagespec local batch`: a file scored through the project's handler, written as a transform job writes.

The project is the handler file as `sagespec new` writes it, a spec and a registry of two tiny fastText
models (version 1 approved, version 2 pending) written by hand, as in test_local_endpoint.py.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sagespec.cli import main
from sagespec.serve import batch
from sagespec.serve.batch import BatchError, read_texts, run_batch
from sagespec.spec import load_spec

from .conftest import load, register, write_project

fasttext = pytest.importorskip("fasttext")

SPEC = """\
spec_version: 1
project: {name: Tiny batch, slug: tiny-batch}
dataset:
  source: reviews.csv
  text_column: Review Text
  label_column: Rating
  label_mapping: {1: neg, 2: neg, 4: pos, 5: pos}
model: {type: blazingtext}
bias: {enabled: false}
registry: {model_package_group: tiny-batch-models}
deployment:
  variants:
    - {name: Current, model: {select: latest-approved}, initial_weight: 3}
    - {name: Challenger, model: {select: newest}, initial_weight: 1}
batch: {instance_type: ml.m5.large}
"""
TRAIN = {
    "pos": ["great dress love it", "lovely fit and soft", "perfect and beautiful"],
    "neg": ["terrible fit awful", "cheap fabric returned it", "too small and ugly"],
}
# Texts a CSV must quote: commas, quotes, line breaks (\n and \r\n) inside the field; and an empty one.
TEXTS = [
    "Great dress, love it, perfect!",
    'Terrible fit; the "small" was huge',
    "Lovely and soft.\nWould buy again,\r\nin every colour",
    "cheap fabric, returned it\n\nugly",
    "",
    "beautiful",
]


def _register(registry: Path, work: Path, status: str, epochs: int) -> None:
    register(
        registry,
        work,
        group="tiny-batch-models",
        lines=[f"__label__{label} {text}\n" for label, texts in TRAIN.items() for text in texts],
        status=status,
        run_id=f"run-{epochs}",
        epochs=epochs,
        evaluation={"epochs": epochs},
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("batch")
    root = folder / "project"
    write_project(root, "tiny_batch", SPEC)
    registry = root / ".sagespec-runs" / "registry"
    _register(registry, folder, "Approved", epochs=20)  # version 1: the first variant's rule picks it
    _register(registry, folder, "PendingManualApproval", epochs=2)  # version 2
    return root


def _dataset_csv(path: Path, texts: list[str]) -> Path:
    """The dataset's shape: an id, the text column between others, a label; quoted where needed."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "Review Text", "Rating"])
        writer.writerows([i, text, 5] for i, text in enumerate(texts))
    return path


def _endpoint_answers(project: Path, variant: str, texts: list[str]) -> list[dict]:
    """What the local endpoint answers for each text sent alone to ``variant``."""
    endpoint = load(project)
    try:
        answers = []
        for text in texts:
            response = endpoint.invoke(
                json.dumps({"instances": [text]}).encode(), "application/json", "application/json", variant
            )
            assert response.status == 200, response.body
            answers.append(json.loads(response.body))
        return answers
    finally:
        endpoint.close()


def test_one_answer_per_record_in_order_as_the_endpoint_answers(project, tmp_path, capsys):
    texts = TEXTS * 3
    data = _dataset_csv(tmp_path / "reviews.csv", texts)
    assert main(["local", "batch", str(project), "--data", str(data), "--output", str(tmp_path / "out")]) == 0
    out = tmp_path / "out" / "reviews.csv.out"
    assert sorted(p.name for p in out.parent.iterdir()) == ["reviews.csv.out"]  # no partial file left
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask  # an ordinary file, not the temp file's 0600
    raw = out.read_text(encoding="utf-8")
    assert raw.endswith("\n")
    lines = raw.split("\n")[:-1]
    assert len(lines) == len(texts)  # one line per record, though texts hold line breaks
    answers = [json.loads(line) for line in lines]
    assert all(len(answer["predictions"]) == 1 for answer in answers)
    # Current (latest-approved: version 1) answers each text alone exactly as the batch does, in order.
    assert answers == _endpoint_answers(project, "Current", texts)
    labels = [answer["predictions"][0]["label"] for answer in answers[:4]]
    assert labels == ["pos", "neg", "pos", "neg"]
    printed = capsys.readouterr().out
    assert "version 1" in printed and f"wrote {len(texts)} predictions" in printed


def test_version_picks_another_model(project, tmp_path):
    data = _dataset_csv(tmp_path / "reviews.csv", TEXTS[:1])
    spec = load_spec(project / "spec.yaml").spec
    printed = io.StringIO()
    result = run_batch(project, spec, data, output_dir=tmp_path / "v2", version=2, out=printed)
    assert "scoring 1 record of" in printed.getvalue()
    data = _dataset_csv(tmp_path / "reviews.csv", TEXTS)
    result = run_batch(project, spec, data, output_dir=tmp_path / "v2", version=2, out=io.StringIO())
    assert result.version == 2 and result.records == len(TEXTS)
    answers = [json.loads(line) for line in result.output.read_text().splitlines()]
    assert answers == _endpoint_answers(project, "Challenger", TEXTS)  # newest: version 2
    assert answers != _endpoint_answers(project, "Current", TEXTS)


def test_default_output_folder_and_text_column_option(project, tmp_path):
    data = tmp_path / "other.csv"
    data.write_text('body,x\n"Great dress, love it",1\nterrible fit awful,2\n', encoding="utf-8")
    assert main(["local", "batch", str(project), "--data", str(data), "--text-column", "body"]) == 0
    out = project / ".sagespec-runs" / "batch" / "other.csv.out"
    labels = [json.loads(line)["predictions"][0]["label"] for line in out.read_text().splitlines()]
    assert labels == ["pos", "neg"]


def test_no_header_reads_one_text_per_record(tmp_path):
    data = tmp_path / "texts.csv"
    data.write_text('Great dress, love it\n"two\nlines, quoted"\n\nlast\n', encoding="utf-8")
    assert read_texts(data, None, header=False) == ["Great dress, love it", "two\nlines, quoted", "last"]


def test_a_byte_order_mark_is_not_part_of_the_header(tmp_path):
    data = tmp_path / "excel.csv"
    data.write_bytes("\ufeffReview Text,Rating\nnice,5\n".encode())
    assert read_texts(data, "Review Text") == ["nice"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"", "the file is empty"),
        (b"  \n\n", "the file is empty"),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03binary", "a binary file"),
        ("Review Text\nok\ncaf\xe9\n".encode("latin-1"), "line 3, column 4 is not UTF-8 text (byte 0xe9)"),
        (b"id,text,Rating\n1,nice,5\n", "no 'Review Text' column in its header (columns: id, text, Rating)"),
        (b"Review Text,Rating\n", "no records to score"),
        (b"Review Text,Rating\nnice,5\nGreat, love it,5\n", "record 3: 3 fields, the header has 2"),
        (b'Review Text,Rating\n"never closed,5\n', "not readable CSV"),
    ],
    ids=[
        "missing",
        "empty",
        "blank",
        "binary",
        "latin-1",
        "no-text-column",
        "header-only",
        "ragged",
        "quote",
    ],
)
def test_bad_input_is_a_clear_error_and_nothing_is_written(project, tmp_path, capsys, content, message):
    data = tmp_path / "reviews.csv"
    if content is not None:
        data.write_bytes(content)
    out = tmp_path / "out"
    out.mkdir()
    (out / "reviews.csv.out").write_text("an earlier run's answers\n")
    assert main(["local", "batch", str(project), "--data", str(data), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(data) in err and message in err
    assert "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["reviews.csv.out"]
    assert (out / "reviews.csv.out").read_text() == "an earlier run's answers\n"


def test_a_record_the_handler_refuses_leaves_no_output(project, tmp_path, capsys, monkeypatch):
    data = _dataset_csv(tmp_path / "reviews.csv", ["fine", "also fine", "refused"])
    real_load = batch.load_handler

    def load_refusing(project_dir, package):
        handler = real_load(project_dir, package)
        read = handler.input_fn

        def input_fn(body, content_type):
            texts = read(body, content_type)
            if texts == ["refused"]:
                raise ValueError("the request holds a text this handler refuses")
            return texts

        handler.input_fn = input_fn
        return handler

    monkeypatch.setattr(batch, "load_handler", load_refusing)
    assert main(["local", "batch", str(project), "--data", str(data), "--output", str(tmp_path / "o")]) == 2
    assert "the handler refused a record: the request holds a text" in capsys.readouterr().err
    assert not list((tmp_path / "o").iterdir())


@pytest.mark.parametrize("where", ["data", "output-too-long", "output-is-a-file"])
def test_a_path_the_file_system_refuses_is_a_clear_error(project, tmp_path, capsys, where):
    """--data or --output that cannot be used (too long a name, a file where the folder goes): exit 2 and
    the system's reason, not OSError's traceback, and no partial output."""
    data = _dataset_csv(tmp_path / "reviews.csv", ["fine"])
    output = tmp_path / "out"
    if where == "data":
        data = tmp_path / ("x" * 300)
    elif where == "output-too-long":
        output = tmp_path / ("o" * 300)
    else:
        output.write_text("a file, not a folder\n")
    assert main(["local", "batch", str(project), "--data", str(data), "--output", str(output)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert ("File name too long" if where != "output-is-a-file" else "cannot write") in err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    if where == "output-is-a-file":
        assert output.read_text() == "a file, not a folder\n"


def test_missing_registry_model_is_a_clear_error(project, tmp_path, capsys):
    data = _dataset_csv(tmp_path / "reviews.csv", ["fine"])
    assert main(["local", "batch", str(project), "--data", str(data), "--version", "9"]) == 2
    assert "has no version 9" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("truncated-model", "cannot unpack"),
        ("package-not-json", "model-package.json is damaged: Expecting"),
        ("package-not-an-object", "model-package.json is damaged: not a JSON object"),
    ],
)
def test_a_damaged_registered_version_is_a_clear_error_to_batch_and_serve(
    project, tmp_path, capsys, damage, message
):
    """A registry version cut short by a full disk or an interrupted copy: batch and serve say which file
    and what to do, exit 2, instead of EOFError's or JSONDecodeError's traceback."""
    import shutil

    from sagespec.errors import ServeError

    copy = tmp_path / "project"
    shutil.copytree(project, copy)
    version = copy / ".sagespec-runs" / "registry" / "tiny-batch-models" / "1"
    if damage == "truncated-model":
        archive = version / "model.tar.gz"
        archive.write_bytes(archive.read_bytes()[:100])
    else:
        (version / "model-package.json").write_text("[1, 2" if damage == "package-not-json" else "[]")
    data = _dataset_csv(tmp_path / "reviews.csv", ["fine"])
    assert main(["local", "batch", str(copy), "--data", str(data), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    with pytest.raises(ServeError, match=message.split(":")[0]):
        load(copy)


@settings(max_examples=60, deadline=None)
@given(
    lines=st.lists(st.text(alphabet="ab é€,", max_size=12), min_size=1, max_size=40),
    where=st.floats(0, 1),
    column=st.integers(0, 12),
    byte=st.sampled_from([b"\xe9", b"\xff", b"\x80"]),
    bom=st.sampled_from([b"", b"\xef\xbb\xbf"]),
)
def test_a_byte_that_is_no_utf8_is_named_by_its_line_and_column(
    tmp_path_factory, lines, where, column, byte, bom
):
    row = int(where * (len(lines) - 1))
    column = min(column, len(lines[row]))
    encoded = [line.encode() for line in lines]
    encoded[row] = lines[row][:column].encode() + byte + lines[row][column:].encode()
    data = tmp_path_factory.mktemp("latin") / "reviews.csv"
    data.write_bytes(bom + b"Review Text\n" + b"\n".join(encoded) + b"\n")
    with pytest.raises(BatchError) as info:
        read_texts(data, "Review Text")
    assert f"line {row + 2}, column {column + 1} is not UTF-8 text (byte 0x{byte[0]:02x})" in str(info.value)
