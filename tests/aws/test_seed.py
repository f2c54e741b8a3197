"""The seed code of a CodeCommit project: the files git would commit, zipped reproducibly."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import zipfile

import pytest

from sagespec.aws.seed import build_seed_archive, seed_files
from sagespec.errors import PublishError


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "repo"
    files = {
        ".gitignore": "__pycache__/\n*.py[cod]\n*.egg-info/\nbuild/\npipeline-definition.json\n/notes.txt\n",
        "spec.yaml": "spec_version: 1\n",
        "pipelines/pkg/pipeline.py": "print('hi')\n",
        "pipelines/pkg/__pycache__/pipeline.cpython-311.pyc": "x",
        "pipelines/pkg/old.pyc": "x",
        "pkg.egg-info/PKG-INFO": "x",
        "build/lib/x.py": "x",
        "docs/build.md": "a file named like an ignored folder",
        "pipeline-definition.json": "{}",
        "notes.txt": "top-level only",
        "docs/notes.txt": "kept: the rule is anchored",
        ".sagespec-runs/run-1/out.csv": "x",
        ".venv/bin/python": "x",
        "scripts/run.sh": "#!/bin/sh\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "scripts/run.sh").chmod(0o755)
    return root


KEPT = [
    ".gitignore",
    "docs/build.md",
    "docs/notes.txt",
    "pipelines/pkg/pipeline.py",
    "scripts/run.sh",
    "spec.yaml",
]


def test_without_git_the_gitignore_decides(tree):
    assert seed_files(tree) == KEPT


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_in_a_git_work_tree_git_decides(tree):
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "init", "-q", str(tree)], check=True, env=env)
    # Tracked despite an ignore rule: git would commit it, so it is seeded.
    subprocess.run(["git", "-C", str(tree), "add", "-f", "notes.txt"], check=True, env=env)
    assert seed_files(tree) == sorted([*KEPT, "notes.txt"])


def test_the_zip_is_reproducible_and_keeps_the_executable_bit(tree):
    first = build_seed_archive(tree)
    os.utime(tree / "spec.yaml", (0, 0))
    second = build_seed_archive(tree)
    assert first.data == second.data and first.sha256 == second.sha256
    archive = zipfile.ZipFile(io.BytesIO(first.data))
    assert archive.namelist() == KEPT
    modes = {info.filename: (info.external_attr >> 16) & 0o777 for info in archive.infolist()}
    assert modes["scripts/run.sh"] == 0o755 and modes["spec.yaml"] == 0o644
    (tree / "spec.yaml").write_text("spec_version: 1\n# edited\n")
    assert build_seed_archive(tree).sha256 != first.sha256


def test_negated_rules_need_git(tree):
    (tree / ".gitignore").write_text("*.txt\n!keep.txt\n")
    with pytest.raises(PublishError, match="negated patterns"):
        seed_files(tree)
