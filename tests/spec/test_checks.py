"""Cross-field rules: each one fires on the mistake it exists for, and only then."""

from __future__ import annotations

import pytest

from sagespec.errors import SpecError
from sagespec.spec import load_spec_text


def messages(text: str) -> dict[str, str]:
    try:
        loaded = load_spec_text(text)
    except SpecError as exc:
        return {i.path: i.message for i in exc.issues + exc.warnings}
    return {w.path: w.message for w in loaded.warnings}


def assert_finding(text: str, old: str, new: str, path: str, fragment: str) -> None:
    """Replacing ``old`` (its first occurrence) by ``new`` in ``text`` gives a finding at ``path`` saying
    ``fragment``."""
    assert old in text
    found = messages(text.replace(old, new, 1))
    assert path in found, found
    assert fragment in found[path]


def test_examples_have_no_findings(example_text):
    assert messages(example_text()) == {}
    assert messages(example_text("womens-clothing-bert.yaml")) == {}


@pytest.mark.parametrize(
    ("old", "new", "path", "fragment"),
    [
        ("    learning_rate: 0.1\n", "    learning_rate: 0\n", "model.hyperparameters.learning_rate", "> 0"),
        ("    word_ngrams: 2\n", "    word_ngrams: two\n", "model.hyperparameters.word_ngrams", "integer"),
        (
            "    min_count: 2\n",
            "    min_count: 2\n    early_stopping: 1\n",
            "model.hyperparameters.early_stopping",
            "true or false",
        ),
        (
            "    epochs: 15\n",
            "    mode: skipgram\n",
            "model.hyperparameters.mode",
            "set by the generated pipeline",
        ),
        (
            "  instance_type: ml.c5.2xlarge\n",
            "  instance_type: ml.c5.2xlarge\n  instance_count: 2\n",
            "model.instance_count",
            "single instance",
        ),
        ("DPL: {threshold: 0.7}", "DPL: {threshold: 1.5}", "bias.metrics.DPL.threshold", "never be breached"),
        ("positive_labels: [1]", "positive_labels: []", "bias.positive_labels", "positive class"),
        (
            "    - column: Class Name\n",
            "    - column: Department Name\n",
            "bias.facets.0.column",
            "not in dataset.facet_columns",
        ),
        ("    JS: {threshold: 0.1}\n", "    CDDL: {threshold: 0.5}\n", "bias.group_column", "group column"),
        (
            "facet_columns: [Class Name]",
            "facet_columns: [Class Name, Rating]",
            "dataset.facet_columns.1",
            "text or label",
        ),
        (
            "facet_columns: [Class Name]",
            "facet_columns: [Class Name, label]",
            "dataset.facet_columns.1",
            "the data steps use for their own",
        ),
        (
            "facet_columns: [Class Name]",
            "facet_columns: [key, Class Name]",
            "dataset.facet_columns.0",
            "rename the column",
        ),
        (
            "label_mapping: {1: -1, 2: -1, 3: 0, 4: 1, 5: 1}",
            "label_mapping: {1: 1, 2: 1}",
            "dataset.label_mapping",
            "at least 2",
        ),
    ],
)
def test_rule_fires(example_text, old, new, path, fragment):
    assert_finding(example_text(), old, new, path, fragment)


def test_bert_on_cpu_is_a_warning_not_an_error(example_text):
    text = example_text("womens-clothing-bert.yaml").replace(
        "  instance_type: ml.g5.xlarge\n  instance_count", "  instance_type: ml.m5.xlarge\n  instance_count"
    )
    loaded = load_spec_text(text)
    assert [w.path for w in loaded.warnings] == ["model.instance_type"]
    assert "no GPU" in loaded.warnings[0].message


def test_spot_wait_must_cover_runtime(example_text):
    text = example_text("womens-clothing-bert.yaml").replace(
        "max_wait_seconds: 172800", "max_wait_seconds: 3600"
    )
    assert "max_runtime_seconds" in messages(text)["model.spot.max_wait_seconds"]


