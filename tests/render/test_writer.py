"""The writer is atomic, refuses non-empty targets and never writes outside the output folder."""

from __future__ import annotations

import pytest

from sagespec.errors import GenerationError, UnsafePathError
from sagespec.render.writer import safe_target, write_tree


def test_writes_a_new_folder(tmp_path):
    write_tree({"a.txt": b"1", "pkg/b.py": b"2"}, tmp_path / "out")
    assert (tmp_path / "out/a.txt").read_bytes() == b"1"
    assert (tmp_path / "out/pkg/b.py").read_bytes() == b"2"


def test_accepts_an_existing_empty_folder(tmp_path):
    (tmp_path / "out").mkdir()
    write_tree({"a.txt": b"1"}, tmp_path / "out")
    assert (tmp_path / "out/a.txt").exists()


def test_refuses_a_non_empty_folder_and_leaves_it_alone(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    with pytest.raises(GenerationError, match="not empty"):
        write_tree({"a.txt": b"1"}, out)
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


@pytest.mark.parametrize("bad", ["../escape.txt", "/etc/passwd", "a/../../b", "", "."])
def test_refuses_paths_outside_the_output(tmp_path, bad):
    with pytest.raises(UnsafePathError):
        safe_target(tmp_path, bad)


def test_failure_leaves_nothing_behind(tmp_path):
    with pytest.raises(UnsafePathError):
        write_tree({"ok.txt": b"1", "../evil.txt": b"2"}, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_symlink_escape_is_refused(tmp_path):
    (tmp_path / "inside").mkdir()
    (tmp_path / "inside" / "link").symlink_to(tmp_path.parent)
    with pytest.raises(UnsafePathError):
        safe_target(tmp_path / "inside", "link/x.txt")
