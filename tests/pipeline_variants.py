"""Spec variants the pipeline tests build beside the example specs, made from an example in the test
rather than kept as files in specs/ (each spec there multiplies the slow tests)."""

from __future__ import annotations

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
