"""The template context: computed values the templates print."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sagespec.render.context import build_context, local_data_path
from sagespec.render.origin import detect_origin
from sagespec.spec import load_spec, load_spec_text
from sagespec.spec.dataset_check import facet_values


def test_names_derive_from_the_slug(example_text):
    ctx = build_context(load_spec_text(example_text()).spec)
    assert ctx["pkg"] == "reviews_blazingtext"
    assert ctx["pipeline_name"] == "ReviewsBlazingtextPipeline"
    assert ctx["model_package_group"] == "reviews-blazingtext-models"
    assert ctx["default_data_key"] == "reviews-blazingtext/data/womens_clothing_ecommerce_reviews.csv"
    assert ctx["bias_thresholds"] == {"DPL": 0.7, "KL": 0.5, "JS": 0.1}


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


def test_every_context_key_is_read_by_a_template():
    root = Path(__file__).resolve().parents[2]
    templates = "\n".join(p.read_text() for p in (root / "template").rglob("*.j2"))
    keys: set[str] = set()
    for spec in sorted((root / "specs").glob("*.yaml")):
        loaded = load_spec(spec)
        keys |= set(build_context(loaded.spec, facet_values(loaded), detect_origin()))
    unread = sorted(key for key in keys if not re.search(rf"\b{re.escape(key)}\b", templates))
    assert unread == []
