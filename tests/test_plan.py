"""The step list both the SageMaker pipeline and the local runner execute."""

from __future__ import annotations

import json

from sagespec.plan import build_plan
from sagespec.spec import load_spec_text


def plan_of(text):
    return build_plan(load_spec_text(text).spec)


def arg(step, flag):
    return step.arguments[step.arguments.index(flag) + 1]


def test_blazingtext_steps_in_order(example_text):
    plan = plan_of(example_text())
    assert plan.names == [
        "PreprocessData",
        "CheckDataBias",
        "TrainModel",
        "EvaluateModel",
        "CheckEvaluation",
        "RegisterModel",
        "FailPipeline",
    ]
    pre = plan.step("PreprocessData")
    assert json.loads(arg(pre, "--label-mapping")) == {"1": "-1", "2": "-1", "3": "0", "4": "1", "5": "1"}
    assert arg(pre, "--text-column") == "Review Text"
    assert arg(pre, "--output-format") == "blazingtext"
    train = plan.step("TrainModel")
    assert train.script is None  # a built-in algorithm
    assert train.hyperparameters["mode"] == "supervised"
    assert train.hyperparameters["epochs"] == "15" and train.hyperparameters["vector_dim"] == "50"
    assert train.hyperparameters["early_stopping"] == "false"  # defaults filled in
    assert plan.condition.json_path == "metrics.accuracy.value" and plan.condition.threshold == 0.6


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
