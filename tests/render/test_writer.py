"""The writer is atomic, refuses non-empty targets and never writes outside the output folder."""

from __future__ import annotations

import json

import pytest

from sagespec.errors import GenerationError, UnsafePathError
from sagespec.render.writer import JOURNAL, TXN_DIR, apply_transaction, recover, safe_target, write_tree


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


def test_recover_throws_away_a_staging_that_never_committed(tmp_path):
    staged = tmp_path / TXN_DIR / "files"
    staged.mkdir(parents=True)
    (staged / "0").write_text("half")
    assert recover(tmp_path) is False
    assert not (tmp_path / TXN_DIR).exists()


def test_recover_rolls_a_committed_journal_forward_and_repeats_safely(tmp_path):
    (tmp_path / "gone.txt").write_text("old")
    apply_transaction(tmp_path, {"a/new.txt": b"new", "gone.txt": None})
    assert (tmp_path / "a/new.txt").read_bytes() == b"new" and not (tmp_path / "gone.txt").exists()
    txn = tmp_path / TXN_DIR
    (txn / "files").mkdir(parents=True)
    (txn / "files/0").write_text("newer")
    (txn / JOURNAL).write_text(
        json.dumps({"moves": [["files/0", "a/new.txt"], ["files/1", "b.txt"]], "deletes": []})
    )
    assert recover(tmp_path) is True  # files/1 was moved before the interruption: skipped
    assert (tmp_path / "a/new.txt").read_text() == "newer" and not txn.exists()


def test_an_unreadable_journal_is_a_clean_error(tmp_path):
    (tmp_path / TXN_DIR).mkdir(parents=True)
    (tmp_path / TXN_DIR / JOURNAL).write_text('{"moves": 3}')
    with pytest.raises(GenerationError, match="journal"):
        recover(tmp_path)
