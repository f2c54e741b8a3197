"""What a cross-field check reports, and the stand-in for a section that failed validation."""

from __future__ import annotations

Finding = tuple[str, str, str]  # (dotted path, message, "error" | "warning")


class SectionUnavailable(Exception):  # noqa: N818 - control flow, never shown to a user
    """A check read a top-level section that failed structural validation."""


class BrokenSection:
    """Stands in for a top-level section that failed validation: reading any attribute stops the check.

    The exception is deliberately not an AttributeError, so ``hasattr``/``getattr(..., default)`` in a
    check cannot swallow it and carry on with a default.
    """

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> object:
        raise SectionUnavailable(self._name)

    def __repr__(self) -> str:
        return f"BrokenSection({self._name!r})"


def error(path: str, message: str) -> Finding:
    return (path, message, "error")


def warning(path: str, message: str) -> Finding:
    return (path, message, "warning")
