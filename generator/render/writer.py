"""Put a rendered tree on disk atomically, and never outside the output folder."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath

from ..errors import GenerationError, UnsafePathError


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
    output = output.expanduser().absolute()
    if output.exists() and not (allow_existing_empty and _is_empty_dir(output)):
        if output.is_dir():
            raise GenerationError(f"{output} exists and is not empty; choose a new folder")
        raise GenerationError(f"{output} exists and is not a folder")
    parent = output.parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=parent))
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
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
