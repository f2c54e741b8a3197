"""Regeneration plays the real scenarios: spec changes are applied, the team's edits survive."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sagespec.errors import DriftError, GenerationError, SagespecError
from sagespec.render import render_project, writer
from sagespec.render.manifest import Record
from sagespec.render.update import check_project, update_project
from sagespec.spec import load_spec


@pytest.fixture
def project(tmp_path, write_spec, example_text):
    spec = write_spec(example_text())
    out = tmp_path / "proj"
    render_project(load_spec(spec)).write(out)
    return out


def edit_spec(project, old, new):
    path = project / "spec.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return load_spec(path)


def changed_by_threshold(project):
    """Generated files whose content depends on evaluation.threshold (found, not assumed)."""
    before = render_project(load_spec(project / "spec.yaml")).files
    spec = edit_spec(project, "threshold: 0.6", "threshold: 0.61")
    after = render_project(spec).files
    edit_spec(project, "threshold: 0.61", "threshold: 0.6")
    return sorted(p for p in after if p.endswith(".py") and before.get(p) != after[p])


def test_untouched_project_is_up_to_date(project):
    spec = load_spec(project / "spec.yaml")
    check_project(project, spec)
    report = update_project(project, spec)
    assert not report.changed


def test_spec_change_is_drift_until_updated(project):
    spec = edit_spec(project, "threshold: 0.6", "threshold: 0.61")
    with pytest.raises(DriftError, match="out of date"):
        check_project(project, spec)
    report = update_project(project, spec)
    assert report.replaced and not report.conflicts
    check_project(project, spec)
    assert not update_project(project, spec).changed  # update twice is a no-op


def test_edit_survives_a_spec_change(project):
    (target,) = changed_by_threshold(project)[:1]
    path = project / target
    path.write_text("# our team's note: keep this\n" + path.read_text())
    spec = edit_spec(project, "threshold: 0.6", "threshold: 0.61")
    report = update_project(project, spec)
    assert target in report.merged
    text = path.read_text()
    assert text.startswith("# our team's note: keep this\n")
    assert "0.61" in text and "= 0.6\n" not in text


def test_conflicting_edit_gets_markers_and_exit_1(project):
    (target,) = changed_by_threshold(project)[:1]
    path = project / target
    path.write_text(path.read_text().replace("= 0.6\n", "= 0.7\n"))
    spec = edit_spec(project, "threshold: 0.6", "threshold: 0.61")
    result = subprocess.run(
        [sys.executable, "-m", "sagespec", "update", str(project)], capture_output=True, text=True
    )
    assert result.returncode == 1, result.stderr
    assert target in result.stderr and "Traceback" not in result.stderr
    text = path.read_text()
    assert "<<<<<<< yours" in text and ">>>>>>> generated now" in text
    # The markers are the user's to resolve: until they are gone, update and check fail and name them.
    for command in ("update", "check"):
        again = subprocess.run(
            [sys.executable, "-m", "sagespec", command, str(project)], capture_output=True, text=True
        )
        assert again.returncode == 1 and "conflict markers" in again.stderr, (command, again.stderr)
        assert target in again.stderr and "Traceback" not in again.stderr
    assert path.read_text() == text
    # Resolved (the user's 0.7 wins): both pass, and the resolution is the user's edit, kept.
    path.write_text(
        re.sub(r"<<<<<<< yours\n(.*?)=======\n.*?>>>>>>> generated now\n", r"\1", text, flags=re.S)
    )
    check_project(project, spec)
    assert target in update_project(project, spec).kept
    assert "= 0.7\n" in path.read_text()


def test_an_edited_spec_is_not_drift(project):
    """spec.yaml is the user's source: editing it (a comment here) is not a generated file out of date."""
    path = project / "spec.yaml"
    path.write_text("# our team's spec\n" + path.read_text())
    check_project(project, load_spec(path))


def test_deleted_file_stays_deleted(project):
    (project / "README.md").unlink()
    spec = edit_spec(project, "threshold: 0.6", "threshold: 0.61")
    report = update_project(project, spec)
    assert "README.md" in report.kept_deleted
    assert not (project / "README.md").exists()