@pytest.mark.parametrize(
    ("framework", "field", "other"),
    [("pytorch", "xla", "model.compile"), ("tensorflow", "compile", "model.xla")],
)
def test_each_framework_refuses_the_others_compiler(example_text, framework, field, other):
    text = example_text("womens-clothing-bert.yaml").replace(
        "  type: bert\n", f"  type: bert\n  framework: {framework}\n  {field}: true\n"
    )
    assert other in messages(text)[f"model.{field}"]


def test_pytorch_bert_takes_its_own_hyperparameters(example_text):
    text = example_text("womens-clothing-bert.yaml").replace(
        "  type: bert\n", "  type: bert\n  framework: pytorch\n"
    )
    assert messages(text) == {}
    accumulate = text.replace(
        "  hyperparameters:\n", "  hyperparameters:\n    gradient_accumulation_steps: 4\n"
    )
    assert messages(accumulate) == {}
    tensorflow = accumulate.replace("  framework: pytorch\n", "")
    assert (
        "unknown hyperparameter" in messages(tensorflow)["model.hyperparameters.gradient_accumulation_steps"]
    )


DEPLOYMENT = """
deployment:
  variants:
    - {name: A, initial_weight: 1}
    - {name: A, initial_weight: 0}
    - {name: S, serverless: {memory_size_mb: 2048}}
  traffic_shifting: {type: canary, canary_percent: 150}
  autoscaling:
    - {variant: Z}
    - {variant: S}
    - {variant: A, min_instances: 4, max_instances: 2}
"""


def test_deployment_rules(example_text):
    text = example_text().split("deployment:")[0] + DEPLOYMENT
    found = messages(text)
    assert "duplicate variant name" in found["deployment.variants.1.name"]
    assert "positive" in found["deployment.variants.1.initial_weight"]
    assert "no variant named 'Z'" in found["deployment.autoscaling.0.variant"]
    assert "serverless" in found["deployment.autoscaling.1.variant"]
    assert "max_instances" in found["deployment.autoscaling.2.min_instances"]
    assert "between 0 and 100" in found["deployment.traffic_shifting.canary_percent"]
    assert "serverless" in found["deployment.traffic_shifting.type"]


TUNING = """
tuning:
  strategy: {strategy}
  objective: {{metric: {metric}}}
  max_jobs: 4
  max_parallel_jobs: {parallel}
  early_stopping: {early}
  ranges:
    learning_rate: {{type: continuous, min: {lr_min}, max: 0.1, scaling: Logarithmic}}
    vector_dim: {{type: integer, min: 300, max: 100}}
    dropout: {{type: continuous, min: 0.1, max: 0.5}}
"""


def test_tuning_rules(example_text):
    text = example_text() + TUNING.format(
        strategy="Hyperband", metric="validation:accuracy", parallel=8, early="Auto", lr_min=0
    )
    found = messages(text)
    assert "max_jobs" in found["tuning.max_parallel_jobs"]
    assert "min > 0" in found["tuning.ranges.learning_rate.scaling"]
    assert "below max" in found["tuning.ranges.vector_dim.min"]
    assert "no hyperparameter 'dropout'" in found["tuning.ranges.dropout"]
    assert "Off" in found["tuning.early_stopping"]
    assert "every epoch" in found["tuning.strategy"]
    assert "also fixed" in found["tuning.ranges.learning_rate"]


def test_tuning_objective_must_be_emitted(example_text):
    text = example_text() + TUNING.format(
        strategy="Grid", metric="validation:f1", parallel=1, early="Off", lr_min=0.01
    )
    found = messages(text)
    assert "never emits 'validation:f1'" in found["tuning.objective.metric"]
    assert "categorical" in found["tuning.ranges.learning_rate.type"]


def _without_fixed(text: str) -> str:
    """The example with its learning_rate, word_ngrams and vector_dim free to tune."""
    for fixed in ("    learning_rate: 0.1\n", "    word_ngrams: 2\n", "    vector_dim: 50\n"):
        assert fixed in text
        text = text.replace(fixed, "")
    return text


