"""The seed code of a Studio project: the generated repository's files, zipped.

The file set is what git would commit. In a git work tree, git says (tracked files plus untracked ones
that no ignore rule matches); elsewhere the project's top-level ``.gitignore`` decides, read with the
simple rules the generated one uses. Either way local runs, virtual environments and caches stay out.
The zip is reproducible: the same files give the same bytes, so its hash names it in S3.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import PublishError

# Never seed these, whatever .gitignore says.
ALWAYS_SKIPPED = (".git/", ".sagespec-runs/", ".venv/", "__pycache__/", ".pytest_cache/", ".ruff_cache/")
# zip cannot store times before 1980; every entry gets this one, so the bytes depend on content only.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class SeedArchive:
    data: bytes
    files: tuple[str, ...]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def seed_files(project: Path) -> list[str]:
    """The project's files, as POSIX paths relative to ``project``, sorted."""
    if not project.is_dir():
        raise PublishError(f"{project} is not a folder")
    listed = _git_files(project)
    if listed is None:
        rules = _ignore_rules(project / ".gitignore") + list(ALWAYS_SKIPPED)
        listed = [
            path.relative_to(project).as_posix()
            for path in project.rglob("*")
            if path.is_file() and not _ignored(PurePosixPath(path.relative_to(project).as_posix()), rules)
        ]
    skipped = list(ALWAYS_SKIPPED)
    return sorted(
        rel for rel in listed if not _ignored(PurePosixPath(rel), skipped) and (project / rel).is_file()
    )


def build_seed_archive(project: Path) -> SeedArchive:
    files = seed_files(project)
    if not files:
        raise PublishError(f"{project} has no files to seed a repository with")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for rel in files:
            path = project / rel
            info = zipfile.ZipInfo(rel, date_time=ZIP_EPOCH)
            mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
            info.external_attr = (0o100000 | mode) << 16  # a regular file with its permissions
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return SeedArchive(buffer.getvalue(), tuple(files))


def _git_files(project: Path) -> list[str] | None:
    """What git would commit from ``project``, or None when it is not a git work tree (or no git)."""
    try:
        inside = subprocess.run(
            ["git", "-C", str(project), "rev-parse", "--is-inside-work-tree"],
            capture_output=True,
            text=True,
            check=False,
        )
        if inside.returncode != 0 or inside.stdout.strip() != "true":
            return None
        listed = subprocess.run(
            ["git", "-C", str(project), "ls-files", "-z", "--cached", "--others", "--exclude-standard", "."],
            capture_output=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    # ls-files prints paths relative to the folder it runs in: the project, even inside a bigger repo.
    return [name for name in listed.stdout.decode().split("\0") if name]


def _ignore_rules(gitignore: Path) -> list[str]:
    if not gitignore.is_file():
        return []
    rules = []
    for line in gitignore.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("!"):
            raise PublishError(
                f"{gitignore}: negated patterns ({line}) need git; run this inside a git work tree"
            )
        rules.append(line)
    return rules


def _ignored(rel: PurePosixPath, rules: list[str]) -> bool:
    """Whether a gitignore-style rule matches the file or one of its folders.

    A rule without an inner '/' matches a name at any depth; one with it matches from the top; a
    trailing '/' matches folders only.
    """
    parts = rel.parts
    for rule in rules:
        folder_only = rule.endswith("/")
        pattern = rule.rstrip("/")
        anchored = "/" in pattern
        pattern = pattern.lstrip("/")
        # Candidates: each folder of the path, then (unless the rule is for folders) the file itself.
        depth = len(parts) - 1 if folder_only else len(parts)
        for i in range(depth):
            if anchored:
                if fnmatch.fnmatchcase("/".join(parts[: i + 1]), pattern):
                    return True
            elif fnmatch.fnmatchcase(parts[i], pattern):
                return True
    return False
