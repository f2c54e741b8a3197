"""From a spec file to YAML data, within bounds: a regular file of at most :data:`MAX_SPEC_BYTES`, UTF-8
text, nested at most :data:`MAX_DEPTH` levels. Every refusal is a :class:`SpecSyntaxError` that says
where (file:line:column) and why, and none of them takes long: the file is never read past the limit,
and the parser stops at the first level too deep.

What the parsed data may expand to (YAML aliases repeat what their anchor names) is bounded where it is
turned into plain data, in :mod:`.loader`.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.composer import MaxDepthExceededError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError

from ..errors import SpecSyntaxError

# The example specs are 3-5 KB. A limit far above any real spec that keeps parsing (pure-Python ruamel,
# about 1 s per MiB of comments and more for dense YAML) short.
MAX_SPEC_BYTES = 256 * 1024
# A spec nests 5 levels deep (deployment.variants.0.model.select); no real one comes near this.
MAX_DEPTH = 32


def _where(path: Path | None, line: int | None = None, column: int | None = None) -> str:
    where = str(path or "<spec>")
    if line is not None:
        where += f":{line}"
        if column is not None:
            where += f":{column}"
    return where


def read_spec_file(path: Path) -> str:
    """The text of the spec file at ``path``: a regular file (not a folder, device or pipe), at most
    :data:`MAX_SPEC_BYTES` long, UTF-8."""
    try:
        # Non-blocking, so that opening a FIFO returns at once; fstat then refuses it.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise SpecSyntaxError(f"{path}: no such spec file") from None
    except OSError as exc:
        raise SpecSyntaxError(f"{path}: cannot read spec: {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise SpecSyntaxError(
            f"{path}: not a regular file (a folder, a device or a pipe): a spec is a YAML file"
        )
    with os.fdopen(fd, "rb") as handle:
        try:
            data = handle.read(MAX_SPEC_BYTES + 1)
        except OSError as exc:
            raise SpecSyntaxError(f"{path}: cannot read spec: {exc.strerror}") from None
    if len(data) > MAX_SPEC_BYTES:
        raise SpecSyntaxError(
            f"{path}: the spec is larger than {MAX_SPEC_BYTES // 1024} KiB, the most sagespec reads"
        )
    return decode_spec(data, path)


def decode_spec(data: bytes, path: Path | None = None) -> str:
    """``data`` as UTF-8 text, or a :class:`SpecSyntaxError` at the line and column of the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        column = len(data[line_start : exc.start].decode("utf-8", errors="replace")) + 1
        raise SpecSyntaxError(
            f"{_where(path, line, column)}: not UTF-8 text (byte 0x{data[exc.start]:02x}); save it as UTF-8"
        ) from None


def _yaml() -> YAML:
    """A new parser for every document: ruamel's depth counter is not reset after an error."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    yaml.max_depth = MAX_DEPTH
    return yaml


def _line_column(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def parse_yaml(text: str, path: Path | None = None) -> Any:
    """Round-trip YAML data (which keeps positions for messages) of at most :data:`MAX_SPEC_BYTES`."""
    if len(text) > MAX_SPEC_BYTES or len(text.encode("utf-8", errors="replace")) > MAX_SPEC_BYTES:
        raise SpecSyntaxError(
            f"{_where(path)}: the spec is larger than {MAX_SPEC_BYTES // 1024} KiB, the most sagespec reads"
        )
    try:
        return _yaml().load(text)
    except MaxDepthExceededError as exc:
        mark = exc.problem_mark
        where = _where(path, mark.line + 1, mark.column + 1) if mark else _where(path)
        raise SpecSyntaxError(
            f"{where}: nested deeper than {MAX_DEPTH} levels; a spec needs a handful"
        ) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = _where(path, mark.line + 1, mark.column + 1) if mark else _where(path)
        raise SpecSyntaxError(f"{where}: not valid YAML: {exc.problem or exc}") from None
    except ReaderError as exc:
        # A control character (NUL, BEL...): ruamel gives its index in the text, not a line and column.
        line, column = _line_column(text, exc.position)
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise SpecSyntaxError(
            f"{_where(path, line, column)}: not valid YAML: control character #x{code:04x} is not allowed"
        ) from None
    except YAMLError as exc:
        raise SpecSyntaxError(f"{_where(path)}: not valid YAML: {exc}") from None
    except ValueError as exc:
        # ruamel turns digits into an int with int(), which refuses more than 4300 digits (Python's
        # guard against quadratic conversions) with a ValueError that carries no position.
        found = _LONG_NUMBER.search(text)
        if found is None:
            raise SpecSyntaxError(f"{_where(path)}: not valid YAML: {exc}") from None
        where = _where(path, *_line_column(text, found.start()))
        raise SpecSyntaxError(f"{where}: a number of thousands of digits; a spec needs a handful") from None


# A run of digits that Python's int() refuses (over 4300 digits; YAML allows _ between them).
_LONG_NUMBER = re.compile(r"[0-9][0-9_]{4299,}")
