"""Shared fixtures: the repo's paths and a helper to write specs into a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SPECS = REPO / "specs"
DATA = REPO / "data"
EXAMPLE_SPECS = sorted(SPECS.glob("*.yaml"))


@pytest.fixture
def example_text():
    def read(name: str = "womens-clothing-blazingtext.yaml") -> str:
        return (SPECS / name).read_text()

    return read


@pytest.fixture
def write_spec(tmp_path):
    """Write spec text to tmp_path/spec.yaml with the dataset path made absolute."""

    def write(text: str, name: str = "spec.yaml") -> Path:
        text = text.replace("../data/", f"{DATA.as_posix()}/")
        path = tmp_path / name
        path.write_text(text)
        return path

    return write
