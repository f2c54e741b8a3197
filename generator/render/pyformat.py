"""Rendered Python goes through ruff's formatter with the generated project's own settings.

Spec values reach Python files as literals of any length and quoting: rather than lay out every literal
by hand, the rendered files are formatted the way the project's `ruff format --check` expects, so a long
column name or a quote-laden label still gives code a careful engineer would have written.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from ..errors import GenerationError

PYPROJECT = "pyproject.toml"


def _ruff() -> str:
    try:
        from ruff.__main__ import find_ruff_bin
    except ImportError:
        raise GenerationError("ruff is missing: reinstall sagespec (pip install sagespec)") from None
    return str(find_ruff_bin())


def format_python(files: dict[str, bytes], pyproject: bytes) -> dict[str, bytes]:
    """``files`` (relative path -> Python source) formatted under the ``[tool.ruff]`` of ``pyproject``."""
    if not files:
        return {}
    with tempfile.TemporaryDirectory(prefix="sagespec-format-") as tmp:
        root = Path(tmp)
        (root / PYPROJECT).write_bytes(pyproject)
        for rel, content in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(content)
        result = subprocess.run(
            [_ruff(), "format", "--no-cache", "--quiet", *files],
            cwd=root,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().replace(tmp + "/", "")
            raise GenerationError(f"a rendered Python file is not valid Python (a template bug): {detail}")
        return {rel: (root / rel).read_bytes() for rel in files}
