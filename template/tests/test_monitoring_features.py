"""The monitored features (pipelines/<pkg>/monitoring_features.py): the same numbers for a text whoever
sends it, the captured records of every wire format read back, and Model Monitor's record preprocessor
giving one row per text."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEXTS = [
    "Love it!! Fits perfectly, 10/10 &amp; I&#39;d buy again.",
    "  Runs   small\n\tsize up  ",
    "__label__5 is what I'd give it — naïve café style",
    "",
]


def _module(name: str) -> ModuleType:
    (path,) = (ROOT / "pipelines").glob("*/monitoring_features.py")
    return importlib.import_module(f"pipelines.{path.parent.name}.{name}")


@pytest.fixture(scope="module")
def features() -> ModuleType:
    return _module("monitoring_features")


@pytest.mark.parametrize("text", TEXTS)
def test_a_text_counts_alike_raw_tokenized_and_cleaned(features: ModuleType, text: str) -> None:
    """`make serve` gets the raw text, SageMaker's BlazingText image its tokens, Autopilot's container the
    cleaned text (deploy/payload.py): the baseline and the monitor must count each alike."""
    handler = _module("inference")
    raw = features.features(text, features.CLASSES[0], 0.5)
    assert list(raw) == list(features.FEATURES)
    assert features.features(handler.blazingtext_tokens(text), features.CLASSES[0], 0.5) == raw
    assert features.features(handler.clean_text(text), features.CLASSES[0], 0.5) == raw


def test_each_text_of_a_captured_request_is_one_row(features: ModuleType) -> None:
    first, second = features.CLASSES[0], features.CLASSES[-1]
    answer = {
        "predictions": [
            {"label": first, "probabilities": {first: 0.75}},
            {"label": second, "probabilities": {second: 0.5}},
        ]
    }
    record = SimpleNamespace(
        endpoint_input=SimpleNamespace(data=json.dumps({"instances": ["nice", "ok"]}), encoding="JSON"),
        endpoint_output=SimpleNamespace(data=json.dumps(answer), encoding="JSON"),
    )
    rows = features.preprocess_handler(record)
    assert [row["confidence"] for row in rows] == [0.75, 0.5]
    assert [row["predicted_label"] for row in rows] == [features.category(first), features.category(second)]
    blazingtext = [{"label": [f"__label__{second}", f"__label__{first}"], "prob": [0.6, 0.4]}]
    request = json.dumps({"instances": ["too small"], "configuration": {"k": 2}})
    assert features.captured_predictions(request, "JSON", json.dumps(blazingtext), "JSON") == [
        ("too small", second, 0.6)
    ]


def test_an_unreadable_record_gives_no_rows(features: ModuleType) -> None:
    record = SimpleNamespace(
        endpoint_input=SimpleNamespace(data="{", encoding="JSON"),
        endpoint_output=SimpleNamespace(data="{}", encoding="JSON"),
    )
    assert features.preprocess_handler(record) == []
