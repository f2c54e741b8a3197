"""What the generated README says about tuning: the TuneModel row of the pipeline table names the
search (strategy, job count, parallelism, objective), a table lists the tuned ranges beside the static
hyperparameters, and the local paragraph says what `make tune` runs and where the trials go."""

from __future__ import annotations

import re

from sagespec.render import render_project
from sagespec.spec import load_spec, load_spec_text

from ..conftest import SPECS


def readme_of(spec) -> str:
    return render_project(spec).files["README.md"].decode()


def table_rows(readme: str, heading: str) -> dict[str, list[str]]:
    """The rows of the Markdown table under a line starting with `heading`, by their first cell."""
    block = readme.split(f"\n{heading}", 1)[1].split("\n\n", 2)[1]
    rows = [line.strip("|").split("|") for line in block.splitlines()[2:]]
    return {cells[0].strip(): [cell.strip() for cell in cells[1:]] for cells in rows}


def test_the_tuning_example_says_what_tunemodel_searches():
    readme = readme_of(load_spec(SPECS / "womens-clothing-blazingtext-tuning.yaml"))
    row = next(line for line in readme.splitlines() if line.startswith("| TuneModel | tuning |"))
    for said in (
        "a Bayesian hyperparameter tuning job",
        "20 training jobs of built-in BlazingText",
        "ml.c5.2xlarge, 2 at once",
        "the best `validation:accuracy` (Maximize)",
    ):
        assert said in row, (said, row)
    assert table_rows(readme, "Tuned hyperparameters") == {
        "learning_rate": ["0.01 to 1.0 (continuous)", "Logarithmic"],
        "vector_dim": ["20 to 200 (integer)", "Auto"],
        "word_ngrams": ["1 to 3 (integer)", "Auto"],
    }
    static = table_rows(readme, "Training hyperparameters")
    assert static["epochs"] == ["15"] and not {"learning_rate", "vector_dim", "word_ngrams"} & set(static)
    assert "`make tune` runs the steps before TuneModel and the search, and stops there" in readme
    assert "Every trial\nkeeps its model under `TuneModel/trials/`" in readme


def test_a_grid_search_counts_its_combinations_and_lists_categorical_values(example_text):
    text = example_text("womens-clothing-bert.yaml").replace("    learning_rate: 0.00003\n", "")
    readme = readme_of(
        load_spec_text(
            text
            + """
tuning:
  strategy: Grid
  objective: {metric: "validation:accuracy"}
  ranges:
    warmup_ratio: {type: categorical, values: [0.0, 0.1, 0.2]}
    weight_decay: {type: categorical, values: [0.0, 0.01]}
""",
            SPECS / "womens-clothing-bert.yaml",
        )
    )
    row = next(line for line in readme.splitlines() if line.startswith("| TuneModel | tuning |"))
    assert "a Grid hyperparameter tuning job" in row
    assert "every combination of the ranges below (6 training jobs) of `train.py`" in row
    assert table_rows(readme, "Tuned hyperparameters") == {
        "warmup_ratio": ["one of `0.0`, `0.1`, `0.2`", ""],
        "weight_decay": ["one of `0.0`, `0.01`", ""],
    }


def test_without_tuning_no_tuned_table(example_text):
    readme = readme_of(load_spec_text(example_text(), SPECS / "womens-clothing-blazingtext.yaml"))
    assert "Tuned hyperparameters" not in readme
    assert re.search(r"^Training hyperparameters:$", readme, re.MULTILINE)
