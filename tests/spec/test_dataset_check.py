"""The spec is checked against its local dataset: columns exist, every label value is mapped."""

from __future__ import annotations

import pytest

from sagespec.errors import SpecError
from sagespec.spec import load_spec
from sagespec.spec.dataset_check import check_dataset_file


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
