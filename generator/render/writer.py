"""Put a rendered tree on disk atomically, and never outside the output folder: a new project in one
rename, an update of an existing one as a journaled transaction that the next run can finish."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from pathlib import Path, PurePosixPath

from ..errors import GenerationError, UnsafePathError, shown_name


def safe_target(root: Path, rel: PurePosixPath | str) -> Path:
    """``root / rel``, refusing anything that would land outside ``root``."""
    rel = PurePosixPath(rel)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts or any(p in ("", ".") for p in rel.parts):
        raise UnsafePathError(
            f"refusing to write {str(rel)!r}: it is not a plain path inside the output folder"
        )
    target = (root / Path(*rel.parts)).resolve()
    if not target.is_relative_to(root.resolve()):
        raise UnsafePathError(f"refusing to write {str(rel)!r}: it resolves outside {root}")
    return target


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def write_tree(files: dict[str, bytes], output: Path, *, allow_existing_empty: bool = True) -> None:
    """Write ``files`` (relative POSIX path -> bytes) as the new folder ``output``.

    Everything is written to a temporary sibling first and moved into place at the end, so a failure
    leaves nothing half-written. A non-empty ``output`` is refused.
    """
    output = _writable_folder(output)
    if output.exists() and not (allow_existing_empty and _is_empty_dir(output)):
        if output.is_dir():
            raise GenerationError(f"{output} exists and is not empty; choose a new folder")
        raise GenerationError(f"{output} exists and is not a folder")
    parent = output.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=parent))
    except OSError as exc:
        raise GenerationError(f"cannot create {output}: {exc.strerror or exc}") from None
    try:
        for rel, content in sorted(files.items()):
            target = safe_target(staging, rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            if rel.endswith(".sh") or PurePosixPath(rel).parts[:1] == ("bin",):
                target.chmod(0o755)
        if output.exists():
            # An empty folder made for us (cookiecutter does this): move the contents in.
            for child in staging.iterdir():
                os.replace(child, output / child.name)
            staging.rmdir()
        else:
            os.replace(staging, output)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise GenerationError(f"cannot write {output}: {exc.strerror or exc}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def new_project_folder(output: str | None, default_name: str) -> Path:
    """The folder `sagespec new` writes: ``output`` as given, or ``./<default_name>``."""
    if output is not None and not output.strip():
        raise GenerationError("the output folder is an empty name; give a path with -o, or leave -o out")
    return _writable_folder(Path(output) if output is not None else Path(default_name))


def _writable_folder(output: Path) -> Path:
    """``output`` as an absolute path, or a clear error when a new folder cannot be made there."""
    try:
        output = output.expanduser().absolute()
    except (OSError, RuntimeError) as exc:  # a deleted working folder; an unknown ~user
        if isinstance(exc, FileNotFoundError):
            raise GenerationError(
                "the current folder no longer exists: cd to an existing folder, or give an absolute -o"
            ) from None
        raise GenerationError(f"cannot use {output} as the output folder: {exc}") from None
    try:
        if output.is_symlink() and not output.is_dir():
            raise GenerationError(f"{output} is a symbolic link to no folder; give a folder as the output")
        for ancestor in output.parents:
            if ancestor.exists() or ancestor.is_symlink():
                if not ancestor.is_dir():
                    raise GenerationError(f"cannot create {output}: {ancestor} is not a folder")
                break
    except OSError as exc:  # a name too long, a folder without permission
        raise GenerationError(
            f"cannot use {shown_name(output)} as the output folder: {exc.strerror or exc}"
        ) from None
    return output


# ------------------------------------------------------------------------------ update transactions
#
# `sagespec update` changes an existing project as one recoverable transaction:
#   1. check that every target can be replaced (nothing is written when one cannot);
#   2. stage every new file under .sagespec/txn/files/ (a crash here leaves the project untouched; the
#      next run throws the staging away);
#   3. write .sagespec/txn/journal.json atomically: from here on the update is committed;
#   4. move the staged files into place, delete what goes, the manifest last; every step can be
#      repeated, so the next run rolls an interrupted transaction forward from the journal;
#   5. remove .sagespec/txn/.

TXN_DIR = ".sagespec/txn"
JOURNAL = "journal.json"


def pending_journal(project: Path) -> Path | None:
    """The journal of a committed but unfinished update, if there is one."""
    journal = project / TXN_DIR / JOURNAL
    return journal if journal.is_file() else None


def recover(project: Path) -> bool:
    """Finish what an interrupted update left: roll a committed transaction forward, throw away a
    staging that never committed. True when a transaction was rolled forward."""
    txn = project / TXN_DIR
    journal = pending_journal(project)
    if journal is None:
        if txn.exists():
            shutil.rmtree(txn, ignore_errors=True)
        return False
    try:
        entries = json.loads(journal.read_text(encoding="utf-8"))
        moves = [(str(staged), str(rel)) for staged, rel in entries["moves"]]
        deletes = [str(rel) for rel in entries["deletes"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GenerationError(
            f"{journal}: the journal of an interrupted update is unreadable ({exc}); "
            f"compare the project with version control, then delete {txn}"
        ) from None
    _apply(project, txn, moves, deletes)
    return True


def apply_transaction(project: Path, writes: dict[str, bytes | None], last: tuple[str, ...] = ()) -> None:
    """Write ``writes`` (path -> new bytes, None = delete) into ``project`` as one transaction.
    The paths in ``last`` (the manifest) are moved in after everything else."""
    targets = {rel: safe_target(project, rel) for rel in writes}
    for rel, target in targets.items():
        _check_replaceable(rel, target, project)
    txn = project / TXN_DIR
    if txn.exists():
        shutil.rmtree(txn)
    files = txn / "files"
    files.mkdir(parents=True)
    moves: list[tuple[str, str]] = []
    ordered = sorted(writes, key=lambda rel: (rel in last, rel))
    deletes = [rel for rel in ordered if writes[rel] is None]
    try:
        for number, rel in enumerate(ordered):
            content = writes[rel]
            if content is None:
                continue
            staged = files / str(number)
            _write_synced(staged, content)
            if targets[rel].is_file():
                shutil.copymode(targets[rel], staged)
            moves.append((f"files/{number}", rel))
        journal = txn / JOURNAL
        _write_synced(txn / (JOURNAL + ".tmp"), json.dumps({"moves": moves, "deletes": deletes}).encode())
        os.replace(txn / (JOURNAL + ".tmp"), journal)  # the commit point
    except OSError as exc:
        shutil.rmtree(txn, ignore_errors=True)
        raise GenerationError(f"{project}: could not stage the update, nothing was changed: {exc}") from None
    _apply(project, txn, moves, deletes)


def _check_replaceable(rel: str, target: Path, project: Path) -> None:
    problem = None
    if target.is_dir():
        problem = "it is a folder"
    elif target.exists() and not target.stat().st_mode & stat.S_IWUSR:
        problem = "it is read-only (chmod u+w it, or move it away)"
    else:
        for parent in target.relative_to(project.resolve()).parents:
            folder = project.resolve() / parent
            if folder.exists() and not folder.is_dir():
                problem = f"{parent.as_posix()} is a file, not a folder"
                break
    if problem:
        raise GenerationError(f"{project}: cannot update {rel}: {problem}; nothing was changed")


def _write_synced(path: Path, content: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())


def _apply(project: Path, txn: Path, moves: list[tuple[str, str]], deletes: list[str]) -> None:
    """Roll the journal's moves and deletes forward; safe to repeat after an interruption."""
    try:
        for staged_name, rel in moves:
            staged = txn / staged_name
            if not staged.exists():  # moved in before an interruption
                continue
            target = safe_target(project, rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, target)
        for rel in deletes:
            target = safe_target(project, rel)
            target.unlink(missing_ok=True)
            _prune_empty_folders(target.parent, project)
    except OSError as exc:
        raise GenerationError(
            f"{project}: the update stopped half-way ({exc}); fix that and run `sagespec update` again "
            "to finish it"
        ) from None
    shutil.rmtree(txn, ignore_errors=True)


def _prune_empty_folders(folder: Path, project: Path) -> None:
    root = project.resolve()
    while folder != root and folder.is_relative_to(root) and _is_empty_dir(folder):
        folder.rmdir()
        folder = folder.parent
