"""`pip install .` ships the templates: a wheel alone (no checkout beside it) generates a project."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .conftest import REPO, SPECS


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    (path,) = out.glob("sagespec-*.whl")
    return path


def test_wheel_contains_package_and_templates(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "sagespec/cli.py" in names and "sagespec/spec/models.py" in names
    templates = [n for n in names if n.startswith("sagespec/_template/")]
    assert "sagespec/_template/pipelines/__pkg__/pipeline.py.j2" in templates
    assert not [n for n in names if "__pycache__" in n]
    # Every module of the source tree ships (pyproject lists the packages one by one).
    source = Path(__file__).resolve().parents[1] / "generator"
    modules = {f"sagespec/{p.relative_to(source).as_posix()}" for p in source.rglob("*.py")}
    assert modules - set(names) == set()


def test_installed_wheel_generates_a_project(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    out = tmp_path / "proj"
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = (
        "import sagespec, sys; from sagespec.render import template_root; "
        "print(template_root()); from sagespec.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "new", str(SPECS / "womens-clothing-blazingtext.yaml"), "-o", str(out)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == str(site / "sagespec" / "_template")
    assert (out / "pipelines/reviews_blazingtext/pipeline.py").exists()