def test_files_no_longer_generated_are_removed_only_when_unmodified(project):
    ci = ".github/workflows/ci.yml"
    if not (project / ci).exists():
        pytest.skip("no GitHub workflows in this template yet")
    others = sorted(p.relative_to(project).as_posix() for p in (project / ".github/workflows").iterdir())
    edited = next(p for p in others if p != ci) if len(others) > 1 else None
    if edited:
        (project / edited).write_text((project / edited).read_text() + "# ours\n")
    spec_path = project / "spec.yaml"
    spec_path.write_text(spec_path.read_text() + "ci:\n  github_actions: {enabled: false}\n")
    report = update_project(project, load_spec(spec_path))
    assert ci in report.removed and not (project / ci).exists()
    if edited:
        assert edited in report.kept and (project / edited).exists()


def test_new_files_appear(project):
    spec = load_spec(project / "spec.yaml")
    render_files = render_project(spec).files
    victim = "Makefile"
    assert victim in render_files
    # Pretend the Makefile is new in this sagespec version: forget it was generated.
    manifest_path = project / ".sagespec/manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["files"][victim]
    manifest_path.write_text(json.dumps(manifest))
    (project / victim).unlink()
    report = update_project(project, spec)
    assert victim in report.added and (project / victim).read_bytes() == render_files[victim]


def test_check_cli_reports_drift(project):
    edit_spec(project, "threshold: 0.6", "threshold: 0.61")
    result = subprocess.run(
        [sys.executable, "-m", "sagespec", "check", str(project)], capture_output=True, text=True
    )
    assert result.returncode == 1 and "would change" in result.stderr


# ------------------------------------------------------------------ one recoverable transaction


class Killed(BaseException):
    """Stands for kill -9: nothing after it runs, no cleanup (it is no Exception, so nothing catches it)."""


def assert_consistent(project, spec):
    """The tree is exactly the new render (no edits were made), with no staging or temp file left."""
    check_project(project, spec)
    for rel, content in render_project(spec).files.items():
        if not rel.startswith(".sagespec/"):
            assert (project / rel).read_bytes() == content, rel
    assert not (project / ".sagespec/txn").exists()
    leftovers = [p for p in project.rglob(".*") if p.is_file() and p.name not in (".gitignore",)]
    assert not [p for p in leftovers if ".github" not in p.parts and ".pre-commit" not in p.name], leftovers


def count_replaces(project, spec, monkeypatch):
    calls = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda *a: (calls.append(a), real(*a)))
    update_project(project, spec)
    monkeypatch.setattr(os, "replace", real)
    return len(calls)


@pytest.mark.parametrize("phase", ["staging", "committed", "first move", "half the moves", "last move"])
def test_a_killed_update_is_finished_by_the_next(project, monkeypatch, tmp_path, phase):
    spec = edit_spec(project, "threshold: 0.6", "threshold: 0.61")
    # How many renames does this update make? (the journal's commit is the first)
    twin = tmp_path / "twin"
    shutil.copytree(project, twin)
    total = count_replaces(twin, load_spec(twin / "spec.yaml"), monkeypatch)
    assert total > 3
    real_replace, real_write = os.replace, writer._write_synced
    if phase == "staging":
        writes = []

        def write_then_die(path, content):
            writes.append(path)
            if len(writes) == 3:
                raise Killed
            real_write(path, content)

        monkeypatch.setattr(writer, "_write_synced", write_then_die)
    else:
        survive = {"committed": 1, "first move": 2, "half the moves": total // 2, "last move": total - 1}[
            phase
        ]
        done = []

        def replace_then_die(src, dst):
            if len(done) == survive:
                raise Killed
            done.append(dst)
            real_replace(src, dst)

        monkeypatch.setattr(os, "replace", replace_then_die)
    with pytest.raises(Killed):
        update_project(project, spec)
    monkeypatch.setattr(os, "replace", real_replace)
    monkeypatch.setattr(writer, "_write_synced", real_write)
    if phase != "staging":
        with pytest.raises(DriftError, match="interrupted"):
            check_project(project, spec)  # never "up to date" half-way
    report = update_project(project, spec)
    assert report.recovered == (phase != "staging")
    assert_consistent(project, spec)


