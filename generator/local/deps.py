"""A missing third-party module, anywhere in `sagespec local ...`, as one line that says what to install.

`sagespec local` imports its heavy dependencies (pandas, smclarify, fastText, Optuna, python-liquid,
...) only where they are needed, and runs the project's step scripts in processes of their own. Either
way a missing module ends the same: a :class:`MissingDependency` (exit 2) naming the module, its
package, and the install command, instead of a ModuleNotFoundError traceback. The translation happens
at the boundaries, not at each import: :func:`reporting_missing_dependencies` around each command,
:func:`from_step_output` for a step's process, :func:`missing_dependency` where code already turns
failures into errors of its own (a run's failed step, the endpoint's model loading).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from ..errors import SagespecError

LOCAL_EXTRA = 'pip install "sagespec[local]"'

# Top-level import name -> the distribution that provides it, for what the `local` extra of
# pyproject.toml installs (keep the two in step).
LOCAL_PACKAGES = {
    "pandas": "pandas",
    "sklearn": "scikit-learn",
    "matplotlib": "matplotlib",
    "pyarrow": "pyarrow",
    "fasttext": "fasttext-wheel",
    "smclarify": "smclarify",
    "liquid": "python-liquid",
    "optuna": "optuna",
    "psutil": "psutil",
    "uvicorn": "uvicorn",
    "httptools": "httptools",
}

# Frameworks a generated project pins in its requirements-dev.txt: the fix is the project's own install,
# never a bare `pip install` (an unpinned torch is a multi-GB CUDA build; TensorFlow needs its tf-keras).
PINNED_BY_PROJECT = frozenset(
    {"torch", "tensorflow", "tf_keras", "transformers", "tokenizers", "safetensors"}
)

# Modules that are not dependencies: sagespec itself, and the project's own code. A missing one of
# these is a bug or a broken project, and keeps its traceback.
_OWN_MODULES = ("sagespec", "pipelines", "labeling")
_NOT_FOUND = re.compile(r"ModuleNotFoundError: No module named '([\w.]+)'")

P = ParamSpec("P")
R = TypeVar("R")


class MissingDependency(SagespecError):
    """A module that `sagespec local` (or the project's code it runs) imports is not installed."""

    def __init__(self, module: str, needed_by: str | None = None):
        self.module = module.split(".", 1)[0]
        package = LOCAL_PACKAGES.get(self.module)
        if package is not None:
            how = f"{LOCAL_EXTRA} (or `make install` in the project)"
            what = f"module {self.module!r} (package {package})"
        elif self.module in PINNED_BY_PROJECT:
            how = "`make install` in the project (its requirements-dev.txt pins the version)"
            what = f"module {self.module!r}"
        else:
            how = f"`make install` in the project (or: pip install {self.module})"
            what = f"module {self.module!r}"
        super().__init__(
            f"{needed_by or 'this command'} needs the Python {what}, which is not installed: {how}"
        )


def missing_dependency(exc: BaseException, needed_by: str | None = None) -> MissingDependency | None:
    """The MissingDependency that ``exc`` stands for: a ModuleNotFoundError about a third-party module."""
    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return None
    top = exc.name.split(".", 1)[0]
    if top in _OWN_MODULES or top.startswith("_sagespec"):
        return None
    return MissingDependency(top, needed_by)


def from_step_output(output: str, step: str) -> MissingDependency | None:
    """The MissingDependency a failed step process ended with, or None: its output's last line is the
    last line of a ModuleNotFoundError traceback (what Python prints for an uncaught one)."""
    lines = output.rstrip().splitlines()
    found = _NOT_FOUND.fullmatch(lines[-1].strip()) if lines else None
    if found is None or found.group(1).split(".", 1)[0] in _OWN_MODULES:
        return None
    return MissingDependency(found.group(1), step)


def reporting_missing_dependencies(command: Callable[P, R], name: str) -> Callable[P, R]:
    """Wrap the function of the command ``name``: a third-party ModuleNotFoundError becomes a
    MissingDependency."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except ModuleNotFoundError as exc:
            missing = missing_dependency(exc, needed_by=name)
            if missing is None:
                raise
            raise missing from None

    return run