def test_grid_search_rules(example_text):
    text = (
        _without_fixed(example_text())
        + """
tuning:
  strategy: Grid
  objective: {metric: "validation:accuracy"}
  max_jobs: 5
  ranges:
    learning_rate: {type: categorical, values: [0.1, 0.2, 0.1]}
    vector_dim: {type: categorical, values: [10, 20]}
  warm_start: {parent_jobs: [previous-tuning-job]}
"""
    )
    found = messages(text)
    assert "listed twice" in found["tuning.ranges.learning_rate.values.2"]
    assert "every combination" in found["tuning.max_jobs"] and "(6 jobs)" in found["tuning.max_jobs"]
    assert "Bayesian or Random" in found["tuning.warm_start"]
    assert set(found) == {"tuning.ranges.learning_rate.values.2", "tuning.max_jobs", "tuning.warm_start"}


def test_grid_without_max_jobs_is_quiet(example_text):
    text = (
        _without_fixed(example_text())
        + """
tuning:
  strategy: Grid
  objective: {metric: "validation:accuracy"}
  ranges:
    word_ngrams: {type: categorical, values: [1, 2, 3]}
"""
    )
    assert messages(text) == {}


def test_scaling_and_warm_start_rules(example_text):
    text = (
        _without_fixed(example_text())
        + """
tuning:
  objective: {metric: "validation:accuracy"}
  ranges:
    vector_dim: {type: integer, min: 10, max: 100, scaling: ReverseLogarithmic}
    learning_rate: {type: continuous, min: 0.01, max: 1.5, scaling: ReverseLogarithmic}
    word_ngrams: {type: integer, min: 0, max: 3, scaling: Logarithmic}
  warm_start: {parent_jobs: [not_a_job_name]}
"""
    )
    found = messages(text)
    assert "continuous ranges" in found["tuning.ranges.vector_dim.scaling"]
    assert "max < 1" in found["tuning.ranges.learning_rate.scaling"]
    assert "min > 0" in found["tuning.ranges.word_ngrams.scaling"]
    assert "not a tuning job name" in found["tuning.warm_start.parent_jobs.0"]
    assert "tuning.warm_start" not in found  # Bayesian may warm start


def test_bert_hyperband_is_fine_but_not_over_epochs(example_text):
    text = (
        example_text("womens-clothing-bert.yaml").replace("    epochs: 3\n", "")
        + """
tuning:
  strategy: Hyperband
  objective: {metric: "validation:loss", direction: Minimize}
  ranges:
    weight_decay: {type: continuous, min: 0.0, max: 0.1}
    epochs: {type: integer, min: 1, max: 4}
"""
    )
    found = messages(text)
    assert set(found) <= {"tuning.ranges.epochs", "tuning.ranges.weight_decay"}, found
    assert "Hyperband decides" in found["tuning.ranges.epochs"]


def test_bert_sequence_length_is_not_tunable(example_text):
    text = (
        example_text("womens-clothing-bert.yaml").replace("    max_seq_length: 128\n", "")
        + """
tuning:
  objective: {metric: "validation:accuracy"}
  ranges:
    max_seq_length: {type: categorical, values: [64, 128]}
"""
    )
    assert "tokenizes" in messages(text)["tuning.ranges.max_seq_length"]


LABELING = """
labeling:
  enabled: true
  confidence_threshold: 0.6
  labels: {Negative: -1, Positive: 1, Great: 2}
"""


def test_labeling_rules(example_text):
    found = messages(example_text("womens-clothing-bert.yaml") + LABELING)
    assert "not a class label" in found["labeling.labels.Great"]
    assert "one name to each class" in found["labeling.labels"]
    assert "work_team_arn" in found["labeling.workforce"]


def test_studio_rules(example_text):
    bert = example_text("womens-clothing-bert.yaml")
    found = messages(bert + "ci:\n  codebuild: {enabled: false}\n")
    assert "no template is generated" in found["studio.enabled"]
    off = "ci:\n  codebuild: {enabled: false}\nstudio: {enabled: false}\n"
    assert "studio.enabled" not in messages(bert + off)
    codecommit = "studio:\n  repository: codecommit\n  repository_id: acme/reviews\n"
    assert "only used with repository: codeconnections" in messages(bert + codecommit)["studio.repository_id"]
    assert messages(bert + "studio:\n  repository_id: acme/reviews\n") == {}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("connection_arn", "arn:aws:iam::123456789012:role/not-a-connection"),
        ("connection_arn", "arn:aws:codeconnections:us-east-1:1234:connection/abc"),
        ("repository_id", "just-a-name"),
        ("repository_id", "acme/reviews; rm -rf /"),
    ],
)
def test_studio_source_fields_are_checked(example_text, field, value):
    found = messages(example_text("womens-clothing-bert.yaml") + f"studio:\n  {field}: {value!r}\n")
    assert f"studio.{field}" in found


