"""Import a generated project's Python files by path, without installing the project or its package."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def import_file(path: Path, name: str, *, keep: bool = False, package: bool = False) -> ModuleType:
    """Run ``path`` as the module ``name`` and return it.

    The module is in ``sys.modules`` while it runs, because dataclasses look their module up there; it
    stays there afterwards only with ``keep`` (or when ``package``: a package's submodules import through
    it). ``package``: ``path`` is a package's ``__init__.py``, whose folder holds its submodules. A file
    that fails to import leaves nothing behind in ``sys.modules``.
    """
    locations = [str(path.parent)] if package else None
    spec = importlib.util.spec_from_file_location(name, path, submodule_search_locations=locations)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    if not (keep or package):
        sys.modules.pop(name, None)
    return module
