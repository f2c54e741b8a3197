"""A tuning spec runs locally as one training job: tuned hyperparameters at the default, in range."""

from __future__ import annotations

from sagespec.local.tuning import untuned_values
from sagespec.plan import build_plan
from sagespec.spec import load_spec_text

TUNING = """
tuning:
  objective: {metric: "validation:accuracy"}
  max_jobs: 4
  ranges:
    learning_rate: {type: continuous, min: 0.2, max: 0.8}
    vector_dim: {type: integer, min: 10, max: 300}
    word_ngrams: {type: categorical, values: [1, 3]}
"""


def _tuning_spec(text: str):
    for fixed in ("    learning_rate: 0.1\n", "    word_ngrams: 2\n", "    vector_dim: 100\n"):
        assert fixed in text
        text = text.replace(fixed, "")  # tuned, so no longer fixed in model.hyperparameters
    return load_spec_text(text + TUNING).spec


def test_tuned_hyperparameters_get_one_value_each(example_text):
    spec = _tuning_spec(example_text())
    step = build_plan(spec).step("TuneModel")
    assert step.kind == "tuning" and "learning_rate" not in step.hyperparameters
    # defaults 0.05 / 100 / 2: clamped into [0.2, 0.8], kept, not a categorical choice -> first value
    assert untuned_values(spec) == {"learning_rate": "0.2", "vector_dim": "100", "word_ngrams": "1"}


def test_no_tuning_no_values(example_text):
    assert untuned_values(load_spec_text(example_text()).spec) == {}
