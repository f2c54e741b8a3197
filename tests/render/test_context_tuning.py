"""The tuning group of the template context: plain data for pipelines/<pkg>/tuning.py."""

from __future__ import annotations

from sagespec.plan import build_plan
from sagespec.render.context import build_context
from sagespec.render.context_tuning import tuning_group
from sagespec.spec import load_spec_text


def _spec(example_text, tuning: str, name: str = "womens-clothing-bert.yaml"):
    text = example_text(name)
    for fixed in ("    epochs: 3\n", "    learning_rate: 0.00003\n"):
        text = text.replace(fixed, "")
    return load_spec_text(text + tuning).spec


def test_no_tuning_no_tuning_step(example_text):
    spec = load_spec_text(example_text()).spec
    assert tuning_group(spec, build_plan(spec)) is None
    assert build_context(spec)["tuning"] is None


def test_ranges_become_plain_data(example_text):
    spec = _spec(
        example_text,
        """
tuning:
  strategy: Hyperband
  objective: {metric: "validation:loss", direction: Minimize}
  max_jobs: 12
  max_parallel_jobs: 3
  ranges:
    learning_rate: {type: continuous, min: 0.00001, max: 0.001, scaling: Logarithmic}
    epochs: {type: integer, min: 1, max: 6}
    freeze_encoder: {type: categorical, values: [true, false]}
""",
    )
    tuning = build_context(spec)["tuning"]
    assert tuning.step_name == "TuneModel"
    assert (tuning.objective_metric, tuning.objective_type) == ("validation:loss", "Minimize")
    assert (tuning.max_jobs, tuning.max_parallel_jobs) == (12, 3)
    assert tuning.ranges == {
        "learning_rate": {"type": "continuous", "min": 1e-05, "max": 0.001, "scaling": "Logarithmic"},
        "epochs": {"type": "integer", "min": 1, "max": 6, "scaling": "Auto"},
        # As the training job receives them (the scripts parse "true"/"false").
        "freeze_encoder": {"type": "categorical", "values": ["true", "false"]},
    }
    # Hyperband's resource is the epoch: up to the top of the tuned epochs range.
    assert tuning.strategy_config == {"HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": 6}}


def test_hyperband_takes_the_static_epochs(example_text):
    spec = _spec(
        example_text,
        """
tuning:
  strategy: Hyperband
  objective: {metric: "validation:accuracy"}
  ranges:
    learning_rate: {type: continuous, min: 0.00001, max: 0.001}
""",
    )
    config = tuning_group(spec, build_plan(spec)).strategy_config
    assert config == {"HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": 3}}  # the default epochs


def test_grid_sends_no_job_limit_and_warm_start_is_kept(example_text):
    spec = _spec(
        example_text,
        """
tuning:
  strategy: Grid
  objective: {metric: "validation:accuracy"}
  ranges:
    warmup_ratio: {type: categorical, values: [0.0, 0.1, 0.2]}
    weight_decay: {type: categorical, values: [0.0, 0.01]}
""",
    )
    tuning = tuning_group(spec, build_plan(spec))
    assert (tuning.max_jobs, tuning.grid_size, tuning.strategy_config) == (None, 6, None)
    assert tuning.ranges["weight_decay"]["values"] == ["0.0", "0.01"]
    warm = _spec(
        example_text,
        """
tuning:
  objective: {metric: "validation:accuracy"}
  ranges:
    weight_decay: {type: continuous, min: 0.0, max: 0.1}
  warm_start: {parent_jobs: [reviews-bert-tune-1], type: TransferLearning}
""",
    )
    assert tuning_group(warm, build_plan(warm)).warm_start == {
        "parent_jobs": ["reviews-bert-tune-1"],
        "type": "TransferLearning",
    }
