"""Template paths map to generated paths; optional files follow the spec."""

from __future__ import annotations

from pathlib import PurePosixPath

from sagespec.render.layout import target_path, template_files
from sagespec.render.project import template_root
from sagespec.spec import load_spec_text


def test_target_path_conventions():
    assert target_path(PurePosixPath("pipelines/__pkg__/pipeline.py.j2"), "reviews_bt") == PurePosixPath(
        "pipelines/reviews_bt/pipeline.py"
    )
    assert target_path(PurePosixPath("dot_github/workflows/ci.yml.j2"), "p") == PurePosixPath(
        ".github/workflows/ci.yml"
    )
    assert target_path(PurePosixPath("dot_gitignore"), "p") == PurePosixPath(".gitignore")


def test_bert_only_files(example_text):
    bt = load_spec_text(example_text()).spec
    bert = load_spec_text(example_text("womens-clothing-bert.yaml")).spec
    bt_files = {f.source.as_posix() for f in template_files(template_root(), bt)}
    bert_files = {f.source.as_posix() for f in template_files(template_root(), bert)}
    assert "pipelines/__pkg__/train.py" in bert_files
    assert "pipelines/__pkg__/train.py" not in bt_files


def test_github_actions_can_be_switched_off(example_text):
    spec = load_spec_text(example_text() + "ci:\n  github_actions: {enabled: false}\n").spec
    assert not [f for f in template_files(template_root(), spec) if f.target.parts[0] == ".github"]
