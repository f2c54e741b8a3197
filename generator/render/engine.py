"""The Jinja2 environment: strict, no autoescape, and filters that print spec values as data.

Spec strings reach templates only as variables, never as template source, so ``{{ }}`` inside a column
name or a description comes out literally. The filters quote values for the file they land in.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
from pathlib import Path
from typing import Any

import jinja2
from ruamel.yaml import YAML

from ..errors import GenerationError


def py_literal(value: Any) -> str:
    """A Python literal for plain data (str, numbers, bools, None, lists, tuples, dicts)."""
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    if isinstance(value, dict):
        return "{" + ", ".join(f"{py_literal(k)}: {py_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(py_literal(v) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(py_literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, str):
        return repr(value)  # the rendered file then goes through ruff format (render/pyformat.py)
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    raise GenerationError(f"cannot print {type(value).__name__} as a Python literal")


def yaml_scalar(value: Any) -> str:
    """A YAML scalar: JSON is a subset of YAML, so a JSON string is always a safe quoted scalar."""
    return json.dumps(value, ensure_ascii=False)


def yaml_block(value: Any, indent: int = 0) -> str:
    """A mapping or list as block-style YAML, its lines after the first indented by ``indent`` spaces.

    Placed after ``key:`` on a line of its own at that indentation. Strings are quoted where YAML needs it.
    """
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False
    yaml.indent(mapping=2, sequence=4, offset=2)
    stream = io.StringIO()
    yaml.dump(value, stream)
    lines = stream.getvalue().rstrip("\n").splitlines()
    return "\n".join([lines[0], *(" " * indent + line for line in lines[1:])])


_MARKDOWN_INLINE = re.compile(r"([\\`*_\[\]<>|&~])")
_MARKDOWN_LINE_START = re.compile(r"^(#|>|[-+=]|\d+[.)])")


def markdown_text(value: Any) -> str:
    """Text that Markdown shows as it is: inline markup (emphasis, code, links, HTML, entities, table
    pipes) backslash-escaped, and no line able to open a heading, quote, list or code block."""
    lines = []
    for line in str(value).splitlines() or [""]:
        line = _MARKDOWN_INLINE.sub(r"\\\1", line.strip())
        lines.append(_MARKDOWN_LINE_START.sub(lambda m: m.group(1)[:-1] + "\\" + m.group(1)[-1], line))
    return "\n".join(lines)


def markdown_code(value: Any, table: bool = False) -> str:
    """A Markdown code span showing ``value`` literally: fenced by more backticks than it holds in a row,
    on one line; in a table cell, its pipes escaped (GitHub ends the cell at a bare one)."""
    text = " ".join(str(value).splitlines())
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text[:1] in ("`", " ") or text[-1:] in ("`", " ") else ""
    if table:
        text = text.replace("|", "\\|")
    return f"{fence}{pad}{text}{pad}{fence}"


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates cached per user (keyed by template source), so `sagespec new` stays fast."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    directory = os.path.join(root, "sagespec", "jinja")
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError:
        return None  # a read-only home: compile every time
    return jinja2.FileSystemBytecodeCache(directory)


def make_environment(template_root: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_root)),
        bytecode_cache=_bytecode_cache(),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["py"] = py_literal
    env.filters["yaml"] = yaml_scalar
    env.filters["yaml_block"] = yaml_block
    env.filters["json"] = lambda v, indent=None: json.dumps(v, ensure_ascii=False, indent=indent)
    env.filters["shquote"] = lambda v: shlex.quote(str(v))
    env.filters["md"] = markdown_text
    env.filters["mdcode"] = markdown_code
    return env