def test_profiler_is_no_longer_a_warning(example_text):
    text = example_text("womens-clothing-bert.yaml").replace(
        "  mixed_precision: auto\n", "  mixed_precision: auto\n  debugger: {profiler: true}\n"
    )
    loaded = load_spec_text(text)
    assert not loaded.warnings


# --- limits that relate fields (issue 13)
@pytest.mark.parametrize(
    ("shifting", "path"),
    [
        ("{type: canary, canary_percent: 12.5}", "deployment.traffic_shifting.canary_percent"),
        ("{type: linear, linear_step_percent: 0.5}", "deployment.traffic_shifting.linear_step_percent"),
    ],
)
def test_traffic_sizes_are_whole_percents(example_text, shifting, path):
    text = example_text().split("deployment:")[0] + (
        f"deployment:\n  variants: [{{name: A}}]\n  traffic_shifting: {shifting}\n"
    )
    assert "whole percent" in messages(text)[path]


def test_json_container_arguments_fit_sagemakers_limit(example_text):
    many = ", ".join(f"Column number {i:03d}" for i in range(20))
    text = example_text().replace("facet_columns: [Class Name]", f"facet_columns: [Class Name, {many}]")
    assert "at most 256 characters" in messages(text)["dataset.facet_columns"]


def test_invalid_s3_dataset_source_is_refused(example_text):
    text = example_text().replace(
        "source: ../data/womens_clothing_ecommerce_reviews.csv", "source: s3://Bad_Bucket/reviews.csv"
    )
    assert "lower-case letters" in messages(text)["dataset.source"]


def test_sub_reference_in_dataset_source_is_refused(example_text):
    text = example_text().replace(
        "source: ../data/womens_clothing_ecommerce_reviews.csv", "source: s3://my-bucket/${AWS::Region}.csv"
    )
    assert "!Sub" in messages(text)["dataset.source"]


def test_worker_instructions_fit_the_a2i_template(example_text):
    long = "x" * 130_000
    text = example_text("womens-clothing-bert.yaml") + LABELING.replace(
        "confidence_threshold: 0.6", f"instructions: {{full: {long}}}"
    )
    assert "128,000" in messages(text)["labeling.instructions"]


@pytest.mark.parametrize("blank", ["' '", '"\\x1f"', '"\\u2028\\t"'])
def test_short_worker_instructions_need_visible_text(example_text, blank):
    """Whitespace or separator characters alone would render the reviewers an empty instruction box."""
    text = example_text("womens-clothing-bert.yaml") + LABELING.replace(
        "confidence_threshold: 0.6", f"instructions: {{short: {blank}}}"
    )
    assert "visible text" in messages(text)["labeling.instructions.short"]


def _replace(model, **changes):
    return model.model_copy(update=changes)


def test_checks_refuse_nan_even_when_it_gets_past_the_loader(example_text):
    """Belt and braces: a NaN compares false with everything, so checks are written 'not x > 0'."""
    from sagespec.spec.catalog import ALGORITHMS
    from sagespec.spec.checks import check_bias, check_deployment
    from sagespec.spec.checks_tuning import check_tuning
    from sagespec.spec.models import ContinuousRange

    spec = load_spec_text(example_text()).spec
    nan = float("nan")
    variant = _replace(spec.deployment.variants[0], initial_weight=nan)
    with_nan = _replace(spec, deployment=_replace(spec.deployment, variants=[variant]))
    assert any(p.endswith("initial_weight") for p, _, _ in check_deployment(with_nan))

    metric = _replace(spec.bias.metrics["DPL"], threshold=nan)
    with_nan = _replace(spec, bias=_replace(spec.bias, metrics={"DPL": metric}))
    assert any(p == "bias.metrics.DPL.threshold" for p, _, _ in check_bias(with_nan))

    text = _without_fixed(example_text()) + (
        "tuning:\n  objective: {metric: 'validation:accuracy'}\n"
        "  ranges: {learning_rate: {type: continuous, min: 0.01, max: 0.1, scaling: Logarithmic}}\n"
    )
    spec = load_spec_text(text).spec
    rng = ContinuousRange(type="continuous", min=nan, max=0.1, scaling="Logarithmic")
    with_nan = _replace(spec, tuning=_replace(spec.tuning, ranges={"learning_rate": rng}))
    paths = {p for p, _, _ in check_tuning(with_nan)}
    assert {"tuning.ranges.learning_rate.min", "tuning.ranges.learning_rate.scaling"} <= paths

    for algorithm in ALGORITHMS.values():
        for hp in algorithm.hyperparameters.values():
            if hp.kind == "float":
                assert hp.check(nan) is not None and hp.check(float("inf")) is not None


