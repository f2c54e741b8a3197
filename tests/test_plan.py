"""The step list both the SageMaker pipeline and the local runner execute."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sagespec.errors import SpecError
from sagespec.plan import build_plan, tuning_job_count
from sagespec.spec import load_spec_text
from sagespec.spec.catalog import hyperparameter_text


def plan_of(text):
    return build_plan(load_spec_text(text).spec)


def arg(step, flag):
    return step.arguments[step.arguments.index(flag) + 1]


def test_blazingtext_steps_in_order(example_text):
    plan = plan_of(example_text())
    assert plan.names == [
        "PrepareData",
        "PreprocessData",
        "CheckDataBias",
        "TrainModel",
        "EvaluateModel",
        "BaselineDataQuality",  # the example monitors its endpoint (monitoring)
        "BaselineModelQuality",
        "CheckEvaluation",
        "RegisterModel",
        "FailPipeline",
    ]
    prepare = plan.step("PrepareData")
    assert json.loads(arg(prepare, "--label-mapping")) == {"1": "-1", "2": "-1", "3": "0", "4": "1", "5": "1"}
    assert arg(prepare, "--text-column") == "Review Text"
    assert arg(prepare, "--seed") == "42"
    pre = plan.step("PreprocessData")
    assert arg(pre, "--output-format") == "blazingtext"
    assert arg(pre, "--balance") == "downsample"
    train = plan.step("TrainModel")
    assert train.script is None  # a built-in algorithm
    assert train.hyperparameters["mode"] == "supervised"
    assert train.hyperparameters["epochs"] == "15" and train.hyperparameters["vector_dim"] == "50"
    assert train.hyperparameters["early_stopping"] == "false"  # defaults filled in
    assert plan.condition.json_path == "metrics.accuracy.value" and plan.condition.threshold == 0.6


@pytest.mark.parametrize("name", ["womens-clothing-blazingtext.yaml", "womens-clothing-bert.yaml"])
def test_the_data_steps_shard_their_inputs_by_s3_key(example_text, name):
    """PrepareData reads the raw files sharded; PreprocessData reads PrepareData's row parts sharded and
    its class counts replicated (every instance needs all of them to balance and split alike); the
    arguments point each script at the folders its inputs land in."""
    plan = plan_of(example_text(name))
    assert plan.names[:2] == ["PrepareData", "PreprocessData"]
    prepare, pre = plan.step("PrepareData"), plan.step("PreprocessData")
    assert [(i.name, i.source, i.destination, i.distribution) for i in prepare.inputs] == [
        ("input-data", "param:InputDataUrl", "/opt/ml/processing/input/data", "ShardedByS3Key")
    ]
    assert [o.name for o in prepare.outputs] == ["rows", "counts"]
    assert [(i.name, i.source, i.destination, i.distribution) for i in pre.inputs] == [
        ("rows", "step:PrepareData/rows", "/opt/ml/processing/input/rows", "ShardedByS3Key"),
        ("counts", "step:PrepareData/counts", "/opt/ml/processing/input/counts", "FullyReplicated"),
    ]
    assert [o.name for o in pre.outputs] == ["train", "validation", "test", "bias"]
    assert arg(prepare, "--input-dir") == prepare.inputs[0].destination
    assert arg(pre, "--input-dir") == pre.inputs[0].destination
    assert arg(pre, "--counts-dir") == pre.inputs[1].destination
    # Every other step reads its inputs whole.
    rest = [i for step in plan.steps[2:] for i in step.inputs]
    assert rest and all(i.distribution == "FullyReplicated" for i in rest)


def test_bert_plan_tokenises_and_runs_the_script(example_text):
    plan = plan_of(example_text("womens-clothing-bert.yaml"))
    pre = plan.step("PreprocessData")
    assert arg(pre, "--output-format") == "tfrecord"
    assert arg(pre, "--tokenizer") == "sentence-transformers/all-MiniLM-L6-v2"
    assert arg(pre, "--max-seq-length") == "128"
    train = plan.step("TrainModel")
    assert train.script == "train.py"
    assert train.hyperparameters["pretrained_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert train.hyperparameters["learning_rate"] == "3e-05"


def test_bias_off_drops_the_check(example_text):
    plan = plan_of(example_text().replace("bias:\n", "bias:\n  enabled: false\n"))
    assert "CheckDataBias" not in plan.names
    assert plan.step("TrainModel").depends_on == ()


def test_tuning_replaces_training_and_leaves_tuned_hyperparameters_to_the_tuner(example_text):
    text = example_text().replace("    learning_rate: 0.1\n", "") + (
        "tuning:\n  objective: {metric: 'validation:accuracy'}\n"
        "  ranges:\n    learning_rate: {type: continuous, min: 0.01, max: 0.2}\n"
    )
    plan = plan_of(text)
    tune = plan.step("TuneModel")
    assert tune.kind == "tuning" and "learning_rate" not in tune.hyperparameters
    assert plan.step("EvaluateModel").inputs[0].source == "step:TuneModel/model"


# ----------------------------------------------------------------------------------- one owner per fact
@settings(deadline=None)  # the first example imports the renderer and the local tuner
@given(st.floats(min_value=1e-6, max_value=10, allow_nan=False) | st.integers(1, 10))
def test_a_hyperparameter_has_one_text_everywhere(value):
    """The text a job receives for a value (the pipeline definition's, the tuner's, the local search's)
    is one function's, and the float the job parses from it is the value itself."""
    from sagespec.local.tuning import Dimension
    from sagespec.render.context_tuning import range_dict
    from sagespec.spec.models import CategoricalRange

    text = hyperparameter_text(value)
    assert float(text) == value
    rng = CategoricalRange(type="categorical", values=[value])
    assert range_dict(rng)["values"] == [text]
    assert Dimension.from_range("learning_rate", rng).choices == (text,)


def test_the_definition_keeps_a_whole_float_as_a_float(example_text):
    plan = plan_of(example_text().replace("learning_rate: 0.1", "learning_rate: 2.0"))
    assert plan.step("TrainModel").hyperparameters["learning_rate"] == "2.0"
    assert hyperparameter_text(True) == "true" and hyperparameter_text(2) == "2"


def test_one_and_one_point_zero_are_one_choice_of_a_float_hyperparameter(example_text):
    text = example_text().replace("    learning_rate: 0.1\n", "") + (
        "tuning:\n  objective: {metric: 'validation:accuracy'}\n"
        "  ranges:\n    learning_rate: {type: categorical, values: [1, 1.0, 2]}\n"
    )
    with pytest.raises(SpecError) as failed:
        load_spec_text(text)
    assert "tuning.ranges.learning_rate.values.1: 1.0 is listed twice" in failed.value.render()


@pytest.mark.parametrize(
    ("strategy", "ranges", "jobs"),
    [
        ("Grid", "{learning_rate: {type: categorical, values: [0.1, 0.2]}, "
         "vector_dim: {type: categorical, values: [10, 20, 30]}}", 6),
        ("Bayesian", "{learning_rate: {type: continuous, min: 0.01, max: 0.2}}", 7),
    ],
)  # fmt: skip
def test_the_tuning_job_count_is_computed_once(example_text, strategy, ranges, jobs):
    from sagespec.local.tuning import SearchSettings
    from sagespec.render.context_tuning import tuning_group

    text = example_text().replace("    learning_rate: 0.1\n", "").replace("    vector_dim: 50\n", "") + (
        f"tuning:\n  strategy: {strategy}\n  objective: {{metric: 'validation:accuracy'}}\n"
        f"  max_jobs: 7\n  ranges: {ranges}\n"
    )
    spec = load_spec_text(text).spec
    assert tuning_job_count(spec) == jobs
    assert SearchSettings.from_spec(spec).trials == jobs
    group = tuning_group(spec, build_plan(spec))
    assert group is not None
    assert (group.grid_size if strategy == "Grid" else group.max_jobs) == jobs


def test_step_names_are_the_plans_constants(example_text):
    from sagespec import plan as plan_module

    names = {value for name, value in vars(plan_module).items() if name.endswith("_STEP")}
    for spec_name in ("womens-clothing-blazingtext.yaml", "womens-clothing-blazingtext-tuning.yaml"):
        assert set(plan_of(example_text(spec_name)).names) <= names
