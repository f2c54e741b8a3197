"""Shared fixtures: the repo's paths and a helper to write specs into a temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
SPECS = REPO / "specs"
DATA = REPO / "data"
EXAMPLE_SPECS = sorted(SPECS.glob("*.yaml"))


def import_beside(path: Path, name: str) -> ModuleType:
    """A step script (a template's or a project's) imported as it runs in its container, where the
    modules beside it are importable: preprocess.py imports prepare.py, train.py its training modules."""
    from sagespec.project_modules import import_file

    sys.path.insert(0, str(path.parent))
    try:
        return import_file(path, name)
    finally:
        sys.path.remove(str(path.parent))


def run_in_project(project: Path, *args: str, timeout: int = 1200) -> subprocess.CompletedProcess[str]:
    """``python -m <args>`` in a generated project (its ruff, its pytest), with this interpreter."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=project, capture_output=True, text=True, timeout=timeout, env=env
    )


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