@pytest.mark.parametrize(
    ("old", "new", "path", "fragment"),
    [
        (
            "    buckets: 100000        # hash buckets for word bigrams; keeps model.bin near 20 MB\n",
            "    buckets: 1000000000000\n",
            "model.hyperparameters.buckets",
            "<= 2,147,483,647",
        ),
        (
            "    min_count: 2\n",
            "    min_count: 10000000000\n",
            "model.hyperparameters.min_count",
            "<= 2,147,483,647",
        ),
        ("    epochs: 15\n", "    patience: 100000\n", "model.hyperparameters.patience", "<= 1000"),
    ],
)
def test_hyperparameters_have_upper_bounds(example_text, old, new, path, fragment):
    text = example_text()
    assert old in text
    assert fragment in messages(text.replace(old, new))[path]


def test_bert_seed_is_a_32_bit_integer(example_text):
    text = example_text("womens-clothing-bert.yaml").replace(
        "    epochs: 3\n", "    epochs: 3\n    seed: 4294967296\n"
    )
    assert "<= 2,147,483,647" in messages(text)["model.hyperparameters.seed"]


def test_blazingtext_class_labels_may_hold_spaces(example_text):
    # preprocess.py percent-encodes them in BlazingText's __label__ format (tests/test_step_scripts.py).
    text = example_text().replace("label_mapping: {1: -1,", "label_mapping: {1: very bad,")
    assert "dataset.label_mapping.1" not in messages(text)


def test_registry_inference_instance_types_are_instance_types(example_text):
    text = example_text().replace(
        "  approval_status: PendingManualApproval\n",
        "  approval_status: PendingManualApproval\n  inference_instance_types: [m5.large]\n",
    )
    assert "not a SageMaker instance type" in messages(text)["registry.inference_instance_types.0"]


def test_lp_threshold_beyond_its_range_can_never_breach(example_text):
    text = example_text().replace("    JS: {threshold: 0.1}\n", "    LP: {threshold: 1.5}\n")
    assert "never be breached" in messages(text)["bias.metrics.LP.threshold"]


TEAM = "work_team_arn: arn:aws:sagemaker:us-east-1:111122223333:workteam/private-crowd/reviewers"
POOL = "cognito_user_pool_id: us-east-1_AbC123, cognito_client_id: 1example23456789"


@pytest.mark.parametrize(
    ("workforce", "fragment"),
    [
        ("{}", "exactly one of"),
        (f"{{{TEAM}, create: cognito}}", "exactly one of"),
        (f"{{{POOL}, create: cognito}}", "exactly one of"),
        ("{cognito_user_pool_id: us-east-1_AbC123}", "both cognito_user_pool_id and cognito_client_id"),
    ],
)
def test_a_workforce_is_exactly_one_source_of_reviewers(example_text, workforce, fragment):
    text = example_text().replace(TEAM, "")
    text = text.replace("  workforce:\n", f"  workforce: {workforce}\n")
    assert fragment in messages(text)["labeling.workforce"]


def test_a_created_workforce_needs_the_studio_template(example_text):
    text = example_text().replace(TEAM, "create: cognito")
    assert "labeling.workforce" not in messages(text)
    found = messages(text + "studio:\n  enabled: false\n")
    assert "needs studio.enabled" in found["labeling.workforce.create"]
