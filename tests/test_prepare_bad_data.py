"""Data that a careless or hostile user hands PrepareData (prepare.py, the pipeline's first step) and
`sagespec validate`'s dataset check: what the spec names is data, a misshapen file is a located error, and
the two readers agree on which rows are kept.
"""

from __future__ import annotations

import csv
import importlib
import json
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sagespec.spec import dataset_check, load_spec
from sagespec.spec.dataset_check import dataset_problems

PACKAGE = Path(__file__).resolve().parents[1] / "template" / "pipelines" / "__pkg__"


@pytest.fixture(scope="module")
def prepare() -> Iterator[ModuleType]:
    sys.path.insert(0, str(PACKAGE))
    try:
        yield importlib.import_module("prepare")
    finally:
        sys.path.remove(str(PACKAGE))


def run_prepare(prepare: ModuleType, data: Path, mapping: dict[str, str], output: Path) -> pd.DataFrame:
    """prepare.py on ``data`` (columns text, label); the rows it kept (text, label)."""
    args = ["--input-dir", str(data.parent), "--input-file", data.name, "--output-dir", str(output)]
    args += ["--text-column", "text", "--label-column", "label", "--label-mapping", json.dumps(mapping)]
    prepare.run(prepare.parse_args(args))
    parts = sorted((output / "rows").glob("*.parquet"))
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)[["text", "label"]]


def write_spec(folder: Path, data: Path, mapping: dict[str, str]) -> Path:
    spec = {
        "spec_version": 1,
        "project": {"name": "Hostile data", "slug": "hostile-data", "region": "us-east-1"},
        "dataset": {
            "source": str(data),
            "format": "csv",
            "text_column": "text",
            "label_column": "label",
            "label_mapping": mapping,
            "split": {"train": 0.6, "validation": 0.2, "test": 0.2},
        },
        "bias": {"enabled": False},
        "model": {"type": "blazingtext", "instance_type": "ml.c5.2xlarge"},
        "evaluation": {"metric": "accuracy", "threshold": 0.5},
    }
    path = folder / "spec.yaml"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


def test_both_copies_of_the_missing_strings_are_pandas_own():
    """prepare.py (which cannot import sagespec) and the dataset check each hold pandas' list."""
    from pandas._libs.parsers import STR_NA_VALUES

    pandas_own = set(STR_NA_VALUES)
    sys.path.insert(0, str(PACKAGE))
    try:
        prepare = importlib.import_module("prepare")
    finally:
        sys.path.remove(str(PACKAGE))
    assert set(prepare.MISSING_VALUES) == pandas_own
    assert set(dataset_check.MISSING_VALUES) == pandas_own


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# A raw label a spec may map: one of the strings pandas reads as missing, or any other word (numbers are
# left out: "1.0" and "1" are one label on purpose, tested elsewhere).
RAW_LABELS = st.sampled_from(sorted(dataset_check.MISSING_VALUES - {""})) | st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=8
).filter(lambda text: text == text.strip() and text and not _is_number(text))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raws=st.lists(RAW_LABELS, min_size=2, max_size=4, unique=True))
def test_a_label_the_mapping_names_is_data_to_validate_and_to_prepare(prepare, tmp_path_factory, raws):
    """A class whose raw label is "NA", "None" or "null" is learnt from, not dropped as missing; a
    missing string the mapping does not name is still no label, and a blank label never is one."""
    folder = tmp_path_factory.mktemp("data")
    mapping = {raw: f"class{index % 2}" for index, raw in enumerate(raws)}
    data = folder / "data.csv"
    with data.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for index, raw in enumerate(raws):
            writer.writerows([f"review {index} number {row}", raw] for row in range(3))
        unnamed = sorted(dataset_check.MISSING_VALUES - set(raws) - {""})[0]
        writer.writerows([["no label here", ""], ["no label either", unnamed]])
    loaded = load_spec(write_spec(folder, data, mapping))
    assert dataset_problems(loaded.spec, loaded.base_dir) == []
    kept = run_prepare(prepare, data, mapping, folder / "out")
    assert Counter(kept["label"]) == Counter(mapping[raw] for raw in raws for _ in range(3))
    assert not kept["text"].str.startswith("no label").any()


