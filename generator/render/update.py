"""Regenerate a project from its (edited) spec without losing the team's edits, and detect drift.

For every path, three versions meet: *base* (what sagespec generated last time, from .sagespec/),
*ours* (the file in the project now) and *theirs* (the new render). Untouched files are replaced,
edited files are merged three ways with ``git merge-file``, deleted files stay deleted, files no longer
generated are removed only when unmodified. All new contents are computed before anything is written,
and written as one transaction (``writer.apply_transaction``) that an interrupted run's successor finishes.

A merge that conflicts leaves markers in the file; until they are gone, both ``update`` and ``check``
fail and name the files. When the project's slug (so its package) changes, the files under the old
``pipelines/<package>/`` move to the new one: edited files are merged into the new render there, files
you added move as they are.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..errors import DriftError, GenerationError, UpdateConflict
from ..spec.loader import LoadedSpec
from .manifest import RECORDS, Record, mergeable_text, sha256
from .origin import recorded_origin
from .project import SPEC_PATH, render_project
from .writer import apply_transaction, pending_journal, recover

# The labels merge_three_way gives git merge-file: a line starting with one of these is a marker left.
OURS_LABEL, BASE_LABEL, THEIRS_LABEL = "yours", "generated before", "generated now"
MARKERS = (f"<<<<<<< {OURS_LABEL}", f">>>>>>> {THEIRS_LABEL}")
IGNORED_IN_PACKAGE = {"__pycache__", ".ipynb_checkpoints"}


@dataclass
class UpdateReport:
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # edited by the user, template unchanged or unmergeable
    kept_deleted: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)  # "old -> new", across a package rename
    recovered: bool = False  # an interrupted update was finished first

    @property
    def changed(self) -> bool:
        return bool(
            self.added or self.replaced or self.merged or self.conflicts or self.removed or self.moved
        )

    def lines(self) -> list[str]:
        out = ["  finished the interrupted update first"] if self.recovered else []
        for label, paths in (
            ("moved to the new package", self.moved),
            ("added", self.added),
            ("updated", self.replaced),
            ("merged with your edits", self.merged),
            ("CONFLICT (markers written)", self.conflicts),
            ("kept your version", self.kept),
            ("stays deleted", self.kept_deleted),
            ("removed", self.removed),
        ):
            out += [f"  {label}: {p}" for p in paths]
        return out


def merge_three_way(ours: str, base: str, theirs: str) -> tuple[str, bool]:
    """git merge-file: returns (merged text, clean?). Conflicts come back with markers."""
    git = shutil.which("git")
    if git is None:
        raise GenerationError("`sagespec update` needs git (for git merge-file) on PATH")
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for name, text in (("ours", ours), ("base", base), ("theirs", theirs)):
            path = Path(tmp) / name
            path.write_text(text, encoding="utf-8")
            paths.append(str(path))
        result = subprocess.run(
            [git, "merge-file", "-p", "-L", OURS_LABEL, "-L", BASE_LABEL, "-L", THEIRS_LABEL, *paths],
            capture_output=True,
        )
    if result.returncode < 0 or result.returncode > 127:
        raise GenerationError(f"git merge-file failed: {result.stderr.decode(errors='replace')}")
    return result.stdout.decode("utf-8"), result.returncode == 0


def _read(project: Path, rel: str) -> bytes | None:
    path = project / rel
    try:
        return path.read_bytes() if path.is_file() else None
    except OSError as exc:
        raise GenerationError(f"{path}: cannot read it: {exc.strerror or exc}") from None


def unresolved_conflicts(project: Path, record: Record) -> list[str]:
    """Generated files that still hold the conflict markers an update wrote."""
    stuck = []
    for rel in sorted(record.hashes):
        content = _read(project, rel)
        text = mergeable_text(content) if content is not None else None
        if text is not None and any(line.startswith(MARKERS) for line in text.splitlines()):
            stuck.append(rel)
    return stuck


def plan_update(
    project: Path, loaded: LoadedSpec, record: Record | None = None
) -> tuple[dict[str, bytes | None], UpdateReport]:
    """Decide every file's new content (None = delete) without touching the disk."""
    record = record or Record.read(project)
    rendered = render_project(loaded).files
    new_files = {p: c for p, c in rendered.items() if p not in RECORDS}
    writes: dict[str, bytes | None] = {}
    report = UpdateReport()
    handled = set()
    old_package = _renamed_package(record, loaded.spec.project.package)
    if old_package is not None:
        handled = _carry_package(
            project, record, old_package, loaded.spec.project.package, new_files, writes, report
        )
    for rel in sorted(set(record.hashes) | set(new_files)):
        if rel in handled:
            continue
        ours = _read(project, rel)
        theirs = new_files.get(rel)
        base_hash = record.hashes.get(rel)
        if base_hash is None:  # newly generated path
            if ours is None:
                writes[rel] = theirs
                report.added.append(rel)
            elif ours != theirs:
                _merge(rel, ours, "", theirs, writes, report)
            continue
        if ours is None:
            report.kept_deleted.append(rel)
            continue
        untouched = sha256(ours) == base_hash
        if theirs is None:
            if untouched:
                writes[rel] = None
                report.removed.append(rel)
            else:
                report.kept.append(rel)
            continue
        if ours == theirs:
            continue
        if untouched:
            writes[rel] = theirs
            report.replaced.append(rel)
            continue
        base = record.base.get(rel)
        if base is None or sha256(base.encode()) != base_hash or sha256(theirs) == base_hash:
            # The template did not change this file, or it cannot be merged: the user's version stands.
            report.kept.append(rel)
            continue
        _merge(rel, ours, base, theirs, writes, report)
    writes.update(Record.of(rendered).to_files())
    return writes, report


