"""The spec reference in Markdown, generated from the models (docs/spec-reference.md)."""

from __future__ import annotations

import json
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import PydanticUndefined, to_jsonable_python

from .catalog import ALGORITHMS
from .models import Spec


def _type_name(annotation: Any) -> str:
    """A reader's name for a field type: 'list of str', 'one of "a", "b"', 'Facet section'."""
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Annotated:
        return _type_name(args[0])
    if origin in (Union, UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(f"`{json.dumps(a)}`" for a in args)
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"map of {_type_name(args[0])} to {_type_name(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


def _default(field) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        try:
            value = field.default_factory()
        except TypeError:
            return ""
        if isinstance(value, BaseModel):
            return "(section defaults)"
        return f"`{json.dumps(to_jsonable_python(value))}`"
    if field.default is PydanticUndefined:
        return ""
    return f"`{json.dumps(field.default)}`"


def _section(title: str, model: type[BaseModel], seen: set[type], out: list[str]) -> None:
    if model in seen:
        return
    seen.add(model)
    out += [f"### `{title}`", ""]
    if model.__doc__ and not model.__doc__.startswith(("Usage docs", "!!!")):
        out += [model.__doc__.strip().splitlines()[0], ""]
    out += ["| field | type | default | meaning |", "| --- | --- | --- | --- |"]
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, field in model.model_fields.items():
        description = (field.description or "").replace("\n", " ")
        row = f"| `{name}` | {_type_name(field.annotation)} | {_default(field)} | {description} |"
        out.append(row.replace("|", "\\|").replace("\\| ", "| ").replace(" \\|", " |"))
        for candidate in _models_in(field.annotation):
            nested.append((f"{title}.{name}", candidate))
    out.append("")
    for child_title, child in nested:
        tag = child.model_fields.get("type")
        if tag is not None and tag.is_required() and get_origin(tag.annotation) is Literal:
            child_title = f"{child_title} (type: {get_args(tag.annotation)[0]})"
        _section(child_title, child, seen, out)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models a field's type refers to (through unions, lists, dicts and Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in getattr(annotation, "__args__", ()) or ():
        found += _models_in(arg)
    return found


def spec_reference_markdown() -> str:
    out = [
        "# sagespec spec reference (spec_version 1)",
        "",
        "Generated from the pydantic models by `sagespec schema --format markdown`; do not edit by hand.",
        "",
    ]
    _section("spec", Spec, set(), out)
    out += ["## Hyperparameters per model type", ""]
    for algorithm in ALGORITHMS.values():
        out += [
            f"### `{algorithm.type}`: {algorithm.display_name}",
            "",
            "| name | allowed | default |",
            "| --- | --- | --- |",
        ]
        for hp in algorithm.hyperparameters.values():
            out.append(f"| `{hp.name}` | {hp.describe()} | `{json.dumps(hp.default)}` |")
        out += ["", "Metrics it emits: " + ", ".join(f"`{m}`" for m in algorithm.metrics), ""]
    return "\n".join(out).rstrip() + "\n"
