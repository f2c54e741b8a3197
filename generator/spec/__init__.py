"""The spec: models, the algorithm catalog, cross-field checks and the YAML loader.

The names below are loaded on first use (PEP 562), so that a process which needs only a light part of
the spec, such as the catalog in the BlazingText stand-in's training process, does not pay for pydantic
and the YAML reader.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .loader import LoadedSpec, load_spec, load_spec_text
    from .models import SPEC_VERSION, Spec

_HOMES = {
    "LoadedSpec": "loader",
    "load_spec": "loader",
    "load_spec_text": "loader",
    "SPEC_VERSION": "models",
    "Spec": "models",
}

__all__ = ["SPEC_VERSION", "LoadedSpec", "Spec", "load_spec", "load_spec_text"]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value