def _renamed_package(record: Record, package: str) -> str | None:
    """The pipeline package of the last generation, when the spec now names another one."""
    old = {
        parts[1]
        for rel in record.hashes
        if len(parts := PurePosixPath(rel).parts) == 3
        and parts[0] == "pipelines"
        and parts[2] == "pipeline.py"
    }
    return old.pop() if len(old) == 1 and package not in old else None


def _carry_package(
    project: Path,
    record: Record,
    old: str,
    new: str,
    new_files: dict[str, bytes],
    writes: dict[str, bytes | None],
    report: UpdateReport,
) -> set[str]:
    """Move the team's work from pipelines/<old>/ to pipelines/<new>/: an edited generated file is merged
    into the new render of the same file, a file the team added moves as it is. Returns the paths dealt
    with here (old and new); untouched generated files are left to the usual removal."""
    old_prefix, new_prefix = f"pipelines/{old}/", f"pipelines/{new}/"
    handled: set[str] = set()
    for rel in sorted(record.hashes):
        ours = _read(project, rel) if rel.startswith(old_prefix) else None
        if ours is None or sha256(ours) == record.hashes[rel]:
            continue
        target = new_prefix + rel[len(old_prefix) :]
        theirs = new_files.get(target)
        if theirs is None or target in record.hashes or _read(project, target) is not None:
            continue  # the new package has no such file: the edited one is kept where it is
        base = record.base.get(rel)
        ours_text, theirs_text = mergeable_text(ours), mergeable_text(theirs)
        if (
            base is None
            or ours_text is None
            or theirs_text is None
            or sha256(base.encode()) != record.hashes[rel]
        ):
            report.kept.append(f"{rel} (edited; carry your edits into {target} by hand)")
            handled.add(rel)
            continue
        merged, clean = merge_three_way(ours_text, base, theirs_text)
        writes[target], writes[rel] = merged.encode("utf-8"), None
        report.moved.append(f"{rel} -> {target}")
        if not clean:
            report.conflicts.append(target)
        handled |= {rel, target}
    old_dir = project / "pipelines" / old
    for path in sorted(old_dir.rglob("*")) if old_dir.is_dir() else []:
        rel = path.relative_to(project).as_posix()
        inner = path.relative_to(old_dir)
        if (
            path.is_dir()
            or rel in record.hashes
            or IGNORED_IN_PACKAGE & set(inner.parts)
            or path.suffix == ".pyc"
        ):
            continue
        target = new_prefix + inner.as_posix()
        if target in new_files or (project / target).exists():
            report.kept.append(f"{rel} (yours; {target} exists, so move it by hand)")
            continue
        writes[target], writes[rel] = _read(project, rel), None
        report.moved.append(f"{rel} -> {target}")
        handled |= {rel, target}
    return handled


