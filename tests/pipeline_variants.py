"""Spec variants the pipeline tests build beside the example specs, made from an example in the test
rather than kept as files in specs/ (each spec there multiplies the slow tests)."""

from __future__ import annotations

import re

from sagespec.spec import load_spec_text
from sagespec.spec.loader import LoadedSpec

from .conftest import SPECS

PYTORCH_BERT = "womens-clothing-bert-pytorch"


def pytorch_bert_text() -> str:
    """The BERT example trained with PyTorch on two instances: torchrun must span them."""
    text = (SPECS / "womens-clothing-bert.yaml").read_text()
    for old, new in {
        "  type: bert\n": "  type: bert\n  framework: pytorch\n",
        "  instance_count: 1\n": "  instance_count: 2\n",
    }.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def load_pytorch_bert() -> LoadedSpec:
    # Named as if it were in specs/, so that the dataset path resolves as the example's does.
    return load_spec_text(pytorch_bert_text(), SPECS / f"{PYTORCH_BERT}.yaml")


MONITORED = "womens-clothing-blazingtext-monitored"


def monitored_text() -> str:
    """The BlazingText example with both Model Monitor schedules and a shadow test: its Challenger variant
    becomes a shadow beside the one production variant (a shadow needs exactly one), which gets a copy of
    every other request."""
    text = (SPECS / "womens-clothing-blazingtext.yaml").read_text()
    # The example's own monitoring section, if it has one, gives way to this one.
    text = re.sub(r"\nmonitoring:\n(?:  .*\n)*", "\n", text)
    for old, new in {
        (
            "    - name: Challenger\n"
            "      model: {select: newest}\n"
            "      instance_type: ml.m5.large\n"
            "      initial_weight: 0.5\n"
        ): (
            "  shadow_variants:\n"
            "    - name: Shadow\n"
            "      model: {select: newest}\n"
            "      instance_type: ml.m5.large\n"
            "      initial_weight: 0.25\n"
        ),
        "\nlabeling:\n": (
            "\nmonitoring:\n"
            "  data_quality: {schedule: daily}\n"
            "  model_quality: {schedule: 'cron(0 3/6 ? * * *)', instance_type: ml.c5.xlarge}\n"
            "\nlabeling:\n"
        ),
    }.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def load_monitored() -> LoadedSpec:
    return load_spec_text(monitored_text(), SPECS / f"{MONITORED}.yaml")
