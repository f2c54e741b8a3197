"""The spec is checked against its local dataset: columns exist, every label value is mapped, there is
something to learn; a file that is no CSV is described, not echoed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sagespec.cli import main
from sagespec.errors import SpecError
from sagespec.spec import load_spec
from sagespec.spec.dataset_check import check_dataset_file, dataset_problems, facet_values


def issues_for(path):
    with pytest.raises(SpecError) as info:
        check_dataset_file(load_spec(path))
    return {i.path: i for i in info.value.issues}


def test_example_fits_its_data(write_spec, example_text):
    check_dataset_file(load_spec(write_spec(example_text())))


def test_missing_columns_are_named_with_their_spec_line(write_spec, example_text):
    text = example_text().replace("text_column: Review Text", "text_column: Review Txt")
    text = text.replace("facet_columns: [Class Name]", "facet_columns: [Klass]").replace(
        "column: Class Name", "column: Klass"
    )
    found = issues_for(write_spec(text))
    assert set(found) == {"dataset.text_column", "dataset.facet_columns.0"}
    issue = found["dataset.text_column"]
    assert "no column 'Review Txt'" in issue.message and "'Review Text'" in issue.message
    assert text.splitlines()[issue.line - 1].strip().startswith("text_column:")


def test_unmapped_label_values_are_counted(write_spec, example_text):
    text = example_text().replace("4: 1, 5: 1}", "4: 1}")
    found = issues_for(write_spec(text))
    assert "'5' (13131 rows)" in found["dataset.label_mapping"].message


def test_missing_file_is_an_error_at_source(tmp_path, example_text):
    path = tmp_path / "spec.yaml"
    path.write_text(example_text())  # ../data/ does not exist beside tmp_path
    found = issues_for(path)
    assert "no such file" in found["dataset.source"].message


# ------------------------------------------------------------------------------ what preprocessing keeps

HEADER = "Review Text,Rating,Class Name\n"


def spec_for(tmp_path, write_spec, example_text, content: bytes | str):
    data = tmp_path / "reviews.csv"
    data.write_bytes(content.encode() if isinstance(content, str) else content)
    text = example_text().replace("../data/womens_clothing_ecommerce_reviews.csv", str(data))
    return load_spec(write_spec(text))


def problems_in(tmp_path, write_spec, example_text, content: bytes | str) -> dict[str, str]:
    loaded = spec_for(tmp_path, write_spec, example_text, content)
    return {field: message for field, message, _ in dataset_problems(loaded.spec, loaded.base_dir)}


def test_rows_with_an_empty_label_are_not_unmapped_values(tmp_path, write_spec, example_text):
    rows = "good,5,Dresses\nbad,1,Dresses\nno label,,Dresses\nblank, ,Knits\nna,NA,Knits\n"
    assert problems_in(tmp_path, write_spec, example_text, HEADER + rows) == {}


def test_facet_values_are_those_preprocessing_keeps(tmp_path, write_spec, example_text):
    rows = "a,5,Dresses\nb,1,NA\nc,4,null\nd,2, \ne,3,\nf,1,Knits\ng,5,N/A\nh,4,Dresses\n"
    loaded = spec_for(tmp_path, write_spec, example_text, HEADER + rows)
    assert facet_values(loaded) == {"Class Name": ["Dresses", "Knits"]}  # prepare.py reads NA as missing


def test_a_non_empty_unmapped_label_is_still_an_error(tmp_path, write_spec, example_text):
    rows = "good,5,Dresses\nbad,1,Dresses\nodd,6,Dresses\nno label,,Dresses\n"
    found = problems_in(tmp_path, write_spec, example_text, HEADER + rows)
    assert found == {"dataset.label_mapping": "label values in reviews.csv with no mapping: '6' (1 rows)"}


@pytest.mark.parametrize(
    ("content", "field", "fragment"),
    [
        ("", "dataset.source", "reviews.csv is empty: it has no header row"),
        (HEADER, "dataset.source", "no rows with both a text in 'Review Text' and a label in 'Rating'"),
        (HEADER + ",5,Dresses\ntext,,Dresses\n", "dataset.source", "nothing to train on"),
        (
            HEADER + "a,5,Dresses\nb,4,Knits\n,1,Knits\n",
            "dataset.label_mapping",
            "one class only (1: 2 rows)",
        ),
    ],
    ids=["empty", "header-only", "no-labelled-row", "single-class"],
)
def test_data_with_nothing_to_learn_is_an_error(tmp_path, write_spec, example_text, content, field, fragment):
    found = problems_in(tmp_path, write_spec, example_text, content)
    assert list(found) == [field] and fragment in found[field]


def test_cli_reports_a_single_class_dataset_with_exit_2(tmp_path, write_spec, example_text, capsys):
    loaded = spec_for(tmp_path, write_spec, example_text, HEADER + "a,5,Dresses\nb,4,Knits\n")
    assert main(["validate", str(loaded.path)]) == 2
    assert "one class only" in capsys.readouterr().err
    assert main(["new", str(loaded.path), "-o", str(tmp_path / "proj")]) == 2
    assert not (tmp_path / "proj").exists()


SECRET = "AWS_SECRET_ACCESS_KEY=do-not-echo-me"


@pytest.mark.parametrize(
    "content",
    [
        f"PATH=/usr/bin\0{SECRET}\0".encode(),  # what /proc/self/environ holds
        f"{SECRET},\xff\n".encode("latin-1"),  # not UTF-8
        f"{SECRET}\nAWS_REGION=us-east-1\n",  # a .env file
        b"\x89PNG\r\n\x1a\n" + SECRET.encode() + b"\0\0",
    ],
    ids=["environ", "latin-1", "dotenv", "binary"],
)
def test_a_file_that_is_no_csv_is_described_not_echoed(tmp_path, write_spec, example_text, content):
    found = problems_in(tmp_path, write_spec, example_text, content)
    assert found
    for message in found.values():
        assert "do-not-echo-me" not in message and len(message) < 1500, message


@pytest.mark.skipif(not Path("/proc/self/environ").is_file(), reason="no /proc")
def test_proc_self_environ_as_the_source(write_spec, example_text):
    loaded = load_spec(
        write_spec(
            example_text().replace("../data/womens_clothing_ecommerce_reviews.csv", "/proc/self/environ")
        )
    )
    ((field, message, _),) = dataset_problems(loaded.spec, loaded.base_dir)
    assert field == "dataset.source" and "NUL" in message and "PATH=" not in message


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs")
def test_a_fifo_as_the_source_is_refused_without_reading(tmp_path, write_spec, example_text):
    fifo = tmp_path / "reviews.csv"
    os.mkfifo(fifo)
    loaded = load_spec(
        write_spec(example_text().replace("../data/womens_clothing_ecommerce_reviews.csv", str(fifo)))
    )
    ((field, message, _),) = dataset_problems(loaded.spec, loaded.base_dir)
    assert field == "dataset.source" and "not a regular file" in message


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_any_bytes_as_data_give_findings_not_exceptions(tmp_path, write_spec, example_text, content):
    for data in (content, HEADER.encode() + content):
        found = problems_in(tmp_path, write_spec, example_text, data)
        assert all(len(message) < 1500 for message in found.values())


def test_a_long_header_is_listed_in_part(tmp_path, write_spec, example_text):
    header = ",".join(f"column {i} " + "x" * 200 for i in range(500))
    found = problems_in(tmp_path, write_spec, example_text, header + "\n")
    message = found["dataset.text_column"]
    assert "'column 0 xxx" in message and "and 480 more" in message and len(message) < 1500


def test_a_non_utf8_byte_is_located_by_line_and_column(tmp_path, write_spec, example_text):
    rows = "good,5,Dresses\n" * 5000  # far past the text reader's first decoded chunk
    content = (HEADER + rows).encode() + "caf\xe9,5,Dresses\n".encode("latin-1")
    found = problems_in(tmp_path, write_spec, example_text, content)
    assert found == {"dataset.source": "reviews.csv: line 5002, column 4 is not UTF-8 text (byte 0xe9)"}


@pytest.mark.parametrize(
    "source", ["x" * 5000, "d/" * 3000 + "x.csv", "y" * 300 + ".csv"], ids=["long-name", "deep", "255+"]
)
def test_a_source_no_file_system_takes_is_a_located_error(tmp_path, write_spec, example_text, capsys, source):
    """A name longer than the file system allows is an error at dataset.source, exit 2, not OSError's
    traceback (validate and new both ran into it)."""
    text = example_text().replace("../data/womens_clothing_ecommerce_reviews.csv", source)
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    found = issues_for(spec)
    assert list(found) == ["dataset.source"]
    assert found["dataset.source"].message.endswith("File name too long")
    assert len(found["dataset.source"].message) < 200  # the name is cut short
    assert main(["new", str(spec), "-o", str(tmp_path / "out")]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    source=(
        st.text(min_size=1, max_size=600)
        | st.builds(str.__mul__, st.sampled_from(["x", "é", "d/", "../", "\0"]), st.integers(100, 3000))
    ).filter(lambda s: s.strip() and "${" not in s)
)
def test_any_text_as_the_source_gives_findings_not_exceptions(tmp_path, write_spec, example_text, source):
    spec = load_spec(write_spec(example_text()))
    spec = spec.spec.model_copy(update={"dataset": spec.spec.dataset.model_copy(update={"source": source})})
    for field, message, severity in dataset_problems(spec, tmp_path):
        assert field == "dataset.source" and severity == "error" and message
