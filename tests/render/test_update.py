"""Regeneration plays the real scenarios: spec changes are applied, the team's edits survive."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sagespec.errors import DriftError
from sagespec.render import render_project
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
    # The markers are the user's to resolve: a second update leaves them alone.
    again = update_project(project, spec)
    assert target in again.kept and path.read_text() == text


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
    import json

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
