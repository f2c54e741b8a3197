"""The monitoring, shadow-variant and batch sections: what users get wrong is refused where it is written."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sagespec.deployment import build_deployment
from sagespec.plan import DATA_QUALITY_STEP, EVALUATE_STEP, MODEL_QUALITY_STEP, REGISTER_STEP, build_plan
from sagespec.spec import load_spec_text
from sagespec.spec.models_monitoring import check_schedule, hours_between_jobs, schedule_expression

from .test_checks import assert_finding, messages

MONITORED = """
monitoring:
  data_quality: {schedule: daily}
  model_quality: {schedule: hourly, max_runtime_seconds: 1800}
batch:
  instance_type: ml.m5.large
"""
ONE_VARIANT = """deployment:
  variants:
    - name: Current
      instance_type: ml.m5.large
  shadow_variants:
    - {name: Shadow, model: {select: newest}, instance_type: ml.m5.large, initial_weight: 0.5}
  data_capture:
    enabled: true
"""


def unmonitored(text: str) -> str:
    """The example without its own monitoring and batch sections (and their comment lines)."""
    return re.sub(r"(?m)^(# [^\n]*\n)*(monitoring|batch):\n(  [^\n]*\n|\n)*", "", text)


def blazingtext(example_text, extra: str = MONITORED) -> str:
    return unmonitored(example_text()) + extra


def with_shadow(example_text, shadow: str = ONE_VARIANT) -> str:
    text = example_text()
    start = text.index("deployment:\n")
    end = text.index("\nlabeling:")
    return text[:start] + shadow + text[end:]


def test_a_monitored_spec_loads_and_plans_its_baselines(example_text):
    loaded = load_spec_text(blazingtext(example_text))
    assert not loaded.warnings
    plan = build_plan(loaded.spec)
    names = plan.names
    evaluate, register = names.index(EVALUATE_STEP), names.index(REGISTER_STEP)
    assert evaluate < names.index(DATA_QUALITY_STEP) < register
    assert evaluate < names.index(MODEL_QUALITY_STEP) < register
    assert plan.step(REGISTER_STEP).depends_on == (DATA_QUALITY_STEP, MODEL_QUALITY_STEP)
    assert "--monitoring-dir" in plan.step(EVALUATE_STEP).arguments
    assert [o.name for o in plan.step(EVALUATE_STEP).outputs] == ["evaluation", "monitoring"]
    assert plan.step(DATA_QUALITY_STEP).check == "data-quality"
    assert loaded.spec.batch is not None and loaded.spec.batch.instance_count == 1


def test_without_monitoring_nothing_changes(example_text):
    plan = build_plan(load_spec_text(unmonitored(example_text())).spec)
    assert DATA_QUALITY_STEP not in plan.names and MODEL_QUALITY_STEP not in plan.names
    assert "--monitoring-dir" not in plan.step(EVALUATE_STEP).arguments


@pytest.mark.parametrize(
    ("old", "new", "path", "fragment"),
    [
        (
            "enabled: true\n    sampling_percentage: 20",
            "enabled: false",
            "monitoring.data_quality",
            "capture",
        ),
        ("sampling_percentage: 20", "sampling_percentage: 0", "monitoring.model_quality", "nothing is"),
        ("labeling:\n  enabled: true", "labeling:\n  enabled: false", "monitoring.model_quality", "labeling"),
        ("schedule: daily", "schedule: weekly", "monitoring.data_quality.schedule", "cron expressions"),
        ("schedule: daily", "schedule: cron(0 24 ? * * *)", "monitoring.data_quality.schedule", "cron"),
        (
            "runtime_seconds: 1800",
            "runtime_seconds: 7200",
            "monitoring.model_quality.max_runtime_seconds",
            "hour",
        ),
        ("batch:\n  instance_type: ml.m5", "batch:\n  instance_type: m5", "batch.instance_type", "instance"),
    ],
)
def test_monitoring_mistakes_are_named_where_they_are(example_text, old, new, path, fragment):
    text = blazingtext(example_text)
    assert text.count(old) == 1
    assert_finding(text, old, new, path, fragment)


def test_a_line_break_after_an_instance_type_is_refused(example_text):
    # re.match's $ matches before a final line break: the pattern must hold for the whole text.
    text = blazingtext(example_text, MONITORED.replace("ml.m5.large", '"ml.m5.large\\n"'))
    assert "batch.instance_type" in messages(text)


def test_monitors_need_a_deployed_endpoint(example_text):
    text = blazingtext(example_text).replace("deployment:\n", "deployment:\n  enabled: false\n", 1)
    found = messages(text)
    assert "deployment.enabled" in found["monitoring.data_quality"]


def test_batch_needs_the_deployment_it_is_generated_with(example_text):
    text = blazingtext(example_text, "batch:\n  instance_count: 2\n")
    text = text.replace("deployment:\n", "deployment:\n  enabled: false\n", 1).replace(
        "labeling:\n  enabled: true", "labeling:\n  enabled: false"
    )
    assert "deployment.enabled" in messages(text)["batch"]


def test_a_shadow_copies_a_share_of_the_production_variants_requests(example_text):
    spec = load_spec_text(with_shadow(example_text)).spec
    deployment = build_deployment(spec)
    [shadow] = deployment.shadows
    assert (shadow.name, shadow.sampling_percent, shadow.model.select) == ("Shadow", 50, "newest")
    assert [v.name for v in deployment.variants] == ["Current"]


@pytest.mark.parametrize(
    ("old", "new", "path", "fragment"),
    [
        ("name: Shadow", "name: Current", "deployment.shadow_variants.0.name", "production variant"),
        ("weight: 0.5}", "weight: 2}", "deployment.shadow_variants.0.initial_weight", "at most"),
        ("weight: 0.5}", "weight: 0}", "deployment.shadow_variants.0.initial_weight", "greater"),
        (
            "      instance_type: ml.m5.large\n  shadow",
            "      instance_type: ml.m5.large\n    - name: Other\n  shadow",
            "deployment.shadow_variants",
            "exactly one production variant",
        ),
        ("{select: newest}", "{select: version}", "deployment.shadow_variants.0.model.version", "version"),
    ],
)
def test_shadow_mistakes_are_named_where_they_are(example_text, old, new, path, fragment):
    assert_finding(with_shadow(example_text), old, new, path, fragment)


def test_a_second_shadow_is_refused(example_text):
    shadow = ONE_VARIANT.splitlines(keepends=True)[5]
    assert "name: Shadow" in shadow
    text = with_shadow(example_text, ONE_VARIANT.replace(shadow, shadow + shadow.replace("Shadow", "Second")))
    assert "deployment.shadow_variants" in messages(text)


@pytest.mark.parametrize(
    ("schedule", "hours"),
    [
        ("hourly", 1),
        ("daily", 24),
        ("cron(0 12 ? * * *)", 24),
        ("cron(0 17/12 ? * * *)", 12),
        ("cron(0 0/2 ? * * *)", 2),
    ],
)
def test_schedules_model_monitor_takes(schedule, hours):
    assert check_schedule(schedule) == schedule
    assert hours_between_jobs(schedule) == hours
    assert schedule_expression(schedule).startswith("cron(0 ")


@given(st.text(max_size=40))
def test_any_other_schedule_text_is_refused_or_is_one_model_monitor_takes(text):
    try:
        check_schedule(text)
    except ValueError as exc:
        assert "cron" in str(exc)
    else:
        expression = schedule_expression(text)
        minute, hours, day, month, weekday, year = expression[len("cron(") : -1].split(" ")
        assert (minute, day, month, weekday, year) == ("0", "?", "*", "*", "*")
        assert hours == "*" or 0 <= int(hours.split("/")[0]) <= 23
