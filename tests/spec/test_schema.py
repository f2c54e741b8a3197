"""The committed JSON Schema and Markdown reference match the models, and the schema accepts the examples."""

from __future__ import annotations

import json

import pytest
from ruamel.yaml import YAML

from sagespec.spec.reference import spec_reference_markdown
from sagespec.spec.schema import spec_json_schema

from ..conftest import EXAMPLE_SPECS, REPO


def test_committed_schema_is_current():
    committed = json.loads((REPO / "spec.schema.json").read_text())
    assert committed == spec_json_schema(), "run: sagespec schema > spec.schema.json"


def test_committed_reference_is_current():
    committed = (REPO / "docs/spec-reference.md").read_text()
    assert committed == spec_reference_markdown(), (
        "run: sagespec schema --format markdown > docs/spec-reference.md"
    )


def test_reference_lists_every_section_and_hyperparameter():
    text = spec_reference_markdown()
    for section in (
        "spec.project",
        "spec.dataset",
        "spec.bias",
        "spec.model (type: bert)",
        "spec.deployment",
    ):
        assert f"### `{section}`" in text
    assert "| `word_ngrams` |" in text and "| `max_seq_length` |" in text


@pytest.mark.parametrize("path", EXAMPLE_SPECS, ids=lambda p: p.name)
def test_schema_accepts_examples(path):
    jsonschema = pytest.importorskip("jsonschema")
    data = YAML(typ="safe").load(path.read_text())
    # JSON has no integer keys: the label mapping's keys are strings once the spec is JSON.
    data = json.loads(json.dumps(data))
    jsonschema.validate(data, spec_json_schema())
