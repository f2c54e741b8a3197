"""The template context: computed values the templates print, grouped by concern."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import jinja2
import pytest

from sagespec.plan import EVALUATE_STEP, PREPROCESS_STEP, build_plan
from sagespec.render.context import build_context, local_data_path
from sagespec.render.engine import make_environment
from sagespec.render.origin import detect_origin
from sagespec.spec import load_spec, load_spec_text
from sagespec.spec.dataset_check import facet_values


def test_names_derive_from_the_slug(example_text):
    ctx = build_context(load_spec_text(example_text()).spec)
    assert ctx["project"].pkg == "reviews_blazingtext"
    assert ctx["project"].pipeline_name == "ReviewsBlazingtextPipeline"
    assert ctx["registry"].model_package_group == "reviews-blazingtext-models"
    assert ctx["data"].default_key == "reviews-blazingtext/data/womens_clothing_ecommerce_reviews.csv"
    assert ctx["bias"].thresholds == {"DPL": 0.7, "KL": 0.5, "JS": 0.1}


@pytest.mark.parametrize(
    "name",
    [
        "womens-clothing-blazingtext.yaml",
        "womens-clothing-blazingtext-tuning.yaml",
        "womens-clothing-bert.yaml",
    ],
)
def test_the_steps_values_are_the_plans(example_text, name):
    spec = load_spec_text(example_text(name)).spec
    plan = build_plan(spec)
    ctx = build_context(spec)
    train = next(step for step in plan.steps if step.kind in ("training", "tuning"))
    assert ctx["plan"] == plan
    assert ctx["preprocess"].arguments == list(plan.step(PREPROCESS_STEP).arguments)
    assert ctx["evaluation"].arguments == list(plan.step(EVALUATE_STEP).arguments)
    assert (ctx["training"].step_name, ctx["training"].hyperparameters) == (train.name, train.hyperparameters)
    assert ctx["evaluation"].json_path == plan.condition.json_path
    assert (ctx["tuning"] is not None) == (train.kind == "tuning")


def test_a_misspelled_name_fails_the_render(example_text, tmp_path):
    """Groups are frozen dataclasses: a name a group lacks is undefined, and StrictUndefined fails."""
    ctx = build_context(load_spec_text(example_text()).spec)
    (tmp_path / "ok.j2").write_text("{{ deploy.endpoint_name }}")
    (tmp_path / "typo.j2").write_text("{{ deploy.endpoint_nmae }}")
    env = make_environment(tmp_path)
    assert env.get_template("ok.j2").render(ctx) == "reviews-blazingtext"
    with pytest.raises(jinja2.UndefinedError, match="endpoint_nmae"):
        env.get_template("typo.j2").render(ctx)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx["deploy"].endpoint_name = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("../data/x.csv", "data/x.csv"),
        ("/abs/../../etc/passwd", "data/passwd"),
        ("C:\\Users\\me\\reviews.csv", "data/reviews.csv"),
        ("s3://bucket/key/x.csv", None),
    ],
)
def test_local_data_path_stays_in_data(example_text, source, expected):
    text = example_text().replace(
        "../data/womens_clothing_ecommerce_reviews.csv", source.replace("\\", "\\\\")
    )
    text = text.replace(f"source: {source.replace(chr(92), chr(92) * 2)}", f"source: '{source}'")
    assert local_data_path(load_spec_text(text).spec) == expected


def _leaves(name: str, value: object) -> set[str]:
    """``group.field`` for each field of a group (a dataclass), else the top-level name itself."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type) and name != "plan":
        return {f"{name}.{field.name}" for field in dataclasses.fields(value)}
    return {name}


def test_every_context_value_is_read_by_a_template():
    root = Path(__file__).resolve().parents[2]
    templates = "\n".join(p.read_text() for p in (root / "template").rglob("*.j2"))
    leaves: set[str] = set()
    for spec in sorted((root / "specs").glob("*.yaml")):
        loaded = load_spec(spec)
        context = build_context(loaded.spec, facet_values(loaded), detect_origin())
        for name, value in context.items():
            leaves |= _leaves(name, value)
    assert "tuning.ranges" in leaves and "deploy.endpoint_name" in leaves  # the groups were walked
    unread = sorted(leaf for leaf in leaves if not re.search(rf"\b{re.escape(leaf)}\b", templates))
    assert unread == []