def prepare_error(prepare: ModuleType, data: Path, mapping: dict[str, str], output: Path) -> str:
    with pytest.raises(prepare.InputError) as info:
        run_prepare(prepare, data, mapping, output)
    assert not (output / "rows").exists() or not any((output / "rows").iterdir())  # nothing half-written
    return str(info.value)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.integers(1, 60_000),
    where=st.floats(0, 1),
    prefix=st.text(alphabet="abc é€,", max_size=10),
    byte=st.sampled_from([b"\xe9", b"\xff", b"\x80", b"\xc3("]),
)
def test_a_byte_that_is_no_utf8_is_located_by_line_and_column(
    prepare, tmp_path_factory, rows, where, prefix, byte
):
    """Wherever the bad byte is, even past pandas' first block of the file, the message names its line
    and column in the file (pandas' own error gives an offset into the block it was decoding)."""
    folder = tmp_path_factory.mktemp("latin")
    bad_row = int(where * (rows - 1))
    lines = [b"text,label\n"]
    for number in range(rows):
        text = f"review {number}".encode()
        if number == bad_row:
            text = f'"{prefix}'.encode() + byte + b'"'
        lines.append(text + b"," + (b"a" if number % 2 else b"b") + b"\n")
    data = folder / "data.csv"
    data.write_bytes(b"".join(lines))
    message = prepare_error(prepare, data, {"a": "0", "b": "1"}, folder / "out")
    column = len(f'"{prefix}') + 1
    assert message.startswith(f"data.csv: line {bad_row + 2}, column {column} is not UTF-8 text"), message


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    order=st.permutations(["text", "label", "other"]),
    extra=st.integers(1, 3),
    rows=st.integers(2, 40),
)
def test_rows_with_trailing_fields_keep_their_columns_in_place(prepare, tmp_path_factory, order, extra, rows):
    """Each row one to three fields longer than the header (a trailing comma, as some exports write):
    every column stays where the header puts it, in prepare.py as in validate's dataset check. pandas
    alone takes the surplus leading fields as an index and shifts the columns: the text became the
    label, or nothing was kept."""
    folder = tmp_path_factory.mktemp("trailing")
    data = folder / "data.csv"
    expected = []
    with data.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(order)
        for number in range(rows):
            row = {"text": f"review {number}", "label": "ab"[number % 2], "other": f"x{number}"}
            writer.writerow([row[column] for column in order] + [""] * extra)
            expected.append((row["text"], {"a": "0", "b": "1"}[row["label"]]))
    mapping = {"a": "0", "b": "1"}
    loaded = load_spec(write_spec(folder, data, mapping))
    assert dataset_problems(loaded.spec, loaded.base_dir) == []
    kept = run_prepare(prepare, data, mapping, folder / "out")
    assert sorted(zip(kept["text"], kept["label"], strict=True)) == sorted(expected)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    header=st.lists(st.sampled_from(["text", "label", "other"]), min_size=3, max_size=6).filter(
        lambda names: (
            {"text", "label"} <= set(names) and (names.count("text") > 1 or names.count("label") > 1)
        )
    )
)
def test_a_column_named_twice_in_the_header_is_an_error_in_both_readers(prepare, tmp_path_factory, header):
    """pandas renames a repeated column ("label.1") and reads the first, the csv module's header.index
    too: which one the user meant is unknown, so both say where the name repeats, and nothing is kept."""
    folder = tmp_path_factory.mktemp("twice")
    data = folder / "data.csv"
    with data.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(
            [f"review {n}" if name == "text" else "ab"[n % 2] for name in header] for n in range(6)
        )
    mapping = {"a": "0", "b": "1"}
    repeated = "text" if header.count("text") > 1 else "label"
    places = ", ".join(str(n) for n, name in enumerate(header, start=1) if name == repeated)
    loaded = load_spec(write_spec(folder, data, mapping))
    problems = {field: message for field, message, _ in dataset_problems(loaded.spec, loaded.base_dir)}
    assert (
        f"column {repeated!r} is in the header of data.csv {header.count(repeated)} times"
        in (problems[f"dataset.{repeated}_column"])
    )
    message = prepare_error(prepare, data, mapping, folder / "out")
    assert message.startswith(f"column {repeated!r} (--{repeated}-column) is in the header of data.csv")
    assert f"(columns {places})" in message


NUMBER_LIKE = ["1", "1.0", "1.00", "-1", "-1.0", "1e0", "+1", "01", "1.5", " 2", "2", "2.0", "NA", "x"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    values=st.lists(st.sampled_from(NUMBER_LIKE), min_size=2, max_size=6, unique=True),
    keys=st.lists(st.sampled_from([v.strip() for v in NUMBER_LIKE]), min_size=2, max_size=6, unique=True),
)
def test_validate_and_prepare_agree_on_which_labels_the_mapping_names(
    prepare, tmp_path_factory, values, keys
):
    """Number-like labels ("1.0" for the key "1", a key "1.0" itself, "1e0", "+1"): `sagespec validate`
    refuses exactly the data that PrepareData refuses, and when both accept, every mapped row is kept.
    (validate read "1.0" as "1" even where "1.0" was the key, and refused what prepare.py accepts.)"""
    folder = tmp_path_factory.mktemp("numbers")
    mapping = {key: f"class{index % 2}" for index, key in enumerate(keys)}
    data = folder / "data.csv"
    with data.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows([f"review {value!r} {row}", value] for value in values for row in range(2))
    loaded = load_spec(write_spec(folder, data, mapping))
    problems = {field: message for field, message, _ in dataset_problems(loaded.spec, loaded.base_dir)}
    try:
        kept = run_prepare(prepare, data, mapping, folder / "out")
    except prepare.InputError as err:
        assert "values not in --label-mapping" in str(err) or "class" in str(err), err
        assert "dataset.label_mapping" in problems or "dataset.source" in problems, (err, problems)
    else:
        assert (
            "dataset.label_mapping" not in problems or "one class only" in problems["dataset.label_mapping"]
        )
        assert len(kept) == 2 * sum(value.strip() != "NA" or "NA" in mapping for value in values)
