"""The one error hierarchy of sagespec.

Everything sagespec raises on purpose derives from :class:`SagespecError`. The CLI turns these into a
clean message and an exit code; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Issue:
    """One problem found in a spec, located as precisely as the YAML allows."""

    path: str  # dotted field path, e.g. "model.hyperparameters.epochs"
    message: str
    file: Path | None = None
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based
    severity: str = "error"  # "error" or "warning"

    def format(self) -> str:
        where = str(self.file) if self.file else "<spec>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        field = self.path or "<root>"
        return f"{where}: {self.severity}: {field}: {self.message}"


def shown_name(name: object, limit: int = 80) -> str:
    """A file or folder name (or a value) for a message, cut to ``limit`` characters: a name too long for
    the file system, the very thing an error may be about, is not repeated whole."""
    text = str(name)
    return text if len(text) <= limit else text[:limit] + "..."


class SagespecError(Exception):
    """Base of every error sagespec reports to a user. ``exit_code`` is what the CLI exits with."""

    exit_code = 2

    def render(self) -> str:
        return f"error: {self}"


class SpecError(SagespecError):
    """A spec failed validation. Carries every problem found, not just the first."""

    def __init__(self, issues: list[Issue], file: Path | None = None):
        self.issues = [i for i in issues if i.severity == "error"]
        self.warnings = [i for i in issues if i.severity != "error"]
        self.file = file
        count = len(self.issues)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in {file or 'the spec'}")

    def render(self) -> str:
        lines = [f"error: {self}"]
        lines += [f"  {issue.format()}" for issue in self.issues + self.warnings]
        return "\n".join(lines)


class SpecSyntaxError(SagespecError):
    """The spec file is not readable YAML (or not a mapping at the top)."""


class GenerationError(SagespecError):
    """Rendering could not produce the project (target not empty, unsafe path, template bug)."""


class UnsafePathError(GenerationError):
    """A generated path would land outside the output folder."""


class UpdateConflict(SagespecError):
    """A regeneration merged with conflicts; the files hold conflict markers."""

    exit_code = 1


class DriftError(SagespecError):
    """The generated files are out of date with spec.yaml."""

    exit_code = 1


class LocalRunError(SagespecError):
    """A step of a local pipeline run failed (bad data, failed check, failed condition)."""

    exit_code = 1


class DataError(LocalRunError):
    """The dataset does not fit the spec: a missing file or column, an unmapped label, an empty split."""

    exit_code = 2


class PublishError(SagespecError):
    """Publishing a SageMaker Studio project template to AWS failed (AWS said no, or the input is wrong)."""


class InvalidRequestError(SagespecError):
    """An AWS request does not fit the service's request shape in botocore's model; it was not sent."""


class LabelingError(SagespecError):
    """Local labeling cannot start or go on: labeling is off, no local run or model, a bad answer."""


class NotAProjectError(SagespecError):
    """A command that works on a generated project was given a folder that is not one (no spec.yaml)."""


class ServeError(SagespecError):
    """The local endpoint cannot start: no model registered, no handler, a bad weight."""
