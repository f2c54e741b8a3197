"""The generated project's labeling code, imported from its files.

sagespec does not carry a copy of the worker task template, the Liquid setup, the task input or the
answer-to-row code: it imports the project's own ``labeling`` package, so the local page and the AWS
path cannot drift apart. The package is imported under a private name (several projects may be loaded
in one process, as in tests), with the project root on ``sys.path`` for its ``pipelines`` imports.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from ..errors import LabelingError
from ..local.deps import missing_dependency
from ..project_modules import import_file
from ..spec import load_spec
from ..spec.models import Spec
from ..spec.project_file import project_spec_path

MODULES = ("settings", "task_template", "review_predictions", "retraining_data")


@dataclass(frozen=True)
class LabelingProject:
    root: Path
    spec: Spec
    settings: ModuleType
    task_template: ModuleType
    review_predictions: ModuleType
    retraining_data: ModuleType

    @property
    def template_file(self) -> Path:
        return Path(self.settings.TASK_TEMPLATE)


@contextlib.contextmanager
def project_on_path(root: Path) -> Iterator[None]:
    """Put ``root`` first on sys.path, and forget a ``pipelines`` package imported from elsewhere."""
    root = root.resolve()
    loaded = sys.modules.get("pipelines")
    if loaded is not None and not any(Path(p).resolve().parent == root for p in loaded.__path__):
        for name in [n for n in sys.modules if n == "pipelines" or n.startswith("pipelines.")]:
            del sys.modules[name]
    sys.path.insert(0, str(root))
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(root))


def _import_package(root: Path) -> str:
    folder = root / "labeling"
    alias = "_sagespec_labeling_" + hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    if alias not in sys.modules:
        import_file(folder / "__init__.py", alias, package=True)
    return alias


def load_labeling_project(project_dir: Path) -> LabelingProject:
    """The project's spec and labeling modules; a LabelingError says what to do when they are missing."""
    root = Path(project_dir)
    spec_path = project_spec_path(root)
    spec = load_spec(spec_path).spec
    if not spec.labeling.enabled:
        raise LabelingError(
            f"labeling is off in {spec_path}: set labeling.enabled: true (with labels and a workforce) "
            "and run `sagespec update`"
        )
    if not (root / "labeling" / "__init__.py").is_file():
        raise LabelingError(f"{root / 'labeling'} is missing: run `sagespec update` to generate it")
    alias = _import_package(root)
    with project_on_path(root):
        try:
            modules = {name: importlib.import_module(f"{alias}.{name}") for name in MODULES}
        except ImportError as err:
            if missing := missing_dependency(err, needed_by="the project's labeling code"):
                raise missing from None
            raise LabelingError(f"cannot import the project's labeling code: {err}") from None
    return LabelingProject(root, spec, **modules)
