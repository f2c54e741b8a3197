"""The spec: models, the algorithm catalog, cross-field checks and the YAML loader."""

from .loader import LoadedSpec, load_spec, load_spec_text
from .models import SPEC_VERSION, Spec

__all__ = ["SPEC_VERSION", "LoadedSpec", "Spec", "load_spec", "load_spec_text"]