@pytest.mark.parametrize(("obstacle", "says"), [("read-only", "read-only"), ("folder", "is a folder")])
def test_a_file_that_cannot_be_replaced_stops_the_update_before_any_change(project, obstacle, says):
    edit_spec(project, "threshold: 0.6", "threshold: 0.61")
    if obstacle == "read-only":
        (project / changed_by_threshold(project)[0]).chmod(0o444)
    else:  # a folder where the update must write a new file
        manifest_path = project / ".sagespec/manifest.json"
        manifest = json.loads(manifest_path.read_text())
        del manifest["files"]["Makefile"]
        manifest_path.write_text(json.dumps(manifest))
        (project / "Makefile").unlink()
        (project / "Makefile").mkdir()
    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    result = subprocess.run(
        [sys.executable, "-m", "sagespec", "update", str(project)], capture_output=True, text=True
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert says in result.stderr and "nothing was changed" in result.stderr
    assert {p: p.read_bytes() for p in project.rglob("*") if p.is_file()} == before
    assert not (project / ".sagespec/txn").exists()


DAMAGED = {
    "not JSON": "{",
    "a list": "[]",
    "no files": '{"generator": "sagespec"}',
    "files is a list": '{"generator": "sagespec", "files": []}',
    "a hash is a number": '{"generator": "sagespec", "files": {"Makefile": 3}}',
    "a path escapes": '{"generator": "sagespec", "files": {"../x": "' + "0" * 64 + '"}}',
    "another generator": '{"files": {}}',
}


@pytest.mark.parametrize("command", ["update", "check"])
@pytest.mark.parametrize("damage", sorted(DAMAGED))
def test_a_damaged_manifest_is_a_clean_error(project, command, damage):
    (project / ".sagespec/manifest.json").write_text(DAMAGED[damage])
    result = subprocess.run(
        [sys.executable, "-m", "sagespec", command, str(project)], capture_output=True, text=True
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "damaged" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_damaged_base_is_a_clean_error(project):
    (project / ".sagespec/base.json").write_text('{"Makefile": null}')
    with pytest.raises(GenerationError, match="base.json"):
        update_project(project, load_spec(project / "spec.yaml"))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
manifests = json_values | st.fixed_dictionaries(
    {"generator": st.just("sagespec"), "files": json_values | st.dictionaries(st.text(), json_values)}
)


@settings(max_examples=300)
@given(manifest=manifests, base=json_values)
def test_any_json_as_the_record_is_a_record_or_a_sagespec_error(manifest, base):
    try:
        record = Record.parse(manifest, base)
    except SagespecError:
        return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in record.hashes.items())
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in record.base.items())


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(manifest=manifests)
def test_any_json_as_the_manifest_ends_update_and_check_cleanly(project, manifest):
    (project / ".sagespec/manifest.json").write_text(json.dumps(manifest))
    spec = load_spec(project / "spec.yaml")
    for command in (check_project, update_project):
        with contextlib.suppress(SagespecError):
            command(project, spec)


# ------------------------------------------------------------------------------ slug renames


def test_a_slug_rename_carries_edits_and_added_files_to_the_new_package(project):
    old = project / "pipelines/reviews_blazingtext"
    (old / "preprocess.py").write_text("# our tweak: keep it\n" + (old / "preprocess.py").read_text())
    (old / "helpers.py").write_text("HELPER = 1\n")
    (old / "__pycache__").mkdir(exist_ok=True)
    spec = edit_spec(project, "slug: reviews-blazingtext", "slug: reviews-bt")
    report = update_project(project, spec)
    new = project / "pipelines/reviews_bt"
    assert (new / "preprocess.py").read_text().startswith("# our tweak: keep it\n")
    assert (new / "helpers.py").read_text() == "HELPER = 1\n"
    assert (new / "pipeline.py").exists() and not (old / "pipeline.py").exists()
    assert not [p for p in old.rglob("*.py")], "nothing of the team's stays behind in the old package"
    assert "pipelines/reviews_blazingtext/preprocess.py -> pipelines/reviews_bt/preprocess.py" in report.moved
    assert "pipelines/reviews_blazingtext/helpers.py -> pipelines/reviews_bt/helpers.py" in report.moved
    check_project(project, spec)


def test_update_and_check_with_a_source_the_file_system_refuses(project, capsys):
    """dataset.source longer than the file system takes: check and update end with exit 2 and the
    system's reason (check died in OSError's traceback) and change nothing."""
    from sagespec.cli import main

    spec = project / "spec.yaml"
    spec.write_text(re.sub(r"(?m)^  source: .*$", "  source: " + "x" * 400, spec.read_text(), count=1))
    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    for command in ("check", "update"):
        assert main([command, str(project)]) == 2
        err = capsys.readouterr().err
        assert "dataset.source" in err and "File name too long" in err and "Traceback" not in err
    assert {p: p.read_bytes() for p in project.rglob("*") if p.is_file()} == before