def _merge(
    rel: str,
    ours: bytes,
    base: str,
    theirs: bytes | None,
    writes: dict[str, bytes | None],
    report: UpdateReport,
) -> None:
    ours_text, theirs_text = mergeable_text(ours), mergeable_text(theirs or b"")
    if ours_text is None or theirs_text is None:
        report.kept.append(rel)
        return
    merged, clean = merge_three_way(ours_text, base, theirs_text)
    writes[rel] = merged.encode("utf-8")
    (report.merged if clean else report.conflicts).append(rel)


def _conflict_list(paths: list[str]) -> str:
    return "\n".join(f"  {p}" for p in paths)


def update_project(project: Path, loaded: LoadedSpec) -> UpdateReport:
    recovered = recover(project)
    record = Record.read(project)
    stuck = unresolved_conflicts(project, record)
    if stuck:
        raise UpdateConflict(
            f"{len(stuck)} file(s) still hold conflict markers from the last update; resolve them, "
            f"then run `sagespec update` again:\n{_conflict_list(stuck)}"
        )
    writes, report = plan_update(project, loaded, record)
    report.recovered = recovered
    apply_transaction(project, writes, last=RECORDS)
    if report.conflicts:
        raise UpdateConflict(
            f"{len(report.conflicts)} file(s) merged with conflicts; resolve the markers and commit:\n"
            + _conflict_list(report.conflicts)
        )
    return report


def check_project(project: Path, loaded: LoadedSpec) -> list[str]:
    """Generated files that are out of date with the spec: the new render differs from what was
    generated last time. The user's own edits are not drift, nor is spec.yaml (the user's source);
    unresolved conflict markers and an unfinished update are reported too."""
    if pending_journal(project) is not None:
        raise DriftError(f"{project}: an update was interrupted; run `sagespec update` to finish it")
    record = Record.read(project)
    # Render with the sagespec origin the project recorded: another install of sagespec is no drift.
    origin = recorded_origin(project)
    rendered = {p: c for p, c in render_project(loaded, origin=origin).files.items() if p not in RECORDS}
    stale = []
    for rel in sorted(set(record.hashes) | set(rendered)):
        if rel == SPEC_PATH:
            continue
        old, new = record.hashes.get(rel), rendered.get(rel)
        if new is None:
            stale.append(f"{rel}: no longer generated")
        elif old is None:
            stale.append(f"{rel}: new file")
        elif sha256(new) != old:
            stale.append(f"{rel}: would change{_line_delta(record.base.get(rel), new)}")
    stuck = unresolved_conflicts(project, record)
    if stuck:
        raise DriftError(
            f"{project}: {len(stuck)} file(s) hold unresolved conflict markers; resolve them:\n"
            + _conflict_list(stuck)
            + ("\nand generated files are out of date; then run `sagespec update`:\n" if stale else "")
            + _conflict_list(stale)
        )
    if stale:
        raise DriftError(
            f"{project}: generated files are out of date with spec.yaml; run `sagespec update`:\n"
            + _conflict_list(stale)
        )
    return stale


def _line_delta(old: str | None, new: bytes) -> str:
    import difflib

    new_text = mergeable_text(new)
    if old is None or new_text is None:
        return ""
    plus = minus = 0
    for line in difflib.unified_diff(old.splitlines(), new_text.splitlines(), lineterm="", n=0):
        if line.startswith("+") and not line.startswith("+++"):
            plus += 1
        elif line.startswith("-") and not line.startswith("---"):
            minus += 1
    return f" (+{plus} -{minus})"
