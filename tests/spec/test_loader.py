"""Loading specs: valid examples load; every problem is reported at once with file:line:column."""

from __future__ import annotations

import re

import pytest

from sagespec.errors import SpecError, SpecSyntaxError
from sagespec.spec import load_spec, load_spec_text

from ..conftest import EXAMPLE_SPECS


@pytest.mark.parametrize("path", EXAMPLE_SPECS, ids=lambda p: p.name)
def test_example_specs_are_valid(path):
    loaded = load_spec(path)
    assert loaded.spec.spec_version == 1
    assert loaded.spec.dataset.classes == [-1, 0, 1]
    assert not [w for w in loaded.warnings if w.severity == "error"]


def test_example_specs_start_with_a_schema_modeline():
    for path in EXAMPLE_SPECS:
        assert path.read_text().splitlines()[0].startswith("# yaml-language-server: $schema=")


def errors_of(text: str) -> dict[str, tuple[int | None, int | None, str]]:
    with pytest.raises(SpecError) as info:
        load_spec_text(text)
    return {i.path: (i.line, i.column, i.message) for i in info.value.issues}


def test_unknown_field_is_located(example_text):
    text = example_text().replace("  region: us-east-1\n", "  regoin: us-east-1\n")
    errors = errors_of(text)
    line = text.splitlines().index("  regoin: us-east-1") + 1
    assert errors["project.regoin"] == (line, 3, "unknown field (not allowed here)")


def test_all_structural_errors_are_reported_together(example_text):
    text = (
        example_text()
        .replace("slug: reviews-blazingtext", "slug: Reviews_BT")
        .replace("instance_type: ml.c5.2xlarge", "instance_type: c5.2xlarge")
        .replace("balance: downsample", "balance: upsample-lots")
    )
    errors = errors_of(text)
    assert set(errors) == {"project.slug", "model.instance_type", "dataset.balance"}
    assert "lower-case letters" in errors["project.slug"][2]
    assert "not a SageMaker instance type" in errors["model.instance_type"][2]
    assert "'none' or 'downsample'" in errors["dataset.balance"][2]


def test_cross_field_errors_are_reported_together_and_located(example_text):
    text = (
        example_text()
        .replace("    epochs: 15\n", "    epochz: 15\n")
        .replace("test: 0.1}", "test: 0.2}")
        .replace("positive_labels: [1]", "positive_labels: [7]")
    )
    errors = errors_of(text)
    assert set(errors) == {"model.hyperparameters.epochz", "dataset.split", "bias.positive_labels.0"}
    line, col, message = errors["model.hyperparameters.epochz"]
    assert text.splitlines()[line - 1].strip() == "epochz: 15" and col == 5
    assert "allowed: buckets, early_stopping, epochs" in message
    assert "sum to 1" in errors["dataset.split"][2]


def test_structural_and_cross_field_errors_come_in_one_report(example_text):
    text = (
        example_text()
        .replace("slug: reviews-blazingtext", "slug: Reviews_BT")  # structural, in project
        .replace("test: 0.1}", "test: 0.2}")  # cross-field, in dataset
        .replace("    epochs: 15\n", "    epochz: 15\n")  # cross-field, in model
    )
    errors = errors_of(text)
    assert set(errors) == {"project.slug", "dataset.split", "model.hyperparameters.epochz"}


def test_a_check_on_a_broken_section_is_skipped(example_text):
    """The model section fails validation, so the model checks (unknown hyperparameters) do not run on it;
    the dataset's still do."""
    text = (
        example_text()
        .replace("instance_type: ml.c5.2xlarge", "instance_type: c5.2xlarge")
        .replace("test: 0.1}", "test: 0.2}")
        .replace("    epochs: 15\n", "    epochz: 15\n")
    )
    assert set(errors_of(text)) == {"model.instance_type", "dataset.split"}


@pytest.mark.parametrize(
    ("tags", "fragment"),
    [
        ("{team: 'a {{ b }}'}", "'{' is not allowed in AWS tags"),
        ("{'aws:team': x}", "reserved for AWS"),
        ("{'te<am': x}", "'<' is not allowed"),
    ],
)
def test_tags_follow_aws_tag_rules(example_text, tags, fragment):
    text = re.sub(r"  tags:\n(    .*\n)+", f"  tags: {tags}\n", example_text())
    errors = errors_of(text)
    assert fragment in errors["project.tags"][2]


def test_discriminator_errors_point_at_type(example_text):
    text = example_text().replace("type: blazingtext", "type: fasttext")
    ((path, (line, _, message)),) = errors_of(text).items()
    assert path == "model.type"
    assert text.splitlines()[line - 1].strip() == "type: fasttext"
    assert "'blazingtext', 'bert'" in message


def test_missing_required_field(example_text):
    text = example_text().replace("  text_column: Review Text\n", "")
    errors = errors_of(text)
    assert errors["dataset.text_column"][2] == "required field is missing"


def test_yaml_syntax_error_has_a_position():
    with pytest.raises(SpecSyntaxError, match=r"<spec>:2:1: not valid YAML"):
        load_spec_text("a: [1\n")


def test_duplicate_keys_are_rejected():
    with pytest.raises(SpecSyntaxError, match="duplicate key"):
        load_spec_text("spec_version: 1\nspec_version: 1\n")


def test_top_level_must_be_a_mapping():
    with pytest.raises(SpecSyntaxError, match="mapping"):
        load_spec_text("- 1\n- 2\n")


def test_missing_file(tmp_path):
    with pytest.raises(SpecSyntaxError, match="no such spec file"):
        load_spec(tmp_path / "nope.yaml")


def test_error_rendering_names_file_line_field(write_spec, example_text):
    path = write_spec(example_text().replace("threshold: 0.6\n", "threshold: 1.5\n"))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    rendered = info.value.render()
    assert f"{path}:" in rendered and "evaluation.threshold" in rendered and "1 problem in" in rendered
