"""Regenerate a project from its (edited) spec without losing the team's edits, and detect drift.

For every path, three versions meet: *base* (what sagespec generated last time, from .sagespec/),
*ours* (the file in the project now) and *theirs* (the new render). Untouched files are replaced,
edited files are merged three ways with ``git merge-file``, deleted files stay deleted, files no longer
generated are removed only when unmodified. All new contents are computed before anything is written.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DriftError, GenerationError, UpdateConflict
from ..spec.loader import LoadedSpec
from .manifest import RECORDS, Record, mergeable_text, sha256
from .project import render_project
from .writer import safe_target


@dataclass
class UpdateReport:
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # edited by the user, template unchanged or unmergeable
    kept_deleted: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.replaced or self.merged or self.conflicts or self.removed)

    def lines(self) -> list[str]:
        out = []
        for label, paths in (
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
            [git, "merge-file", "-p", "-L", "yours", "-L", "generated before", "-L", "generated now", *paths],
            capture_output=True,
        )
    if result.returncode < 0 or result.returncode > 127:
        raise GenerationError(f"git merge-file failed: {result.stderr.decode(errors='replace')}")
    return result.stdout.decode("utf-8"), result.returncode == 0


def _read(project: Path, rel: str) -> bytes | None:
    path = project / rel
    return path.read_bytes() if path.is_file() else None


def plan_update(project: Path, loaded: LoadedSpec) -> tuple[dict[str, bytes | None], UpdateReport]:
    """Decide every file's new content (None = delete) without touching the disk."""
    record = Record.read(project)
    rendered = render_project(loaded).files
    new_files = {p: c for p, c in rendered.items() if p not in RECORDS}
    writes: dict[str, bytes | None] = {}
    report = UpdateReport()
    for rel in sorted(set(record.hashes) | set(new_files)):
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


def apply_writes(project: Path, writes: dict[str, bytes | None]) -> None:
    """Stage every new file next to its target first, then swap them in: a failure while staging
    leaves the project exactly as it was."""
    staged: list[tuple[Path, Path]] = []
    try:
        for rel, content in writes.items():
            target = safe_target(project, rel)
            if content is None:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
            if target.exists():
                shutil.copymode(target, tmp)
            staged.append((Path(tmp), target))
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, target in staged:
        os.replace(tmp, target)
    for rel, content in writes.items():
        if content is None:
            safe_target(project, rel).unlink(missing_ok=True)


def update_project(project: Path, loaded: LoadedSpec) -> UpdateReport:
    writes, report = plan_update(project, loaded)
    apply_writes(project, writes)
    if report.conflicts:
        raise UpdateConflict(
            f"{len(report.conflicts)} file(s) merged with conflicts; resolve the markers and commit:\n"
            + "\n".join(f"  {p}" for p in report.conflicts)
        )
    return report


def check_project(project: Path, loaded: LoadedSpec) -> list[str]:
    """Generated files that are out of date with the spec: the new render differs from what was
    generated last time. The user's own edits are not drift."""
    record = Record.read(project)
    rendered = {p: c for p, c in render_project(loaded).files.items() if p not in RECORDS}
    stale = []
    for rel in sorted(set(record.hashes) | set(rendered)):
        old, new = record.hashes.get(rel), rendered.get(rel)
        if new is None:
            stale.append(f"{rel}: no longer generated")
        elif old is None:
            stale.append(f"{rel}: new file")
        elif sha256(new) != old:
            stale.append(f"{rel}: would change{_line_delta(record.base.get(rel), new)}")
    if stale:
        raise DriftError(
            f"{project}: generated files are out of date with spec.yaml; run `sagespec update`:\n"
            + "\n".join(f"  {line}" for line in stale)
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
